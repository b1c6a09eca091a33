"""Incremental compute (issue 18): a compute after a load rebuilds the visits of the cases
whose events changed only (pipeline/incremental.py), and its published results equal those
of a full recompute of the same events. The logs are split into nightly batches (by event
time, and at random by rows), loaded as file drops one batch a night with a compute after
each; the last night's results are compared, table by table and row by row, with a fresh
store that loads every batch at once and computes in full."""

from __future__ import annotations

import math
import random
import re
import tomllib
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from pipeline.flow import RESULTS, compute_flow
from pipeline.ingest import ingest
from pipeline.settings import settings_from_dict
from pipeline.store import open_store
from pipeline.streams import init_stream
from tests.conftest import PROJECT, write


def stream_settings(tmp_path: Path, log: Path, name: str, **extra):
    """The settings `vsm init` detects from the whole log, reading the batch files
    tmp_path/<name>/part-*.csv (file drops) instead."""
    init_stream(name, log, streams_dir=tmp_path / "streams")
    data = tomllib.loads((tmp_path / "streams" / f"{name}.toml").read_text())
    data["source"]["path"] = str(tmp_path / name / "part-*.csv")
    for section, values in extra.items():
        data.setdefault(section, {}).update(values)
    (tmp_path / name).mkdir(exist_ok=True)
    return settings_from_dict(data)


def published(con, stream: str) -> dict[str, list[tuple]]:
    """Every result table's rows of the stream, sorted, floats rounded to 9 significant digits
    (a sum over other row orders may differ in the last bits)."""

    def cell(v):
        if isinstance(v, float) and math.isfinite(v) and v != 0:
            return float(f"{v:.9g}")
        return v

    out = {}
    for table in RESULTS:
        rows = con.execute(f"SELECT * FROM {table} WHERE stream = $s", {"s": stream}).fetchall()
        if table == "quality_findings":  # timezone_assumption names the load run: a load's, not the compute's
            rows = [
                tuple(re.sub(r"\(load run \d+\)", "(load run)", v) if isinstance(v, str) else v for v in r)
                for r in rows
            ]
        out[table] = sorted((tuple(cell(v) for v in r) for r in rows), key=repr)
    return out


def assert_same(got: dict, want: dict) -> None:
    for table in RESULTS:
        if got[table] != want[table]:
            missing = list((Counter(want[table]) - Counter(got[table])).elements())[:3]
            extra = list((Counter(got[table]) - Counter(want[table])).elements())[:3]
            raise AssertionError(f"{table}: missing {missing}, extra {extra}")


def last_message(con, stream: str) -> str:
    return con.execute(
        "SELECT message FROM runs WHERE stream = $s AND kind = 'compute' ORDER BY run_id DESC LIMIT 1",
        {"s": stream},
    ).fetchall()[0][0]


def nightly(tmp_path: Path, settings, frames: list[pl.DataFrame]) -> tuple[object, list[str]]:
    """Load the batches night by night, computing after each; the store and each compute's message."""
    con = open_store(tmp_path / f"{settings.name}-nightly.duckdb")
    messages = []
    for night, frame in enumerate(frames):
        frame.write_csv(tmp_path / settings.name / f"part-{night:02d}.csv")
        ingest(con, settings)
        compute_flow(con, settings)
        messages.append(last_message(con, settings.name))
    return con, messages


def full_of(tmp_path: Path, settings) -> dict:
    """A fresh store: every batch file loaded at once, then a full compute."""
    con = open_store(tmp_path / f"{settings.name}-full.duckdb")
    ingest(con, settings)
    compute_flow(con, settings, full=True)
    results = published(con, settings.name)
    con.close()
    return results


def split_by_time(log: pl.DataFrame, ts: pl.Expr, nights: int) -> list[pl.DataFrame]:
    """Night k: the events whose time is in the k-th of `nights` equal stretches of the log's span."""
    t = log.with_columns(_t=ts.dt.epoch("s"))
    lo, hi = t["_t"].min(), t["_t"].max()
    night = ((pl.col("_t") - lo) * nights // (hi - lo + 1)).alias("_n")
    t = t.with_columns(night)
    return [t.filter(pl.col("_n") == k).drop("_t", "_n") for k in range(nights)]


def split_at_random(log: pl.DataFrame, nights: int, seed: int) -> list[pl.DataFrame]:
    """Each row to a night drawn at random (seeded): a case's events come on several nights,
    late ones after it closed, and an event may come before an earlier one of its case."""
    rng = random.Random(seed)
    t = log.with_columns(_n=pl.Series([rng.randrange(nights) for _ in range(log.height)]))
    return [t.filter(pl.col("_n") == k).drop("_n") for k in range(nights)]


CLAIMS = PROJECT / "sample_logs" / "claims.csv"
INCIDENTS = PROJECT / "sample_logs" / "incidents.csv"


def claims_log() -> pl.DataFrame:
    return pl.read_csv(CLAIMS, infer_schema=False)


def incidents_log() -> pl.DataFrame:
    return pl.read_csv(INCIDENTS, infer_schema=False)


CLAIMS_TS = pl.col("timestamp").str.to_datetime("%Y-%m-%dT%H:%M:%S%z")
INCIDENTS_TS = pl.col("sys_updated_on").str.to_datetime("%d/%m/%Y %H:%M:%S")


@pytest.mark.parametrize(
    "log, ts, name", [(claims_log, CLAIMS_TS, "claims"), (incidents_log, INCIDENTS_TS, "incidents")]
)
def test_nightly_batches_by_time_equal_a_full_recompute(tmp_path, log, ts, name):
    settings = stream_settings(tmp_path, CLAIMS if name == "claims" else INCIDENTS, name)
    con, messages = nightly(tmp_path, settings, split_by_time(log(), ts, 4))
    # night 1 has no stored state: full; every later night is incremental (same activities
    # and settings: the sample logs show every activity on their first days)
    assert messages[0].startswith("full recompute (no stored state")
    assert all(m.startswith("incremental: ") for m in messages[1:]), messages
    assert_same(published(con, name), full_of(tmp_path, settings))


@pytest.mark.parametrize("log, name, seed", [(claims_log, "claims", 7), (incidents_log, "incidents", 11)])
def test_nightly_batches_at_random_equal_a_full_recompute(tmp_path, log, name, seed):
    settings = stream_settings(tmp_path, CLAIMS if name == "claims" else INCIDENTS, name)
    con, messages = nightly(tmp_path, settings, split_at_random(log(), 3, seed))
    assert all(m.startswith("incremental: ") for m in messages[1:]), messages
    assert_same(published(con, name), full_of(tmp_path, settings))


# A status log with teams (step_by auto -> team steps): t1 closes on night 1, t2 stays open;
# night 2 brings a late event for closed t1, a new case t3, and t2's next status.
TEAMS_1 = """case,status,time,who,team
t1,New,2026-03-02T09:00:00Z,ann,L1
t1,In Progress,2026-03-02T10:00:00Z,ann,L1
t1,In Progress,2026-03-02T12:00:00Z,bob,L2
t1,Resolved,2026-03-02T15:00:00Z,bob,L2
t2,New,2026-03-02T09:30:00Z,cat,L1
t2,In Progress,2026-03-02T11:00:00Z,cat,L1
"""
TEAMS_2 = """case,status,time,who,team
t1,In Progress,2026-03-03T08:00:00Z,dan,L2
t3,New,2026-03-03T09:00:00Z,ann,L1
t2,In Progress,2026-03-03T10:00:00Z,bob,L2
"""
TEAMS_3 = """case,status,time,who,team
t3,In Progress,2026-03-04T09:00:00Z,ann,L1
t2,Resolved,2026-03-04T12:00:00Z,bob,L2
t3,Resolved,2026-03-04T13:00:00Z,ann,L1
"""


def test_a_status_log_with_teams_and_late_events(tmp_path):
    log = write(tmp_path / "teams.csv", TEAMS_1 + TEAMS_2.split("\n", 1)[1] + TEAMS_3.split("\n", 1)[1])
    settings = stream_settings(tmp_path, log, "teams")
    con, messages = nightly(
        tmp_path,
        settings,
        [
            pl.read_csv(write(tmp_path / f"b{i}.csv", t).open("rb"), infer_schema=False)
            for i, t in enumerate((TEAMS_1, TEAMS_2, TEAMS_3))
        ],
    )
    # night 2: t1 (late event), t2 (new status) and t3 (new): 3 of 3 cases; night 3: t2, t3
    assert messages[1].startswith("incremental: 3 of 3 cases recomputed"), messages
    assert messages[2].startswith("incremental: 2 of 3 cases recomputed"), messages
    assert_same(published(con, "teams"), full_of(tmp_path, settings))


def test_a_replaced_event_recomputes_its_case(tmp_path):
    """A newer export's version of an event (event key: case, activity, timestamp,
    lifecycle) replaces the stored one: its case's fingerprint changes, it is recomputed."""
    settings = stream_settings(tmp_path, CLAIMS, "claims")
    log = claims_log()
    first = log.filter(pl.col("case_id") <= "CLM-00040")
    # night 2: the same rows, the resource of CLM-00007's events changed to "zed"
    second = first.with_columns(
        resource=pl.when(pl.col("case_id") == "CLM-00007").then(pl.lit("zed")).otherwise("resource")
    )
    con, messages = nightly(tmp_path, settings, [first, second])
    assert messages[1].startswith("incremental: 1 of 40 cases recomputed"), messages
    assert (
        con.execute(
            "SELECT count(*) FROM visits WHERE stream = 'claims' AND case_id = 'CLM-00007' "
            "AND resource = 'zed'"
        ).fetchall()[0][0]
        > 0
    )
    # the fresh store reads night 1's file then night 2's: the same replacement
    assert_same(published(con, "claims"), full_of(tmp_path, settings))


def test_fallbacks_to_a_full_recompute(tmp_path):
    settings = stream_settings(tmp_path, CLAIMS, "claims")
    log = claims_log()
    con, _ = nightly(tmp_path, settings, [log.filter(pl.col("case_id") <= "CLM-00040")])
    before = published(con, "claims")
    # nothing new: incremental, no case recomputed, the same results
    flow = compute_flow(con, settings)
    assert (flow.full, flow.recomputed_cases) == (False, 0)
    assert last_message(con, "claims").startswith(
        "incremental: no case changed and as of unchanged since the last compute: its results are current"
    )
    assert published(con, "claims") == before
    # --full
    flow = compute_flow(con, settings, full=True)
    assert (flow.full, flow.recomputed_cases) == (True, 40)
    assert last_message(con, "claims").startswith("full recompute (--full)")
    # a settings change: [flow] stale_after
    changed = settings_from_dict(
        tomllib.loads((tmp_path / "streams" / "claims.toml").read_text())
        | {"source": {"path": str(tmp_path / "claims" / "part-*.csv")}, "flow": {"stale_after": "30d"}}
    )
    compute_flow(con, changed)
    assert last_message(con, "claims").startswith("full recompute (the stream's settings changed)")
    # a new activity
    extra = (
        "case_id,activity,lifecycle,timestamp,resource,team\n"
        "CLM-00001,Audit,complete,2026-03-20T10:00:00Z,al,QA\n"
    )
    write(tmp_path / "claims" / "part-99.csv", extra)
    ingest(con, changed)
    compute_flow(con, changed)
    assert last_message(con, "claims").startswith("full recompute (the set of activities changed)")


def test_the_cli_full_option(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from pipeline.cli import app

    log = write(tmp_path / "small.csv", TEAMS_1)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    first = runner.invoke(app, ["discover", str(log), "--stream", "s", "--no-png"])
    assert first.exit_code == 0, first.output
    assert "computed in full (no stored state of an earlier compute)" in first.output
    again = runner.invoke(app, ["compute", "s", "--no-png"])
    assert "computed incrementally: 0 of 2 cases recomputed" in again.output, again.output
    full = runner.invoke(app, ["compute", "s", "--full", "--no-png"])
    assert full.exit_code == 0 and "computed in full (--full)" in full.output, full.output
    nightly = runner.invoke(app, ["run", "--full", "--no-png", "--log-format", "json"])
    assert nightly.exit_code == 0, nightly.output
    con = open_store(tmp_path / "vsm.duckdb", read_only=True)
    assert last_message(con, "s").startswith("full recompute (--full)")
    con.close()
    refused = runner.invoke(app, ["ingest", "s", "--full", "--no-compute"])
    assert refused.exit_code == 2
    assert "--full recomputes the flow, which --no-compute skips" in refused.output


def test_a_load_whose_compute_never_ran_is_caught_up(tmp_path):
    """Night 2's load commits but its compute never runs (killed): night 3's compute finds
    night 2's cases changed too, by their fingerprints, not by the runs table."""
    log = write(tmp_path / "teams.csv", TEAMS_1 + TEAMS_2.split("\n", 1)[1] + TEAMS_3.split("\n", 1)[1])
    settings = stream_settings(tmp_path, log, "teams")
    con = open_store(tmp_path / "teams-nightly.duckdb")
    for night, text in enumerate((TEAMS_1, TEAMS_2, TEAMS_3)):
        write(tmp_path / "teams" / f"part-{night:02d}.csv", text)
        ingest(con, settings)
        if night != 1:
            compute_flow(con, settings)
    # night 3: t1 (night 2's late event), t2 and t3 (both nights): 3 of 3
    assert last_message(con, "teams").startswith("incremental: 3 of 3 cases recomputed")
    assert_same(published(con, "teams"), full_of(tmp_path, settings))


def test_visits_read_back_keep_the_step_type_of_a_full_compute(tmp_path):
    """The kept cases' visits come back from the store as text; the flow must get them in the
    type it builds visits in (the step map's ENUM for a log mapped by activity, text for a
    status log), or every model after the union sorts and groups text. The flow's relations
    stay on the connection after the compute."""

    def step_types(con) -> set[tuple[str, str]]:
        rows = con.execute("SELECT DISTINCT typeof(step), typeof(prev_step) FROM flow_visits").fetchall()
        return set(rows)

    for log, ts, name in ((claims_log, CLAIMS_TS, "claims"), (incidents_log, INCIDENTS_TS, "incidents")):
        settings = stream_settings(tmp_path, CLAIMS if name == "claims" else INCIDENTS, name)
        con, messages = nightly(tmp_path, settings, split_by_time(log(), ts, 2))
        assert messages[1].startswith("incremental: "), messages
        full = open_store(tmp_path / f"{name}-full.duckdb")
        ingest(full, settings)
        compute_flow(full, settings, full=True)
        want = step_types(full)
        assert step_types(con) == want
        assert all(t.startswith("ENUM(") for pair in want for t in pair) == (name == "claims"), want
