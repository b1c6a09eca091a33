"""The engines' case of `make bench` (issue 22): one stream's full compute on DuckDB and on
Spark (`local[*]` on this machine), per stage, at `BENCH_ENGINES_SCALE` claims events
(default 10M; bench/generate.py, Parquet).

The stream's settings are detected (`vsm init`'s init_stream) and its events loaded once
into a store; then, in this process:

- duckdb: `compute_flow(full=True)` on the store (the runner's per-model timings:
  FlowResult.timings, pipeline/models.py Timing);
- spark: the session started (`BENCH_ENGINES_MASTER`, default local[*]; driver memory
  `BENCH_ENGINES_DRIVER_MEMORY`, default 4g), the store's inputs staged (the events
  exported to Parquet and read back: pipeline/engine_spark.py spark_compute), then the same
  compute through the Spark engine, its results published into the store and written as
  Parquet (`--out`), as `vsm compute --engine spark --out DIR` does.

Prints one row per model (seconds on each engine, slowest on DuckDB first), then one line
per engine: its total, and for Spark the session start and the staging apart; last
`spark/duckdb compute time at <scale> events: X` (or why Spark did not run: no Java or
pyspark, or a model it refused, pipeline/portable.py, named). Stages outside the models
(the Python steps between them, discovery, publishing) are the total less the models'
sum: `other`. JSON to `$VSM_BENCH_OUT` (a folder, or a .json file; default bench/results/),
`engines-<time>.json`.

    python bench/engines.py                        # 10M events
    BENCH_ENGINES_SCALE=1M python bench/engines.py
    BENCH_ENGINES=duckdb python bench/engines.py   # DuckDB only (the Spark half says so)
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import generate  # noqa: E402

from pipeline.engine_spark import (  # noqa: E402
    SparkModelError,
    SparkSettings,
    spark_available,
    spark_compute,
    start_session,
)
from pipeline.flow import compute_flow  # noqa: E402
from pipeline.ingest import ingest  # noqa: E402
from pipeline.portable import NotPortableError  # noqa: E402
from pipeline.settings import load_settings  # noqa: E402
from pipeline.store import open_store  # noqa: E402
from pipeline.streams import init_stream  # noqa: E402


def say(message: str) -> None:
    print(f"[bench engines] {message}", file=sys.stderr, flush=True)


def run_duckdb(con, settings) -> dict:
    started = time.perf_counter()
    result = compute_flow(con, settings, full=True)
    total = time.perf_counter() - started
    return _figures(result, total) | {"engine": "duckdb"}


def run_spark(con, settings, work: Path, master: str, driver_memory: str) -> dict:
    why = spark_available()
    if why:
        return {"engine": "spark", "skipped": why}
    started = time.perf_counter()
    session = start_session(
        SparkSettings(master=master, conf=(("spark.driver.memory", driver_memory),)), app_name="vsm-bench"
    )
    session.range(1).count()  # the first job: the JVM's warm-up counts as the session's start
    session_s = time.perf_counter() - started
    figures: dict = {"engine": "spark", "master": master, "session_start_s": session_s}
    settings.engine.name = "spark"
    try:
        started = time.perf_counter()
        with spark_compute(con, settings, work / "parquet", session=session.newSession()) as engine:
            figures["staging_s"] = time.perf_counter() - started
            started = time.perf_counter()
            result = compute_flow(con, settings, full=True, engine=engine)
            figures |= _figures(result, time.perf_counter() - started)
    except (NotPortableError, SparkModelError) as e:  # a model it refused, or Spark failed, named
        figures["stopped"] = str(e)
    finally:
        session.stop()
    return figures


def _figures(result, total: float) -> dict:
    models = {t.model: t.seconds for t in result.timings}
    return {
        "total_s": total,
        "models_s": models,
        "other_s": total - sum(models.values()),
        "cases": result.cases,
        "visits": result.visits,
    }


def main() -> int:
    events = generate.parse_scale(os.environ.get("BENCH_ENGINES_SCALE", "10M"))
    master = os.environ.get("BENCH_ENGINES_MASTER", "local[*]")
    driver_memory = os.environ.get("BENCH_ENGINES_DRIVER_MEMORY", "4g")
    engines = [e.strip() for e in os.environ.get("BENCH_ENGINES", "duckdb,spark").split(",") if e.strip()]
    if not engines or set(engines) - {"duckdb", "spark"} or "duckdb" not in engines:
        print(
            f"BENCH_ENGINES={os.environ.get('BENCH_ENGINES')!r}: expected duckdb or duckdb,spark",
            file=sys.stderr,
        )
        return 2
    label = generate.scale_label(events)
    log = generate.ensure("claims", events, csv=False, say=say)
    with tempfile.TemporaryDirectory(prefix="vsm-bench-engines-") as work:
        work = Path(work)
        init_stream("claims", log.parquet, streams_dir=work / "streams")
        settings = load_settings("claims", work / "streams")
        con = open_store(work / "vsm.duckdb")
        say(f"loading {events:,} claims events")
        ingest(con, settings)
        say("duckdb: full compute")
        duck = run_duckdb(con, settings)
        if "spark" in engines:
            say(f"spark ({master}): session, staging, full compute")
            spark = run_spark(con, settings, work, master, driver_memory)
        else:
            spark = {"engine": "spark", "skipped": "not asked for (BENCH_ENGINES=duckdb)"}
        con.close()
    print(f"{'model':<32} {'duckdb s':>9} {'spark s':>9}")
    spark_models = spark.get("models_s", {})
    for model, seconds in sorted(duck["models_s"].items(), key=lambda kv: -kv[1]):
        other = spark_models.get(model)
        print(f"{model:<32} {seconds:>9.3f} {'' if other is None else f'{other:.3f}':>9}")
    print(f"{'other (Python steps, publish)':<32} {duck['other_s']:>9.3f} ", end="")
    print(f"{spark['other_s']:>9.3f}" if "other_s" in spark else "")
    print(f"duckdb: {duck['total_s']:.2f} s ({len(duck['models_s'])} models; {duck['cases']:,} cases)")
    if "skipped" in spark:
        last = f"spark did not run at {label} events: {spark['skipped']}"
    elif "stopped" in spark:
        print(f"spark: session start {spark['session_start_s']:.2f} s, staging {spark['staging_s']:.2f} s")
        last = f"spark stopped at {label} events: {spark['stopped']}"
    else:
        print(
            f"spark: {spark['total_s']:.2f} s ({len(spark_models)} models; {spark['cases']:,} cases); "
            f"session start {spark['session_start_s']:.2f} s, staging {spark['staging_s']:.2f} s"
        )
        last = f"spark/duckdb compute time at {label} events: {spark['total_s'] / duck['total_s']:.2f}"
    print(last)
    out = Path(os.environ.get("VSM_BENCH_OUT") or HERE / "results")
    if out.suffix != ".json":
        out.mkdir(parents=True, exist_ok=True)
        out = out / f"engines-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"scale": label, "events": events, "duckdb": duck, "spark": spark}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
