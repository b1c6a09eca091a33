"""`vsm simulate` (pipeline/simulate_model.py, scenarios.py, simulation.py, simulate.py).

Logs come from known queueing systems generated in tests/queue_logs.py (a heapq simulation
of its own, not the product's simpy one): the learned model must recover the parameters the
test chose, the current state must reproduce the log's lead times, and scenarios whose effect
is known in closed form must be predicted within 10%:

- M/M/c (Erlang C): lambda = 2.5 / h, c = 3 servers, mean service 1 h (utilisation 0.83);
  mean time in system W = C(c, a) / (c mu - lambda) + 1 / mu: 2.40 h with 3 servers, 1.21 h
  with 4.
- A loop (Jackson network): A (1 server, mean 15 min) then B (1 server, mean 20 min), B sends
  a case back to A with p = 0.4; lambda = 1 / h. Each station sees lambda / (1 - p); an
  M/M/1 station's time per visit is 1 / (mu - lambda_eff), and a case makes 1 / (1 - p) passes:
  p = 0.4 gives (1 / (4 - 5/3) + 1 / (3 - 5/3)) / 0.6 = 1.964 h; p halved to 0.2 gives
  (1 / (4 - 1.25) + 1 / (3 - 1.25)) / 0.8 = 1.169 h.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import numpy as np
import pytest

from pipeline.errors import SettingsError
from pipeline.scenarios import END, START, Scenario, parse_scenario, plan, remove_from_routing
from pipeline.simulate import simulate_stream, validate
from pipeline.simulate_model import NotSimulable, active_wip_levels, load_model, weighted_percentile
from pipeline.simulation import TimedServers, run_replications
from pipeline.store import open_store
from tests.logs import load_log
from tests.queue_logs import Station, erlang_c_lead_time_h, network_log

HOUR = 3600.0
MMC = ({"Serve": Station(3, 1.0)}, {"__start__": {"Serve": 1.0}, "Serve": {"__end__": 1.0}}, 2.5)
LOOP = (
    {"A": Station(1, 0.25), "B": Station(1, 1 / 3)},
    {"__start__": {"A": 1.0}, "A": {"B": 1.0}, "B": {"A": 0.4, "__end__": 0.6}},
    1.0,
)


def jackson_loop_h(p: float) -> float:
    lam = 1.0 / (1 - p)
    return (1 / (4 - lam) + 1 / (3 - lam)) / (1 - p)


@pytest.fixture(scope="module")
def queue_store(tmp_path_factory):
    """store(name) -> (connection, the generated log's lead times in hours): the M/M/3 log
    ('mmc', 60 days) and the loop log ('loop', 90 days), each loaded and computed once."""
    folder = tmp_path_factory.mktemp("queues")
    con = open_store(folder / "vsm.duckdb")
    done = {}

    def get(name: str):
        if name not in done:
            stations, routing, rate = {"mmc": MMC, "loop": LOOP}[name]
            text, lead = network_log(stations, routing, rate, 60 if name == "mmc" else 90)
            sub = folder / name
            sub.mkdir()
            load_log(con, sub, text, name=name)
            done[name] = lead
        return con, done[name]

    yield get
    con.close()


def mean_lead_h(reps) -> float:
    return float(np.concatenate([r.lead_times_s for r in reps]).mean() / HOUR)


# ---------------------------------------------------------------- the learned model


def test_the_model_recovers_the_queue_it_was_generated_from(queue_store):
    con, _ = queue_store("mmc")
    model = load_model(con, "mmc", "UTC")
    assert model.arrivals_flat  # Poisson arrivals of one rate: no weekday x hour pattern
    assert model.arrivals_per_day / 24 == pytest.approx(2.5, rel=0.05)
    serve = model.steps["Serve"]
    assert serve.servers == 3 and serve.resources == 3
    assert serve.process_times_s.mean() / HOUR == pytest.approx(1.0, rel=0.05)
    # empirical, not a mean: exponential service has sd = mean
    assert serve.process_times_s.std() / serve.process_times_s.mean() == pytest.approx(1.0, abs=0.08)
    assert model.routing["Arrive"] == {"Serve": 1.0} and model.routing["Serve"] == {"__end__": 1.0}
    assert model.steps["Arrive"].is_delay  # complete-only: a delay of no time


def test_the_model_recovers_the_loop_probability(queue_store):
    con, _ = queue_store("loop")
    model = load_model(con, "loop", "UTC")
    assert model.routing["B"]["A"] == pytest.approx(0.4, abs=0.03)
    assert model.routing["A"] == {"B": 1.0}
    assert {s: model.steps[s].servers for s in ("A", "B")} == {"A": 1, "B": 1}
    assert model.steps["A"].process_times_s.mean() / HOUR == pytest.approx(0.25, rel=0.06)
    assert model.steps["B"].process_times_s.mean() / HOUR == pytest.approx(1 / 3, rel=0.06)


# ---------------------------------------------------------------- validation and closed forms


def test_the_current_state_reproduces_the_logs_lead_times(queue_store, tmp_path):
    con, lead = queue_store("mmc")
    result = simulate_stream(con, "mmc", "UTC", "current", tmp_path, horizon_days=60, replications=30)
    v = result.validation
    assert v.passed and v.emd_relative < 0.15
    assert v.observed_p50_s / HOUR == pytest.approx(np.quantile(lead, 0.5), rel=0.01)  # the flow's own
    assert v.simulated_p50_s == pytest.approx(v.observed_p50_s, rel=0.10)
    assert v.simulated_p85_s == pytest.approx(v.observed_p85_s, rel=0.10)
    rows = {(r["figure"], r["step"]): r for r in result.rows.to_dicts()}
    assert rows[("throughput_per_day", "")]["p50"] == pytest.approx(2.5 * 24, rel=0.05)
    assert rows[("queue_time_mean_s", "Serve")]["p50"] == pytest.approx(
        rows[("queue_time_mean_s", "Serve")]["observed"], rel=0.25
    )
    assert all(r["p10"] <= r["p50"] <= r["p90"] for r in rows.values() if r["p50"] is not None)


def test_one_more_server_is_predicted_within_ten_percent_of_erlang_c(queue_store):
    con, _ = queue_store("mmc")
    model = load_model(con, "mmc", "UTC")
    now = mean_lead_h(run_replications(plan(model, Scenario("current")), 60, 30, 1))
    four = mean_lead_h(run_replications(plan(model, Scenario("s", capacity={"Serve": "+1"})), 60, 30, 1))
    assert now == pytest.approx(erlang_c_lead_time_h(2.5, 3, 1.0), rel=0.10)  # 2.40 h
    assert four == pytest.approx(erlang_c_lead_time_h(2.5, 4, 1.0), rel=0.10)  # 1.21 h


def test_servers_held_on_events_give_erlang_c_too(queue_store):
    """A WIP limit makes cases hold servers while they wait for a place, so its plan runs every
    station on simpy events (Servers) instead of timed servers: a limit no case reaches (1000
    at the M/M/3) leaves the mean lead time at Erlang C's 2.40 h, within 10%."""
    con, _ = queue_store("mmc")
    model = load_model(con, "mmc", "UTC")
    roomy = run_replications(plan(model, Scenario("s", wip_limit={"Serve": 1000})), 60, 30, 1)
    assert mean_lead_h(roomy) == pytest.approx(erlang_c_lead_time_h(2.5, 3, 1.0), rel=0.10)


def test_timed_servers_start_work_first_come_first_served():
    # 2 servers; work joins at 0 (5 s), 1 (2 s), 2 (1 s), 3.5 (1 s): the third waits for the
    # second's server (free at 3), the fourth for the one free first after that (at 4, not 5)
    servers = TimedServers(2)
    assert [servers.serve(now, work) for now, work in ((0, 5), (1, 2), (2, 1), (3.5, 1))] == [0, 1, 3, 4]


def test_a_loop_halved_is_predicted_within_ten_percent_of_the_jackson_network(queue_store):
    con, _ = queue_store("loop")
    model = load_model(con, "loop", "UTC")
    halved = plan(model, Scenario("s", rework={"B->A": 0.5}))
    assert halved.routing["B"]["A"] == pytest.approx(model.routing["B"]["A"] / 2)
    assert sum(halved.routing["B"].values()) == pytest.approx(1.0)
    assert mean_lead_h(run_replications(plan(model, Scenario("current")), 90, 30, 1)) == pytest.approx(
        jackson_loop_h(0.4), rel=0.10
    )
    assert mean_lead_h(run_replications(halved, 90, 30, 1)) == pytest.approx(jackson_loop_h(0.2), rel=0.10)


def test_a_model_that_misses_is_not_a_prediction_and_names_the_step(queue_store):
    """The loop model with B's process times tripled no longer matches the observed lead
    times: validation fails and names B."""
    con, _ = queue_store("loop")
    model = load_model(con, "loop", "UTC")
    wrong = run_replications(plan(model, Scenario("s", process_time={"B": 2.5})), 60, 30, 1)
    v = validate(model, wrong)
    assert not v.passed and v.emd_relative > 0.25
    assert v.wrong_step == "B" and "too long" in v.wrong_why


def test_the_same_seed_gives_the_same_figures(queue_store):
    con, _ = queue_store("loop")
    p = plan(load_model(con, "loop", "UTC"), Scenario("current"))
    a, b = run_replications(p, 20, 2, 5), run_replications(p, 20, 2, 5)
    assert [r.figure("lead_time_p50_s") for r in a] == [r.figure("lead_time_p50_s") for r in b]
    assert run_replications(p, 20, 1, 6)[0].figure("lead_time_p50_s") != a[0].figure("lead_time_p50_s")


# ---------------------------------------------------------------- every key acts


@pytest.mark.parametrize(
    "changes, figure, direction",
    [
        ({"merge_steps": [["A", "B"]]}, "queue_time_mean_s:B", -1),  # B follows A on A's server
        ({"remove_step": ["B"]}, "lead_time_mean_s", -1),
        ({"capacity": {"B": 2}}, "queue_time_mean_s:B", -1),
        ({"wip_limit": {"stream": 1}}, "lead_time_mean_s", +1),
        ({"wip_limit": {"B": 1}}, "queue_time_mean_s:A", +1),  # A holds a case until B has room
        ({"batch_size": {"A": 5}}, "lead_time_mean_s", +1),
        ({"rework": {"B->A": 0.0}}, "lead_time_mean_s", -1),
        ({"process_time": {"A": 0.5}}, "queue_time_mean_s:A", -1),
        ({"process_time": {"A": "30m"}}, "lead_time_mean_s", +1),  # 15 min -> 30 min a visit
    ],
)
def test_every_scenario_key_changes_the_figures(queue_store, changes, figure, direction):
    con, _ = queue_store("loop")
    model = load_model(con, "loop", "UTC")

    def value(reps):
        name, _, step = figure.partition(":")
        if step:
            return float(np.median([r.queue_time_mean_s[step] for r in reps if step in r.queue_time_mean_s]))
        return mean_lead_h(reps)

    base = value(run_replications(plan(model, Scenario("current")), 30, 3, 1))
    changed = value(run_replications(plan(model, parse_scenario("s", changes, "s.toml")), 30, 3, 1))
    assert (changed - base) * direction > 0.1 * base


def test_merged_steps_keep_the_server_and_pool_capacity(queue_store):
    con, _ = queue_store("loop")
    p = plan(load_model(con, "loop", "UTC"), parse_scenario("s", {"merge_steps": [["A", "B"]]}, "s.toml"))
    assert p.steps["A"].station == p.steps["B"].station and p.servers[p.steps["A"].station] == 2
    assert p.keep_server == {("A", "B"), ("B", "A")}


def test_remove_from_routing_passes_a_steps_share_on():
    # S -> X (0.5) / Y (0.5); X -> X (0.5) / Y (0.25) / E (0.25); Y -> E.
    # Without X: S -> Y 0.5 + 0.5 * 0.25/0.5 = 0.75, S -> E 0.5 * 0.25/0.5 = 0.25.
    routing = {"S": {"X": 0.5, "Y": 0.5}, "X": {"X": 0.5, "Y": 0.25, "E": 0.25}, "Y": {"E": 1.0}}
    assert remove_from_routing(routing, "X") == {"S": {"Y": 0.75, "E": 0.25}, "Y": {"E": 1.0}}


def test_active_wip_and_its_time_weighted_percentile():
    # visits [0, 10), [5, 15), [5, 6): WIP 1 on [0,5), 3 on [5,6), 2 on [6,10), 1 on [10,15)
    levels, seconds = active_wip_levels(np.array([0.0, 5.0, 5.0]), np.array([10.0, 15.0, 6.0]))
    held = {}
    for level, s in zip(levels, seconds, strict=True):
        held[level] = held.get(level, 0) + s
    assert held == {1: 10.0, 3: 1.0, 2: 4.0}
    # 10 of 15 s at 1, 14 of 15 at <= 2: p50 = 1, p90 = 2, p99 = 3
    assert [weighted_percentile(levels, seconds, q) for q in (0.5, 0.9, 0.99)] == [1, 2, 3]


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "changes, said",
    [
        ({"capacity_people": {"A": 1}}, "unknown key 'capacity_people'"),
        ({"capacity": {"Nope": "+1"}}, "[capacity] 'Nope' = '+1': no step 'Nope'"),
        ({"capacity": {"A": "twice"}}, 'expected "+N", "-N" or a whole number'),
        ({"capacity": {"A": "-1"}}, "leaves 0 servers (the model has 1): at least 1"),
        ({"capacity": {"Arrive": 2}}, "no observed process time"),
        ({"wip_limit": {"A": 0}}, "[wip_limit] 'A' = 0: expected a whole number, 1 or more"),
        ({"wip_limit": {"stream": 2.5}}, "[wip_limit] 'stream' = 2.5"),
        ({"batch_size": {"A": 0}}, "[batch_size] 'A' = 0"),
        ({"rework": {"A->Arrive": 0.5}}, "no case went from 'A' to 'Arrive'"),
        ({"rework": {"B-A": 0.5}}, '"From->To"'),
        ({"rework": {"B->A": 5}}, "it cannot become"),
        ({"rework": {"B->A": -1}}, "expected a scale, 0 or more"),
        ({"process_time": {"A": 0}}, "expected a scale above 0"),
        ({"process_time": {"A": "2 weeks"}}, "expected a scale above 0"),
        ({"merge_steps": ["A", "B"]}, "merge_steps = ['A', 'B']: expected a list of lists"),
        ({"merge_steps": [["A", "Nope"]]}, "no step 'Nope'"),
        ({"remove_step": "B"}, "remove_step = 'B': expected a list"),
        ({"capacity": 3}, "capacity = 3: expected a table"),
    ],
)
def test_a_bad_scenario_is_refused_naming_file_key_value_and_what_was_expected(queue_store, changes, said):
    con, _ = queue_store("loop")
    model = load_model(con, "loop", "UTC")
    with pytest.raises(SettingsError) as err:
        plan(model, parse_scenario("s", changes, "scenarios/loop/s.toml"))
    assert str(err.value).startswith("scenarios/loop/s.toml: ")
    assert said in str(err.value)


def test_scenario_files_missing_or_not_toml(queue_store, tmp_path):
    con, _ = queue_store("loop")
    with pytest.raises(SettingsError, match="no such scenario file"):
        simulate_stream(con, "loop", "UTC", "nope", tmp_path)
    (tmp_path / "loop").mkdir()
    (tmp_path / "loop" / "bad.toml").write_text("[capacity\n")
    with pytest.raises(SettingsError, match="bad.toml: not valid TOML"):
        simulate_stream(con, "loop", "UTC", "bad", tmp_path)
    with pytest.raises(SettingsError, match="--replications 29: expected 30 or more"):
        simulate_stream(con, "loop", "UTC", "current", tmp_path, replications=29)
    with pytest.raises(SettingsError, match="--horizon 0"):
        simulate_stream(con, "loop", "UTC", "current", tmp_path, horizon_days=0)


POINT = """case_id,activity,timestamp
c1,Submit,2026-03-02T09:00:00Z
c1,Review,2026-03-02T11:00:00Z
c2,Submit,2026-03-02T10:00:00Z
c2,Review,2026-03-02T13:00:00Z
c3,Submit,2026-03-03T09:00:00Z
c3,Review,2026-03-03T10:00:00Z
"""


def test_a_point_log_is_refused_unless_the_scenario_gives_process_times(tmp_path):
    con = open_store(tmp_path / "v.duckdb")
    load_log(con, tmp_path, POINT, name="pt", end_activities=["Review"])
    model = load_model(con, "pt", "UTC")
    assert model.log_shape == "point"
    with pytest.raises(NotSimulable, match="point log .* no process times.*missing: Review, Submit"):
        plan(model, Scenario("current"))
    given = plan(model, parse_scenario("s", {"process_time": {"Submit": "0s", "Review": "1h"}}, "s.toml"))
    reps = run_replications(given, 14, 2, 1)
    assert min(float(r.lead_times_s.min()) for r in reps if r.lead_times_s.size) >= HOUR  # Review 1 h
    con.close()


def test_workers_give_the_same_figures_as_one_process(queue_store):
    con, _ = queue_store("loop")
    p = plan(load_model(con, "loop", "UTC"), Scenario("current"))
    one = run_replications(p, 10, 3, 4)
    two = run_replications(p, 10, 3, 4, workers=2)
    assert [r.figure("lead_time_p85_s") for r in one] == [r.figure("lead_time_p85_s") for r in two]
    assert [r.queue_time_mean_s for r in one] == [r.queue_time_mean_s for r in two]


def test_a_measurement_window_is_what_the_model_learns_from_and_is_checked_against(tmp_path):
    """[flow] window = 2026-02: the model's arrivals, routing, visits and the observed lead
    times are those of February, as stream_summary's are (its p50 is the validation's)."""
    text, _ = network_log(*MMC, 60)
    con = open_store(tmp_path / "v.duckdb")
    load_log(con, tmp_path, text, name="feb", window="2026-02")
    p50, completed = con.execute(
        "SELECT lead_time_p50_s, completed_cases FROM stream_summary WHERE stream = 'feb'"
    ).fetchall()[0]
    model = load_model(con, "feb", "UTC")
    in_feb = con.execute(
        "SELECT count(*) FROM cases WHERE stream = 'feb' "
        "AND exit_ts >= '2026-02-01' AND exit_ts < '2026-03-01'"
    ).fetchall()[0][0]
    assert len(model.observed_lead_times_s) == in_feb == completed
    assert float(np.quantile(model.observed_lead_times_s, 0.5)) == pytest.approx(p50)
    assert model.arrivals_per_day / 24 == pytest.approx(2.5, rel=0.08)  # February's 28 days
    assert model.steps["Serve"].visits == in_feb  # one visit a case, ended in February
    con.close()


def test_a_scenarios_change_is_measured_from_the_models_own_current_state(queue_store, tmp_path):
    """The rows of a scenario carry the simulated current state's p50 (the same seeds) and the
    change from it: one more server at the M/M/3 halves the mean lead time (Erlang C: 2.40 h
    to 1.21 h, -50%), whatever the gap between the model and the observed log."""
    con, _ = queue_store("mmc")
    (tmp_path / "mmc").mkdir()
    (tmp_path / "mmc" / "four.toml").write_text('[capacity]\n"Serve" = "+1"\n', encoding="utf-8")
    now = simulate_stream(con, "mmc", "UTC", "current", tmp_path, horizon_days=60)
    four = simulate_stream(con, "mmc", "UTC", "four", tmp_path, horizon_days=60)
    current = {(r["figure"], r["step"]): r for r in now.rows.to_dicts()}
    rows = {(r["figure"], r["step"]): r for r in four.rows.to_dicts()}
    for key, r in rows.items():  # the baseline is the current scenario's own p50
        assert r["current_p50"] == current[key]["p50"], key
        if r["p50"] is not None and r["current_p50"]:
            assert r["change"] == pytest.approx(r["p50"] / r["current_p50"] - 1), key
    closed_form = erlang_c_lead_time_h(2.5, 4, 1.0) / erlang_c_lead_time_h(2.5, 3, 1.0) - 1
    assert rows[("lead_time_mean_s", "")]["change"] == pytest.approx(closed_form, abs=0.05)
    assert all(r["change"] == 0 for r in current.values() if r["change"] is not None)


def test_a_scenario_reuses_the_current_state_of_the_same_model(tmp_path, monkeypatch):
    """The current state is simulated once per model: a second scenario run takes its
    validation and baseline from the stored `current` rows (no replication of it runs: the
    scenario's 30 are the only ones) and gives the rows a run without reuse gives; a compute
    that leaves the model as it was keeps it; another seed, or a compute that changes the model
    (a measurement window), simulates it again."""
    import pipeline.simulate as simulate
    from pipeline.flow import compute_flow
    from pipeline.simulate import write_simulation

    text, _ = network_log(*MMC, 30)
    con = open_store(tmp_path / "vsm.duckdb")
    stream, _ = load_log(con, tmp_path, text, name="mmc")
    (tmp_path / "mmc").mkdir()
    (tmp_path / "mmc" / "four.toml").write_text('[capacity]\n"Serve" = "+1"\n', encoding="utf-8")
    runs = []
    real = simulate.run_replications
    monkeypatch.setattr(simulate, "run_replications", lambda p, *a: runs.append(p.servers) or real(p, *a))

    def four(at: str, seed: int = 1):
        runs.clear()
        result = simulate.simulate_stream(con, "mmc", "UTC", "four", tmp_path, 30, seed=seed)
        write_simulation(con, result, datetime.fromisoformat(at))
        return result

    first = four("2026-03-01T10:00:00+00:00")
    assert runs == [[1, 3], [1, 4]] and first.current_from is None  # current (3 servers), then four
    stored = con.execute(
        "SELECT DISTINCT computed_at FROM simulations WHERE stream = 'mmc' AND scenario = 'current'"
    ).fetchall()
    assert [t.isoformat() for (t,) in stored] == ["2026-03-01T10:00:00+00:00"]  # current's rows too
    recorded = con.execute(
        "SELECT model_digest, passed, emd_relative, replications, seed, computed_at "
        "FROM simulation_validations WHERE stream = 'mmc'"
    ).fetchall()
    assert recorded == [
        (
            first.digest,
            first.validation.passed,
            first.validation.emd_relative,
            30,
            1,
            datetime.fromisoformat("2026-03-01T10:00:00+00:00"),
        )
    ]
    second = four("2026-03-01T11:00:00+00:00")
    assert runs == [[1, 4]]  # only the scenario
    assert second.current_from == datetime.fromisoformat("2026-03-01T10:00:00+00:00")
    assert second.validation == first.validation
    assert second.rows.equals(first.rows)
    compute_flow(con, stream)  # nothing changed: the same model
    assert four("2026-03-01T12:00:00+00:00").current_from is not None and runs == [[1, 4]]
    assert four("2026-03-01T13:00:00+00:00", seed=2).current_from is None and len(runs) == 2
    compute_flow(con, replace(stream, window="2026-01"))  # the days after January left out
    assert four("2026-03-01T14:00:00+00:00").current_from is None and runs == [[1, 3], [1, 4]]
    assert four("2026-03-01T15:00:00+00:00").current_from is not None and runs == [[1, 4]]
    con.close()


# ---------------------------------------------------------------- routing by visit number


def test_routing_by_visit_number_from_the_moves():
    """B on a case's 1st visit: back to A 40 times, out 60; on its 2nd: 30 and 10; on its 3rd
    only 5 moves (fewer than 30: its level and later take the 2nd's). A has one level: none."""
    import polars as pl

    from pipeline.simulate_model import routing_by_visit, routing_table

    moves = pl.DataFrame(
        {
            "from_step": ["A", "B", "B", "B", "B", "B"],
            "from_visit": [1, 1, 1, 2, 2, 3],
            "to_step": ["B", "A", "__end__", "A", "__end__", "A"],
            "moves": [75, 40, 60, 30, 10, 5],
        }
    )
    assert routing_by_visit(moves) == {"B": [{"A": 0.4, "__end__": 0.6}, {"A": 0.75, "__end__": 0.25}]}
    assert routing_table(moves) == {"A": {"B": 1.0}, "B": {"A": 75 / 145, "__end__": 70 / 145}}


def test_the_routing_query_numbers_a_cases_visits_of_the_step_it_leaves(tmp_path):
    from pipeline.store import query_frame, read_sql

    text = "case_id,activity,timestamp\n" + "".join(
        f"{c},{a},2026-03-02T{9 + i:02d}:00:00Z\n"
        for c, steps in (("c1", "Start Fix Check Fix Check End"), ("c2", "Start Fix Check End"))
        for i, a in enumerate(steps.split())
    )
    con = open_store(tmp_path / "v.duckdb")
    load_log(con, tmp_path, text, name="r", end_activities=["End"])
    rows = query_frame(con, read_sql("simulate/sim_routing.sql"), {"stream": "r", "visits_cap": 5}).rows()
    assert sorted(rows) == [
        ("Check", 1, "End", 1),  # c2 on its 1st Check
        ("Check", 1, "Fix", 1),  # c1 back to Fix after its 1st Check
        ("Check", 2, "End", 1),  # c1 out after its 2nd
        ("End", 1, "__end__", 2),
        ("Fix", 1, "Check", 2),
        ("Fix", 2, "Check", 1),
        ("Start", 1, "Fix", 2),
        ("__start__", 1, "Start", 2),
    ]
    capped = query_frame(con, read_sql("simulate/sim_routing.sql"), {"stream": "r", "visits_cap": 1}).rows()
    assert ("Check", 1, "End", 2) in capped and ("Fix", 1, "Check", 3) in capped
    con.close()


def test_rework_and_removal_act_on_each_visit_numbers_routing(queue_store):
    """The loop model given routings by visit number of B (0.4 back to A on the 1st visit, 0.8
    on later ones): [rework] "B->A" = 0.5 halves both; = 2 doubles the 1st and caps the 2nd at
    1; remove_step A sends B's share of A on to where A goes (B)."""
    con, _ = queue_store("loop")
    model = load_model(con, "loop", "UTC")
    model.routing_by_visit = {"B": [{"A": 0.4, "__end__": 0.6}, {"A": 0.8, "__end__": 0.2}]}
    halved = plan(model, Scenario("s", rework={"B->A": 0.5})).routing_by_visit["B"]
    assert halved == [pytest.approx({"A": 0.2, "__end__": 0.8}), pytest.approx({"A": 0.4, "__end__": 0.6})]
    doubled = plan(model, Scenario("s", rework={"B->A": 2})).routing_by_visit["B"]
    assert doubled == [pytest.approx({"A": 0.8, "__end__": 0.2}), pytest.approx({"A": 1.0, "__end__": 0.0})]
    without_a = plan(model, Scenario("s", remove_step=["A"])).routing_by_visit["B"]
    assert without_a == [{"B": 0.4, "__end__": 0.6}, {"B": 0.8, "__end__": 0.2}]


def test_a_case_goes_on_as_its_visit_number_of_the_step_says():
    """One step X, served at once: after the 1st visit back to X, after the 2nd out. Every case
    visits X exactly twice (first order with the same shares would give 1, 2, 3, ... visits)."""
    from pipeline.scenarios import Plan, StepPlan

    x = StepPlan("X", 0, np.array([60.0]), np.array([60.0]), np.zeros(1), False, 1, None)
    both = {"X": {"X": 0.5, END: 0.5}}
    p = Plan(np.full(168, 1.0), {"X": x}, [1000], {START: {"X": 1.0}, **both}, set(), None)
    p.routing_by_visit = {"X": [{"X": 1.0}, {END: 1.0}]}
    reps = run_replications(p, 14, 1, 3)
    lead = reps[0].lead_times_s
    assert lead.size > 200 and np.allclose(lead, 120.0)
