"""Theme scores in the warehouse: which items still need scoring, and saving a batch of scores.

Every row carries the model and the theme-definition version it was computed with, so a
change of model or themes never overwrites history: the new version simply has no rows yet
(those items are "pending"), and old rows stay queryable with ``WHERE themes_version = …``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import duckdb

from silkwatch.types import ItemScore
from warehouse.bulk import json_columns, unnest_json

__all__ = ["item_ids", "item_texts", "pending_item_ids", "save_scores", "score_versions"]


def pending_item_ids(
    conn: duckdb.DuckDBPyConnection,
    *,
    model: str,
    themes_version: str,
    since: datetime | None = None,
) -> list[str]:
    """Items with no score yet under this model and theme version, oldest first."""
    rows = conn.execute(
        """
        SELECT i.item_id FROM items i
        WHERE ($since IS NULL OR i.fetched_at >= $since)
          AND NOT EXISTS (
            SELECT 1 FROM item_themes t
            WHERE t.item_id = i.item_id AND t.model = $model AND t.themes_version = $version)
        ORDER BY i.fetched_at, i.item_id
        """,
        {"since": since, "model": model, "version": themes_version},
    ).fetchall()
    return [r[0] for r in rows]


def item_ids(conn: duckdb.DuckDBPyConnection, *, since: datetime | None = None) -> list[str]:
    """Every stored item (fetched at or after ``since``), oldest first."""
    rows = conn.execute(
        """
        SELECT item_id FROM items WHERE ($since IS NULL OR fetched_at >= $since)
        ORDER BY fetched_at, item_id
        """,
        {"since": since},
    ).fetchall()
    return [r[0] for r in rows]


def item_texts(conn: duckdb.DuckDBPyConnection, ids: Sequence[str]) -> list[tuple[str, str, str]]:
    """``(item_id, title, summary)`` for ``ids``, in the order given (unknown ids skipped)."""
    if not ids:
        return []
    rows = conn.execute(
        "SELECT item_id, title, summary FROM items "
        f"WHERE item_id IN (SELECT id FROM {unnest_json('$ids', {'id': 'VARCHAR'})})",
        {"ids": json_columns({"id": list(ids)})},
    ).fetchall()
    by_id = {r[0]: (r[0], r[1] or "", r[2] or "") for r in rows}
    return [by_id[i] for i in ids if i in by_id]


_SCORE_COLUMNS = {
    "item_id": "VARCHAR",
    "theme": "VARCHAR",
    "score": "DOUBLE",
    "matched": "BOOLEAN",
    "evidence": "VARCHAR",
}


def save_scores(
    conn: duckdb.DuckDBPyConnection,
    scores: Sequence[ItemScore],
    *,
    model: str,
    themes_version: str,
    scored_at: datetime | None = None,
) -> None:
    """Write one batch of scores in one transaction (a rescore replaces the same version's row).

    One statement for the whole batch (one JSON parameter, see ``warehouse.bulk``): DuckDB's
    ``executemany`` runs one statement per row and is slow.
    """
    if not scores:
        return
    scored_at = scored_at or datetime.now(UTC)
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(
            f"""
            INSERT OR REPLACE INTO item_themes
                (item_id, theme, score, matched, model, themes_version, evidence, scored_at)
            SELECT b.item_id, b.theme, b.score, b.matched, $model, $version,
                   b.evidence::JSON, $at
            FROM {unnest_json("$rows", _SCORE_COLUMNS)} AS b
            """,
            {
                "rows": json_columns(
                    {
                        "item_id": [s.item_id for s in scores],
                        "theme": [s.theme for s in scores],
                        "score": [float(s.score) for s in scores],
                        "matched": [bool(s.matched) for s in scores],
                        "evidence": [
                            json.dumps(dict(s.evidence), ensure_ascii=False) for s in scores
                        ],
                    }
                ),
                "model": model,
                "version": themes_version,
                "at": scored_at,
            },
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def score_versions(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int, int]]:
    """``(model, themes_version, items, matches)`` for every version that has scores."""
    return [
        tuple(r)  # type: ignore[misc]
        for r in conn.execute(
            """
            SELECT model, themes_version, count(DISTINCT item_id), count(*) FILTER (WHERE matched)
            FROM item_themes GROUP BY model, themes_version ORDER BY min(scored_at)
            """
        ).fetchall()
    ]
