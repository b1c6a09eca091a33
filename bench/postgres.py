"""`make bench-postgres`: a PostgreSQL database source's load rate against the server's own floor.

Starts a throwaway cluster (tests/pg.py), fills a claims status-history table with
`BENCH_PG_ROWS` rows (default 1M: 250k claims, 4 statuses each), then times, each once:

- the floor: `COPY (<query>) TO STDOUT` of the same query by `psql`, into /dev/null: what the
  server needs to hand the rows over, and nothing else;
- `vsm ingest` of a stream whose source is that query (library call, fresh store): read
  through ADBC in batches, staged, checked and inserted into the store.

Prints rows per second for both and their ratio; with `VSM_BENCH_OUT` (a .json file) writes
them there too. Times are wall clock on this machine: a figure to compare, not a test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.pg import PASSWORD, SUPERUSER, server  # noqa: E402

QUERY = "SELECT claim_id, status, changed_at, changed_by, team FROM claim_status_history"


def fill(pg, rows: int) -> None:
    claims = max(1, rows // 4)
    pg.execute(
        "DROP TABLE IF EXISTS claim_status_history",
        "CREATE TABLE claim_status_history (id bigserial, claim_id bigint, status text, "
        "changed_at timestamp, changed_by text, team text)",
        "INSERT INTO claim_status_history (claim_id, status, changed_at, changed_by, team) "
        "SELECT c, (ARRAY['Registered','Assessed','Approved','Paid'])[s], "
        "timestamp '2025-01-01' + c * interval '37 seconds' + s * interval '5 hours', "
        "'user' || (c * 7 + s) % 400, (ARRAY['intake','assess','assess','finance'])[s] "
        f"FROM generate_series(1, {claims}) c, generate_series(1, 4) s",
        "ANALYZE claim_status_history",
    )


def copy_floor(pg) -> float:
    env = {**os.environ, "PGPASSWORD": PASSWORD}
    began = time.perf_counter()
    subprocess.run(
        [str(pg.bin / "psql"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", SUPERUSER, "-d", "postgres",
         "-q", "-c", f"COPY ({QUERY}) TO STDOUT", "-o", "/dev/null"],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - began


def vsm_load(pg, folder: Path) -> tuple[float, int]:
    from pipeline.ingest import ingest
    from pipeline.settings import settings_from_dict
    from pipeline.store import open_store

    os.environ["VSM_BENCH_PG_PASSWORD"] = PASSWORD
    settings = settings_from_dict(
        {
            "stream": {"name": "claims", "timezone": "Europe/Amsterdam"},
            "source": {
                "kind": "postgres",
                "url": pg.url,
                "auth": "env:VSM_BENCH_PG_PASSWORD",
                "query": QUERY,
                "cursor_column": "changed_at",
            },  # fmt: skip
            "columns": {"resource": "changed_by", "team": "team"},
        }
    )
    with open_store(folder / "vsm.duckdb") as con:
        began = time.perf_counter()
        result = ingest(con, settings)
        return time.perf_counter() - began, result.events_loaded


def main() -> None:
    rows = int(float(os.environ.get("BENCH_PG_ROWS", "1e6")))
    root = Path(tempfile.mkdtemp(prefix="vsm-pg-bench-"))
    pg, why = server(root)
    if pg is None:
        shutil.rmtree(root, ignore_errors=True)
        print(f"PostgreSQL source row skipped: no PostgreSQL server ({why})")
        return
    try:
        fill(pg, rows)
        floor = copy_floor(pg)
        with tempfile.TemporaryDirectory() as folder:
            seconds, loaded = vsm_load(pg, Path(folder))
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
    assert loaded == rows, f"loaded {loaded:,} of {rows:,} rows"
    figures = {
        "rows": rows,
        "copy_to_stdout_s": round(floor, 2),
        "copy_rows_per_s": round(rows / floor),
        "vsm_ingest_s": round(seconds, 2),
        "vsm_rows_per_s": round(rows / seconds),
        "floor_ratio": round(seconds / floor, 1),
    }
    print("| source | rows | seconds | rows/s |\n|---|---:|---:|---:|")
    print(f"| COPY ... TO STDOUT (floor) | {rows:,} | {floor:.2f} | {rows / floor:,.0f} |")
    print(f"| vsm ingest (postgres) | {rows:,} | {seconds:.2f} | {rows / seconds:,.0f} |")
    print(f"vsm ingest / COPY floor: {seconds / floor:.1f}x")
    out = os.environ.get("VSM_BENCH_OUT")
    if out and out.endswith(".json"):
        Path(out).write_text(json.dumps(figures, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
