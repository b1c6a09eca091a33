"""The analysts' tables answer the same queries with the same values after the speed work
of issue 23 as before it: the same logs loaded by the code of BASELINE (main before that
work, taken from git) and by this checkout, each by its own `vsm` process into its own
store, and every analysts' table of the two stores compared row for row.

Each side is one process that runs the CLI's steps in turn (pipeline.cli.main, as the
console script does), its code from PYTHONPATH: the baseline's pipeline/, sql/ and
connectors/ extracted by `git archive`, or this checkout. The two sides run at the same
time. Two groups, one test each: the sample logs (claims, with business hours; incidents,
with business hours and two service levels, both by `vsm init` and `vsm ingest`; the start
of the claims with three broken rows, for the rejects, by `vsm discover`)
and the real logs (helpdesk, with its end step set: real_steps; bpic2013_incidents: a status
log, bpic2012: lifecycle start/complete, so sessions and pauses), skipped when those are
absent.

The tables compared are read from the baseline's store: every table or view with a `stream`
column but the flow's internal state (flow_*_state) and the run-dependent bookkeeping
(BOOKKEEPING). One the new store lacks, or a column it lacks, is a difference. Rows are
compared as multisets: exactly (texts, numbers, instants, JSON text) in DuckDB first, and
only the rows left over on either side are matched again in Python with floating-point
columns equal within REL_TOLERANCE (a parallel sum's order may change its last bits) and
JSON compared as values (key order free).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from io import BytesIO
from pathlib import Path

import duckdb
import pytest

from tests.conftest import PROJECT
from tests.logs import INCIDENT_SLAS, SAMPLE_CALENDAR

BASELINE = "fd5de72"  # main before issue 23's speed work (2026-12-05)

SAMPLES = {
    "claims": PROJECT / "sample_logs" / "claims.csv",
    "incidents": PROJECT / "sample_logs" / "incidents.csv",
}
REAL = {
    "helpdesk": "helpdesk.xes.gz",
    "bpic2013_incidents": "bpic2013_incidents.xes.gz",
    "bpic2012": "bpic2012.xes.gz",
}
# claims_rejects, the start of the claims: line number (1 = header) -> (column, value): a bad
# timestamp, an empty case id, an empty activity; each row is rejected with its reason
BROKEN_ROWS = {11: ("timestamp", "not a time"), 21: ("case_id", ""), 31: ("activity", "")}
REJECTS_LOG_LINES = 400

# Tables with a stream column that are not analysts' results: what a run did and when
# (run ids, clock times), snapshots kept per run, what `vsm compare` / `vsm simulate` wrote
# (no step here runs them), the loads' file and cursor bookkeeping.
BOOKKEEPING = {
    "runs",
    "metric_history",
    "map_history",
    "schema_migrations",
    "source_files",
    "source_cursors",
    "simulations",
    "simulation_validations",
    "comparisons",
}
# (table, column) -> why it is not compared
EXCLUDED_COLUMNS = {
    ("events", "event_id"): "a number in load order; issue 23 lets it be any cheap unique number",
    ("events", "run_id"): "the run that loaded the event: run numbering",
    ("events", "version_hash"): "the loads' internal change-detection hash of attributes and sequence",
    ("rejects", "run_id"): "the run that rejected the row: run numbering",
}
# (table, column) -> (SQL condition, why): the column is compared as NULL on rows where the
# condition holds
MASKED = {
    ("quality_findings", "detail"): (
        "rule = 'future_timestamps'",
        "its text holds the clock at the run, now()",
    ),
}
REL_TOLERANCE = 1e-9
FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")
SHOWN = 5  # differing rows shown per side


def baseline_code(folder: Path) -> Path:
    """BASELINE's pipeline/, sql/ and connectors/ extracted into `folder`, or a skip saying
    why (no git, no history: a tarball or a shallow clone)."""
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed: the baseline's code cannot be taken from history")
    found = subprocess.run(
        [git, "-C", str(PROJECT), "cat-file", "-e", f"{BASELINE}^{{commit}}"], capture_output=True, text=True
    )
    if found.returncode != 0:
        pytest.skip(f"commit {BASELINE} is not in {PROJECT}'s history (no git checkout, or a shallow clone)")
    archive = subprocess.run(
        [git, "-C", str(PROJECT), "archive", "--format=tar", BASELINE, "pipeline", "sql", "connectors"],
        capture_output=True,
        check=True,
    )
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        # the "data" filter where this Python has it (3.11.4+); the archive is this repository's own
        tar.extractall(folder, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    return folder


# One process per side: the CLI's steps in turn, each as `vsm <args>` (pipeline.cli.main),
# or a settings edit between them. It first checks that `pipeline` comes from the side's code
# (an editable install must not stand in for it).
DRIVER = """
import json, sys
from pathlib import Path
import pipeline
code, steps = Path(sys.argv[1]).resolve(), json.loads(sys.argv[2])
if not Path(pipeline.__file__).resolve().is_relative_to(code):
    sys.exit(f"pipeline imported from {pipeline.__file__}, not from {code}")
from pipeline.cli import main
for step in steps:
    if "edit" in step:
        path = Path(step["edit"])
        text = path.read_text(encoding="utf-8")
        for old, new in step["replace"]:
            if old not in text:
                sys.exit(f"{path}: {old!r} not found")
            text = text.replace(old, new)
        path.write_text(text + step["append"], encoding="utf-8")
        continue
    sys.argv = ["vsm", *step["vsm"]]
    try:
        main()
    except SystemExit as done:
        if done.code:
            sys.exit(f"vsm {' '.join(step['vsm'])} exited with {done.code}")
"""


def run_side(code: Path, folder: Path, steps: list[dict]) -> subprocess.CompletedProcess:
    folder.mkdir()
    env = os.environ | {"PYTHONPATH": str(code)}
    return subprocess.run(
        [sys.executable, "-c", DRIVER, str(code), json.dumps(steps)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def both_stores(folder: Path, steps: list[dict]) -> tuple[Path, Path]:
    """The store of the baseline's code and this checkout's, after the same steps, run side by side."""
    before = baseline_code(folder / "baseline-code")
    with ThreadPoolExecutor(2) as pool:
        old = pool.submit(run_side, before, folder / "before", steps)
        new = pool.submit(run_side, PROJECT, folder / "after", steps)
        old, new = old.result(), new.result()
    assert old.returncode == 0, f"the baseline {BASELINE}'s code failed:\n{old.stdout}\n{old.stderr}"
    assert new.returncode == 0, f"this checkout's code failed:\n{new.stdout}\n{new.stderr}"
    return folder / "before" / "vsm.duckdb", folder / "after" / "vsm.duckdb"


def discover(log: Path, stream: str) -> dict:
    return {"vsm": ["discover", str(log), "--stream", stream, "--no-png", "--db", "vsm.duckdb"]}


def with_rejects(claims: Path, out: Path) -> Path:
    """The first REJECTS_LOG_LINES lines of the claims, BROKEN_ROWS broken."""
    lines = claims.read_text(encoding="utf-8").splitlines(keepends=True)[:REJECTS_LOG_LINES]
    header = lines[0].rstrip("\n").split(",")
    for number, (column, value) in BROKEN_ROWS.items():
        cells = lines[number - 1].rstrip("\n").split(",")
        cells[header.index(column)] = value
        lines[number - 1] = ",".join(cells) + "\n"
    out.write_text("".join(lines), encoding="utf-8")
    return out


def sample_steps(folder: Path) -> list[dict]:
    """claims and incidents by `vsm init`, their settings edited, `vsm ingest` (the nightly
    path: load and compute); the claims with rejects by `vsm discover`."""
    calendar = ["\n[calendar]\n", "\n[calendar]\n" + SAMPLE_CALENDAR]
    no_slas = ["\nsla = []\n", "\n"]
    return [
        {"vsm": ["init", "claims", "--source", str(SAMPLES["claims"])]},
        {"vsm": ["init", "incidents", "--source", str(SAMPLES["incidents"])]},
        {"edit": "streams/claims.toml", "replace": [calendar], "append": ""},
        {"edit": "streams/incidents.toml", "replace": [calendar, no_slas], "append": INCIDENT_SLAS},
        *(
            {"vsm": ["ingest", stream, "--no-png", "--db", "vsm.duckdb"]}
            for stream in ("claims", "incidents")
        ),
        discover(with_rejects(SAMPLES["claims"], folder / "claims_rejects.csv"), "claims_rejects"),
    ]


# --- the comparison -------------------------------------------------------------------


def analysts_tables(con, catalog: str) -> dict[str, dict[str, str]]:
    """Table -> {column: type} of every table or view with a stream column in `catalog`, but
    the flow's internal state and BOOKKEEPING."""
    rows = con.sql(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = $c AND table_schema = 'main' ORDER BY table_name, ordinal_position",
        params={"c": catalog},
    ).fetchall()
    tables: dict[str, dict[str, str]] = defaultdict(dict)
    for table, column, kind in rows:
        tables[table][column] = kind
    return {
        t: cols
        for t, cols in tables.items()
        if "stream" in cols and t not in BOOKKEEPING and not (t.startswith("flow_") and t.endswith("_state"))
    }


def _select(table: str, catalog: str, columns: list[str]) -> str:
    parts = []
    for c in columns:
        masked = MASKED.get((table, c))
        parts.append(f'CASE WHEN {masked[0]} THEN NULL ELSE "{c}" END' if masked else f'"{c}"')
    return f'SELECT {", ".join(parts)} FROM {catalog}.main."{table}"'


def _canonical(value, kind: str):
    if value is not None and kind == "JSON":
        return json.dumps(json.loads(value), sort_keys=True)
    return value


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= REL_TOLERANCE * max(abs(a), abs(b))


def _text(value) -> str:
    return value.isoformat() if isinstance(value, date) else repr(value)


def _sortable(row: tuple) -> tuple:
    return tuple((v is None, v if v is not None else 0) for v in row)


def unmatched(old: list[tuple], new: list[tuple], kinds: list[str]) -> tuple[list[tuple], list[tuple]]:
    """The rows of `old` and `new` (left over from the exact comparison) that do not pair up when
    floats may differ by REL_TOLERANCE and JSON is compared as values: rows are grouped by
    their other columns, and a group's rows paired in the order of their floats."""
    floats = [i for i, k in enumerate(kinds) if k in FLOAT_TYPES]
    others = [i for i, k in enumerate(kinds) if k not in FLOAT_TYPES]

    def groups(rows):
        found = defaultdict(list)
        for row in rows:
            key = tuple(_canonical(row[i], kinds[i]) for i in others)
            found[key].append(row)
        return found

    old_groups, new_groups = groups(old), groups(new)
    left_old, left_new = [], []
    for key in old_groups.keys() | new_groups.keys():
        a = sorted(old_groups.get(key, []), key=lambda r: _sortable(tuple(r[i] for i in floats)))
        b = sorted(new_groups.get(key, []), key=lambda r: _sortable(tuple(r[i] for i in floats)))
        for x, y in zip(a, b, strict=False):  # the longer side's rest: below
            if not all(_close(x[i], y[i]) for i in floats):
                left_old.append(x)
                left_new.append(y)
        left_old.extend(a[len(b) :])
        left_new.extend(b[len(a) :])
    return left_old, left_new


def differing_columns(old: list[tuple], new: list[tuple], columns: list[str], kinds: list[str]) -> list[str]:
    """The columns whose values (floats to 12 significant digits) differ as multisets between
    the rows left over on each side: where to look first."""
    found = []
    for i, (column, kind) in enumerate(zip(columns, kinds, strict=True)):

        def value(row, i=i, kind=kind):
            v = _canonical(row[i], kind)
            return float(f"{v:.12g}") if kind in FLOAT_TYPES and v is not None else v

        if Counter(value(r) for r in old) != Counter(value(r) for r in new):
            found.append(column)
    return found


def table_differences(con, table: str, old_cols: dict[str, str], new_cols: dict[str, str]) -> list[str]:
    """What differs in one table between the stores attached as `old` and `new` (empty: nothing)."""
    problems = []
    missing = [c for c in old_cols if c not in new_cols and (table, c) not in EXCLUDED_COLUMNS]
    if missing:
        problems.append(f"{table}: columns missing in the new store: {', '.join(missing)}")
    columns = [c for c in old_cols if c in new_cols and (table, c) not in EXCLUDED_COLUMNS]
    kinds = [old_cols[c] for c in columns]
    old_sql, new_sql = _select(table, "old", columns), _select(table, "new", columns)
    try:
        only_old = con.sql(f"{old_sql} EXCEPT ALL {new_sql}").fetchall()
        only_new = con.sql(f"{new_sql} EXCEPT ALL {old_sql}").fetchall()
    except duckdb.Error as error:
        types = {c: (old_cols[c], new_cols[c]) for c in columns if old_cols[c] != new_cols[c]}
        return [*problems, f"{table}: the rows cannot be compared ({error}); types old, new: {types}"]
    only_old, only_new = unmatched(only_old, only_new, kinds)
    if only_old or only_new:
        counts = [con.sql(f"SELECT count(*) FROM ({q})").fetchall()[0][0] for q in (old_sql, new_sql)]
        named = differing_columns(only_old, only_new, columns, kinds)
        lines = [
            f"{table}: {len(only_old)} of {counts[0]} rows only in the baseline's store, "
            f"{len(only_new)} of {counts[1]} only in the new one; "
            f"columns that differ: {', '.join(named) or '(none alone: the rows as a whole)'}"
        ]
        # a row shown by its columns that are not floats (what names it) and those that differ
        shown = [i for i, c in enumerate(columns) if c in named or kinds[i] not in FLOAT_TYPES or not named]
        for side, rows in (("baseline", only_old), ("new", only_new)):
            for row in sorted(rows, key=_sortable)[:SHOWN]:
                lines.append(f"  {side}: " + ", ".join(f"{columns[i]}={_text(row[i])}" for i in shown))
        problems.append("\n".join(lines))
    return problems


def compare_stores(old: Path, new: Path) -> tuple[list[str], dict[str, int]]:
    """Every difference between the analysts' tables of the two stores, and each table's rows
    in the baseline's store."""
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{old}' AS old (READ_ONLY)")
        con.execute(f"ATTACH '{new}' AS new (READ_ONLY)")
        old_tables, new_tables = analysts_tables(con, "old"), analysts_tables(con, "new")
        problems, rows = [], {}
        for table, old_cols in old_tables.items():
            rows[table] = con.sql(f'SELECT count(*) FROM old.main."{table}"').fetchall()[0][0]
            if table not in new_tables:
                problems.append(f"{table}: missing in the new store")
                continue
            problems += table_differences(con, table, old_cols, new_tables[table])
        return problems, rows
    finally:
        con.close()


# --- the tests ------------------------------------------------------------------------


def test_the_comparison_sees_a_changed_value_and_nothing_within_the_tolerance():
    kinds = ["VARCHAR", "DOUBLE", "JSON"]
    old = [("a", 1.0, '{"x": 1, "y": 2}'), ("b", 2.5, None), ("b", 7.0, None)]
    # last bits of a float, the other order of rows and of a JSON object's keys: equal
    same = [("b", 7.0 * (1 + 1e-12), None), ("b", 2.5, None), ("a", 1.0, '{"y": 2, "x": 1}')]
    assert unmatched(old, same, kinds) == ([], [])
    # a float off by 1e-6 relative, a text, a JSON value, a row missing: each left over
    assert unmatched(old, [old[0], ("b", 2.5 * (1 + 1e-6), None), old[2]], kinds) == (
        [old[1]],
        [("b", 2.5 * (1 + 1e-6), None)],
    )
    assert unmatched(old, [("c", 1.0, '{"x": 1, "y": 2}'), *old[1:]], kinds) == (
        [old[0]],
        [("c", 1.0, old[0][2])],
    )
    assert unmatched(old, [("a", 1.0, '{"x": 1, "y": 3}'), *old[1:]], kinds)[0] == [old[0]]
    assert unmatched(old, old[:2], kinds) == ([old[2]], [])
    # the column named is the one that differs
    assert differing_columns([old[1]], [("b", 2.6, None)], ["step", "queue_s", "attributes"], kinds) == [
        "queue_s"
    ]


def test_the_sample_logs_give_the_same_results(tmp_path):
    old, new = both_stores(tmp_path, sample_steps(tmp_path))
    problems, rows = compare_stores(old, new)
    if problems:
        pytest.fail(f"the analysts' tables differ from {BASELINE}'s (samples):\n" + "\n".join(problems))
    # nothing compared vacuously: every analysts' table has rows from the samples
    assert [t for t, n in rows.items() if n == 0] == []
    assert {"cases", "visits", "events", "rejects", "sla", "status_periods", "step_metrics"} <= set(rows)


def real_steps(real_logs: Path) -> list[dict]:
    """Each real log by `vsm discover`; helpdesk then computed again with its end step set to
    'Closed', the end the baseline infers: since session 10 this checkout infers 'Closed' to be
    an automatic close (a deliberate change of the figures, tests/test_flow_exits.py), so with
    the end inferred the two would differ by design."""
    steps = [discover(real_logs / file, stream) for stream, file in REAL.items()]
    return [
        *steps,
        {
            "edit": "streams/helpdesk.toml",
            "replace": [["\nend_activities = []\n", '\nend_activities = ["Closed"]\n']],
            "append": "",
        },
        {"vsm": ["compute", "helpdesk", "--no-png", "--db", "vsm.duckdb"]},
    ]


def test_the_real_logs_give_the_same_results(tmp_path, real_logs):
    old, new = both_stores(tmp_path, real_steps(real_logs))
    problems, _ = compare_stores(old, new)
    if problems:
        pytest.fail(f"the analysts' tables differ from {BASELINE}'s (real logs):\n" + "\n".join(problems))
