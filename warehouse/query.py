"""Ad-hoc read-only SQL for ``silkwatch sql``, and the three ways to print a result.

The connection is read-only, so a query can never change the warehouse, and it is opened
with the same busy wait as everything else, so a query during a run waits briefly and then
says a run is writing instead of failing with DuckDB's lock message.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal
from uuid import UUID

import duckdb

from silkwatch.errors import StorageError
from warehouse.db import open_db

__all__ = ["QueryResult", "fetch_result", "format_result", "jsonable", "run_query"]


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple]

    def records(self) -> list[dict[str, object]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def run_query(path: Path, sql: str, *, busy_timeout: float = 10.0) -> QueryResult:
    """Run ``sql`` on a read-only connection to ``path``.

    DuckDB's errors (syntax, unknown column, an attempted write) become a ``StorageError``
    naming the database file and carrying DuckDB's own message, which says what is wrong.
    """
    with open_db(path, read_only=True, busy_timeout=busy_timeout) as conn:
        return fetch_result(conn, sql, where=str(path))


def fetch_result(
    conn: duckdb.DuckDBPyConnection,
    sql: str,
    *,
    where: str,
    error: type[StorageError] = StorageError,
    params: object = None,
) -> QueryResult:
    """Run ``sql`` and keep every row; a DuckDB error becomes ``error`` naming ``where``."""
    try:
        cursor = conn.execute(sql, params)
        if cursor.description is None:  # a statement without a result set
            return QueryResult(columns=[], rows=[])
        columns = [d[0] for d in cursor.description]
        return QueryResult(columns=columns, rows=cursor.fetchall())
    except duckdb.Error as exc:
        raise error(where, f"query failed: {exc}") from None


def jsonable(value: object) -> object:
    """A JSON-ready version of a DuckDB value: ISO 8601 times, lists and structs kept."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(raw).decode("ascii")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    return str(value)


def _text(value: object) -> str:
    """One cell as text: empty for NULL, JSON for nested values, one line always."""
    plain = jsonable(value)
    if plain is None:
        return ""
    if isinstance(plain, list | dict):
        return json.dumps(plain, ensure_ascii=False)
    return str(plain)


def _table(columns: Sequence[str], rows: Sequence[tuple]) -> str:
    cells = [[_text(v).replace("\r", " ").replace("\n", " ") for v in row] for row in rows]
    widths = [len(c) for c in columns]
    for row in cells:
        widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(),
        "  ".join("-" * w for w in widths),
    ]
    lines += [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def _csv(columns: Sequence[str], rows: Sequence[tuple]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_text(v) for v in row] for row in rows)
    return out.getvalue().rstrip("\n")


def format_result(result: QueryResult, fmt: Literal["table", "csv", "json"]) -> str:
    """Render a result as an aligned text table, CSV with a header row, or a JSON array of
    objects (one per row, times in ISO 8601), for people, spreadsheets and scripts."""
    if fmt == "table":
        return _table(result.columns, result.rows)
    if fmt == "csv":
        return _csv(result.columns, result.rows)
    if fmt == "json":
        objects = [
            {c: jsonable(v) for c, v in zip(result.columns, row, strict=True)}
            for row in result.rows
        ]
        return json.dumps(objects, ensure_ascii=False, indent=2)
    raise ValueError(f"unknown format {fmt!r}: use table, csv or json")
