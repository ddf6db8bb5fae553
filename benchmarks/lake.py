"""Many writers, one DuckLake: what publishing costs and how it behaves under concurrency.

Each writer is a separate process with its own DuckDB file (as shards or machines run),
publishing with the real ``silkwatch lake publish`` code path to one DuckLake with a SQLite
catalog on the local disk. Measured in one run:

1. backlog: one process publishes W×N items (+3 scores each) from one file, against W
   processes publishing N each from their own files at the same time;
2. steady state: W writers each publish a cycle's worth of new items (``--cycle-items``)
   at the same moment, for several rounds: publish latency per writer, as a 15-minute
   cycle would see it;
3. reading: a digest-style query on the lake against the same query on one DuckDB file
   holding the same rows.

Rows are synthetic (titles and summaries of typical news length); what is measured is the
storage path, not the text. Results: benchmarks/results/lake.json (lake-postgres.json with
``--postgres``, which uses PostgreSQL catalogs on a server you name instead of SQLite files).

Usage: .venv/bin/python benchmarks/lake.py [--writers 4] [--items 20000] [--rounds 5]
       [--cycle-items 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

THEMES = ("smart_cities", "sco_ecommerce", "china_tech_regulation")
DIGEST_QUERY = """
SELECT theme, source, title, score FROM matches
WHERE fetched_at > TIMESTAMPTZ '2026-03-01 00:00:00+00' - INTERVAL 1 DAY
QUALIFY row_number() OVER (PARTITION BY theme ORDER BY score DESC) <= 20
"""


def seed(database: Path, prefix: str, start: int, count: int) -> None:
    """``count`` items with three scores each, as ingest and classification store them."""
    from warehouse.db import open_db

    base = datetime(2026, 3, 1, tzinfo=UTC)
    feed = f"https://{prefix}.example/feed.xml"
    with open_db(database) as conn:
        conn.execute(
            "INSERT INTO feeds (url, name, last_status, last_fetched_at) VALUES (?, ?, 'ok', ?) "
            "ON CONFLICT (url) DO UPDATE SET last_fetched_at = excluded.last_fetched_at",
            [feed, f"{prefix} desk", base + timedelta(minutes=start)],
        )
        conn.execute(
            """
            INSERT INTO items (item_id, feed_url, guid, url, title, summary, published_at,
                               fetched_at)
            SELECT $p || '-' || i, $feed, 'g' || i, 'https://' || $p || '.example/' || i,
                   'Headline ' || i || ': ' || repeat('regional digital trade news ', 3),
                   repeat('A summary sentence of ordinary news length about the story. ', 5),
                   $base + to_minutes(i::BIGINT), $base + to_minutes(i::BIGINT)
            FROM range($start, $end) r(i)
            """,
            {"p": prefix, "feed": feed, "base": base, "start": start, "end": start + count},
        )
        conn.execute(
            """
            INSERT INTO item_themes (item_id, theme, score, matched, model, themes_version,
                                     evidence, scored_at)
            SELECT $p || '-' || i, t.theme, (hash(i, t.theme) % 1000) / 1000.0,
                   (hash(i, t.theme) % 1000) >= 800, 'bench-model', 'v1',
                   '{"sentence": "x"}', $base + to_minutes(i::BIGINT)
            FROM range($start, $end) r(i), (SELECT unnest($themes) AS theme) t
            """,
            {"p": prefix, "base": base, "start": start, "end": start + count, "themes": THEMES},
        )


def catalog_for(lake_dir: Path, postgres: str | None) -> str:
    """A SQLite catalog in ``lake_dir``, or a new PostgreSQL database named after it."""
    if not postgres:
        return f"sqlite:{lake_dir}/lake.sqlite"
    name = f"silkwatch_bench_{lake_dir.parent.name}_{lake_dir.name}".replace("-", "_").lower()
    server = dict(part.split("=", 1) for part in postgres.split())
    args = ["psql", "-q", "-h", server.get("host", "127.0.0.1"), "-p", server.get("port", "5432"),
            "-U", server.get("user", "postgres"), "-d", "postgres"]  # fmt: skip
    subprocess.run([*args, "-c", f"DROP DATABASE IF EXISTS {name}"], check=True)
    subprocess.run([*args, "-c", f"CREATE DATABASE {name}"], check=True)
    return f"postgres:dbname={name} {postgres}"


def write_config(folder: Path, name: str, lake_dir: Path, catalog: str) -> Path:
    config = folder / f"{name}.toml"
    config.write_text(
        f'[storage]\ndatabase = "{name}.duckdb"\n\n[lake]\n'
        f'catalog = "{catalog}"\ndata_path = "{lake_dir}/data"\n'
        f'writer = "{name}"\n',
        encoding="utf-8",
    )
    return config


def publish_all(configs: list[Path]) -> tuple[float, list[float], list[str]]:
    """Start one `silkwatch lake publish` per config at once; wall time and each one's time."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "silkwatch", "lake", "publish", "--config", str(c)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
        )
        for c in configs
    ]
    each, outputs = [], []
    for proc in procs:
        out = proc.communicate(timeout=3600)[0].decode()
        outputs.append(out.strip())
        if proc.returncode != 0:
            raise SystemExit(f"publish failed: {out}")
        each.append(float(out.rsplit(", ", 1)[1].split(" s)")[0]))  # its own publish time
    return time.perf_counter() - started, each, outputs


def lake_rows(lake_dir: Path, catalog: str) -> dict[str, int]:
    from silkwatch.config import LakeSettings
    from warehouse.lake_admin import query_lake

    lake = LakeSettings(catalog=catalog, data_path=f"{lake_dir}/data")
    return {
        t: query_lake(lake, f"SELECT count(*), count(DISTINCT item_id) FROM {t}").rows[0]
        for t in ("items", "item_themes")
    }


def timed_query(run) -> float:
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--items", type=int, default=20_000, help="items per writer (backlog)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cycle-items", type=int, default=200)
    parser.add_argument(
        "--postgres",
        metavar="CONNINFO",
        help="use PostgreSQL catalogs on this server, e.g. 'host=127.0.0.1 port=5432 "
        "user=silkwatch' (databases silkwatch_bench_* are created); default: SQLite files",
    )
    args = parser.parse_args()
    import duckdb

    from silkwatch.config import LakeSettings

    results: dict[str, object] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "duckdb": duckdb.__version__,
        "cpus": os.cpu_count(),
        "writers": args.writers,
        "items_per_writer": args.items,
        "catalog": "postgres" if args.postgres else "sqlite",
    }
    with tempfile.TemporaryDirectory(prefix="silkwatch-lake-bench-") as tmp:
        root = Path(tmp)
        total = args.writers * args.items

        # 1a. one process, one file with every row
        single = root / "single"
        single.mkdir()
        seed(single / "all.duckdb", "all", 0, total)
        single_catalog = catalog_for(single / "lake", args.postgres)
        wall1, _, out1 = publish_all([write_config(single, "all", single / "lake", single_catalog)])
        results["one_writer"] = {
            "items": total,
            "seconds": round(wall1, 2),
            "items_per_s": round(total / wall1),
            "output": out1[0],
        }
        print(f"1 writer, {total} items: {wall1:.1f} s ({total / wall1:.0f} items/s)")

        # 1b. W processes at once, N items each
        multi = root / "multi"
        multi.mkdir()
        configs = []
        multi_catalog = catalog_for(multi / "lake", args.postgres)
        for w in range(args.writers):
            seed(multi / f"w{w}.duckdb", f"w{w}", 0, args.items)
            configs.append(write_config(multi, f"w{w}", multi / "lake", multi_catalog))
        wallw, each, _ = publish_all(configs)
        rows = lake_rows(multi / "lake", multi_catalog)
        results["many_writers"] = {
            "items": total,
            "seconds": round(wallw, 2),
            "items_per_s": round(total / wallw),
            "per_writer_seconds": each,
            "lake_rows": rows,
        }
        print(
            f"{args.writers} writers at once, {total} items: {wallw:.1f} s "
            f"({total / wallw:.0f} items/s); lake rows (all, distinct): {rows}"
        )
        ok = rows["items"] == (total, total) and rows["item_themes"][0] == total * len(THEMES)
        print(f"every row exactly once: {ok}")
        results["ratio_many_over_one_time"] = round(wallw / wall1, 2)

        # 2. steady state: each writer publishes a cycle's new items, all at the same moment;
        #    the peer is the same publish by the one writer alone
        def steady(cfgs: list[Path], folders: list[Path], names: list[str]) -> tuple:
            latencies: list[float] = []
            for r in range(args.rounds):
                start = args.items + r * args.cycle_items
                for folder, name in zip(folders, names, strict=True):
                    seed(folder / f"{name}.duckdb", name, start, args.cycle_items)
                _, each, _ = publish_all(cfgs)
                latencies.extend(each)
            return statistics.median(latencies), max(latencies)

        alone_med, alone_max = steady([configs[0]], [multi], ["w0"])
        names = [f"w{w}" for w in range(args.writers)]
        # the lone writer is now ahead by `rounds` cycles: bring the others level first
        for w in range(1, args.writers):
            for r in range(args.rounds):
                seed(
                    multi / f"w{w}.duckdb",
                    f"w{w}",
                    args.items + r * args.cycle_items,
                    args.cycle_items,
                )
        publish_all(configs[1:])
        args.items += args.rounds * args.cycle_items
        many_med, many_max = steady(configs, [multi] * args.writers, names)
        results["steady_state"] = {
            "items_per_writer_per_cycle": args.cycle_items,
            "rounds": args.rounds,
            "one_writer_publish_seconds_median": round(alone_med, 2),
            "one_writer_publish_seconds_max": round(alone_max, 2),
            "concurrent_publish_seconds_median": round(many_med, 2),
            "concurrent_publish_seconds_max": round(many_max, 2),
        }
        print(
            f"steady state, {args.cycle_items} new items per publish: one writer alone "
            f"median {alone_med:.2f} s (max {alone_max:.2f}); {args.writers} writers at "
            f"once median {many_med:.2f} s (max {many_max:.2f})"
        )
        rows = lake_rows(multi / "lake", multi_catalog)
        expect = args.writers * (args.items + args.rounds * args.cycle_items)
        ok = ok and rows["items"] == (expect, expect)
        ok = ok and rows["item_themes"][0] == expect * len(THEMES)
        results["every_row_once"] = ok
        print(f"after all rounds, lake rows (all, distinct): {rows}; every row once: {ok}")

        # 3. reading: the lake against one file with the same rows (connections open)
        from warehouse.lake import attach_lake

        lake = LakeSettings(catalog=multi_catalog, data_path=f"{multi}/lake/data")
        t0 = time.perf_counter()
        lake_conn = duckdb.connect()
        attach_lake(lake_conn, lake, alias="lake", read_only=True)
        lake_conn.execute("USE lake")
        attach_s = time.perf_counter() - t0
        lake_s = timed_query(lambda: lake_conn.execute(DIGEST_QUERY).fetchall())
        conn = duckdb.connect(str(single / "all.duckdb"), read_only=True)
        file_s = timed_query(lambda: conn.execute(DIGEST_QUERY).fetchall())
        conn.close()
        lake_conn.close()
        results["digest_query_seconds"] = {
            "lake_attach": round(attach_s, 3),
            "lake": round(lake_s, 3),
            "duckdb_file": round(file_s, 3),
        }
        print(
            f"digest query (best of 5): lake {lake_s * 1000:.0f} ms, one DuckDB file "
            f"{file_s * 1000:.0f} ms; attaching the lake {attach_s * 1000:.0f} ms"
        )
    RESULTS.mkdir(exist_ok=True)
    name = "lake-postgres.json" if args.postgres else "lake.json"
    (RESULTS / name).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"results: {RESULTS / name}")


if __name__ == "__main__":
    main()
