"""Every dashboard and alert-rule query, run as Grafana would, against a real InfluxDB filled by
the backfill (history), the simulator and the collector (a live run); the rollups equal the raw
readings and the simulator's truth, and the headline numbers equal the truth.
"""

import datetime as dt
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from collector.reroll import reroll
from collector.service import Collector
from dashboards import alert_rules
from dashboards import queries as q
from influx.config import InfluxConfig, make_client
from influx.rollups import FIVE_MIN_S, REASONS
from simulators.backfill import Backfill, BackfillConfig
from simulators.params import DEFAULT_PARK
from simulators.park import Park, build_park
from simulators.registry import write_registry
from simulators.shifts import WorkCalendar
from stack import InfluxServer, MosquittoServer
from stack.process import wait_until
from tests.support.alerting import GatewayProcess
from tests.support.collector import metric, running_collector, settings_for, unique
from tests.support.dashboards import (
    Grafana,
    dashboard_files,
    first_value,
    has_data,
    load,
    panel,
    pareto_rows,
    run,
)
from tests.support.influx import pairs_by_machine, query
from tests.support.mqtt import Recorder, recorder
from tests.support.sim import SimRun

pytestmark = pytest.mark.integration

MACHINES = 120
SEED = 7
HOUR_MS = 3_600_000
LATEST_SUMMARY = 'SELECT LAST("expected") FROM "raw"."reporting"'


class Filled:
    """The database after a backfill and a live run, with the truth of the live run."""

    def __init__(self, influx: InfluxServer, db: str) -> None:
        self.influx = influx
        self.db = db
        self.truth: dict[tuple[str, str], int] = {}
        self.run_since_ms = 0
        self.backfill_pairs = 0
        self.park: Park | None = None
        """The simulated park, with the shift calendar the collector was given."""
        self.frozen: tuple[dict[str, Any], dict[str, Any]] = ({}, {})
        """The "Machines now" panel and the simulator's last states, while it was paused."""
        self.truth_file: dict[str, Any] = {}
        """The live run's whole truth file (stop reasons included)."""
        self.published: list[tuple[str, bytes]] = []
        """Every reading of the live run, as an independent subscriber received it."""

    def sql(self, statement: str) -> list[dict[str, Any]]:
        return query(self.influx.url, self.db, statement)

    def total(self, statement: str) -> int:
        series = self.sql(statement)
        return sum(int(row[1] or 0) for s in series for row in s["values"])

    def total_float(self, statement: str) -> float:
        series = self.sql(statement)
        return sum(float(row[1] or 0) for s in series for row in s["values"])


def _roll_up(filled: Filled, since_ms: int, now_ms: int) -> None:
    config = InfluxConfig(url=filled.influx.url, database=filled.db, timeout=60)
    with make_client(config) as client:
        reroll(client, config, since_ms * 1_000_000, now_ms * 1_000_000)


@pytest.fixture(scope="module")
def filled(
    mosquitto: MosquittoServer, influx: InfluxServer, tmp_path_factory: pytest.TempPathFactory
) -> Filled:
    tmp = tmp_path_factory.mktemp("dashboards")
    db = unique("dash")
    filled = Filled(influx, db)
    summary = Backfill(
        BackfillConfig(
            influx=InfluxConfig(url=influx.url, database=db),
            days=3,
            seed=SEED,
            machines=MACHINES,
            machine_hours=30,
        )
    ).run()
    filled.backfill_pairs = summary.pairs
    filled.run_since_ms = summary.end_s * 1000
    registry = tmp / "registry.json"
    # no park holidays in the collector's calendar: alerts must fire whatever today's date
    no_holidays = replace(DEFAULT_PARK, calendar=replace(DEFAULT_PARK.calendar, holidays=()))
    filled.park = build_park(no_holidays, seed=SEED, machines=MACHINES)
    write_registry(registry, filled.park)
    settings = settings_for(
        mosquitto,
        influx,
        tmp / "state",
        influx_db=db,
        registry=registry,
        timezone="Asia/Shanghai",
        idle_after=1.0,
        # silent after 8 s without a reading: longer than the simulator is paused for; the
        # first summary comes as long after the start
        offline_after=8.0,
        summary_interval=1.0,
    )
    with (
        running_collector(settings) as collector,
        recorder(mosquitto, "hosiery/v1/+/+/counter") as rec,
    ):
        # from 17:30 on a Monday: the day-shift enterprise stops at 18:00, so every state occurs
        sim = SimRun(
            mosquitto,
            tmp,
            machines=MACHINES,
            duration=14,  # runs on for a few seconds after the pause: idle alerts again
            seed=SEED,
            faults=False,
            extra=("--sim-start", "2026-03-02T17:30:00"),
        )

        def varied() -> bool:
            states = last_states(rec)
            return len(states) == MACHINES and {"running", "off"} <= set(states.values())

        # after 18:00 in the simulator, when the day shift has gone home and the others knit,
        # and once the collector writes summaries
        wait_until(varied, 30, what="every machine's reading, some running, some off shift")
        wait_until(lambda: bool(filled.sql(LATEST_SUMMARY)), 30, what="the first summary")
        filled.frozen = machines_now_while_paused(sim, collector, rec, filled)
        truth = sim.wait()
        filled.truth = truth
        filled.truth_file = sim.truth_file()
        wait_until(
            lambda: len(rec.messages) >= filled.truth_file["readings"],
            30,
            what="every reading of the run received by the test's subscriber",
        )
        filled.published = [(topic, payload) for topic, payload, _retain in rec.messages]
        expected = {k: v for k, v in truth.items() if v}

        def stored() -> bool:
            got = pairs_by_machine(influx.url, db)
            return {k: v for k, v in got.items() if v} == expected

        wait_until(stored, 60, interval=0.5, what="raw pairs to equal the truth")
        wait_until(
            lambda: collector.capacity is not None and collector.capacity.rounds > 0,
            30,
            what="capacity written",
        )
        # the simulator's clean shutdown marks every gateway offline: seen by the collector
        wait_until(
            lambda: filled.total(q.machines_reporting("silent", "offline")) == MACHINES,
            30,
            interval=0.5,
            what="every machine counted offline after the simulator's shutdown",
        )
    return filled


def last_states(rec: Recorder) -> dict[tuple[str, str], str]:
    """The state in the last reading each machine published."""
    states = {}
    for topic, payload, _retain in list(rec.messages):
        _, _, enterprise, machine, _ = topic.split("/")
        states[(enterprise, machine)] = orjson.loads(payload)["state"]
    return states


def machines_now_while_paused(
    sim: SimRun, collector: Collector, rec: Recorder, filled: Filled
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The "Machines now" panel and what the simulator says, while the simulator is paused.

    SIGSTOP keeps its connections open and its machines' states still. Once the collector has
    written every reading the simulator published (as many as the recorder received) and a
    summary newer than that is stored, the panel must show the last state each machine
    published; a reading arriving meanwhile starts the comparison again.
    """
    written = "hosiery_collector_readings_written_total"
    frozen: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def settled() -> bool:
        received = len(rec.messages)
        if metric(collector, written) != received:
            return False
        since = int(time.time() * 1000)
        newer = f'SELECT LAST("expected") FROM {q.REPORTING} WHERE time > {since}ms'
        wait_until(lambda: bool(filled.sql(newer)), 10, what="a summary after the last reading")
        dashboard = load("json/Park/park-overview.json")
        panel = machines_now(Grafana(filled.influx.url, filled.db, dashboard, int(wait_now())))
        if len(rec.messages) != received or metric(collector, written) != received:
            return False
        states = Counter(last_states(rec).values())
        truth = {
            "A": states["running"],
            "B": states["idle"],
            "C": states["fault"] + states["maintenance"],
            "D": states["off"],
            "E": 0,
            "F": 0,
            "G": MACHINES,
        }
        frozen[:] = [(panel, truth)]
        return True

    sim.proc.send_signal(signal.SIGSTOP)
    try:
        wait_until(settled, 30, interval=0.2, what="the collector to catch up with the paused run")
    finally:
        sim.proc.send_signal(signal.SIGCONT)
    return frozen[0]


def _park_window_pairs(filled: Filled) -> int:
    return filled.total(f'SELECT SUM("pairs") FROM {q.P1H} WHERE time >= {filled.run_since_ms}ms')


def test_rollups_equal_the_raw_readings_and_the_truth(filled: Filled) -> None:
    truth_total = sum(filled.truth.values())
    assert truth_total > 0

    def rolled_up() -> bool:
        # the continuous queries' own statements, for the window of the live run
        now = int(wait_now())
        _roll_up(filled, filled.run_since_ms, now)
        return _park_window_pairs(filled) == truth_total

    wait_until(rolled_up, 60, interval=1.0, what="park_1h to hold the live run's pairs")
    since = f"time >= {filled.run_since_ms}ms"
    per_machine = filled.sql(
        f'SELECT SUM("pairs") FROM {q.M1H} WHERE {since} GROUP BY "enterprise", "machine"'
    )
    stored = {
        (s["tags"]["enterprise"], s["tags"]["machine"]): int(s["values"][0][1]) for s in per_machine
    }
    assert {k: v for k, v in stored.items() if v} == {k: v for k, v in filled.truth.items() if v}
    by_enterprise: Counter[str] = Counter()
    for (enterprise, _), pairs in filled.truth.items():
        by_enterprise[enterprise] += pairs
    series = filled.sql(f'SELECT SUM("pairs") FROM {q.E1H} WHERE {since} GROUP BY "enterprise"')
    assert {s["tags"]["enterprise"]: int(s["values"][0][1]) for s in series} == dict(by_enterprise)
    assert filled.total(f'SELECT SUM("pairs") FROM {q.P5} WHERE {since}') == truth_total
    assert filled.total(f'SELECT SUM("pairs") FROM {q.M5} WHERE {since}') == truth_total
    raw_readings = filled.total(f'SELECT COUNT("pairs") FROM {q.RAW} WHERE {since}')
    assert filled.total(f'SELECT SUM("readings") FROM {q.P5} WHERE {since}') == raw_readings
    states = filled.sql(
        f'SELECT SUM("running") + SUM("idle") + SUM("fault") + SUM("maintenance") + SUM("off") '
        f"FROM {q.M1H} WHERE {since}"
    )
    assert int(states[0]["values"][0][1]) == raw_readings
    # running time: a float per machine-hour, summed unchanged at the enterprise and park levels
    running_s = {
        level: filled.total_float(f'SELECT SUM("running_s") FROM {level} WHERE {since}')
        for level in (q.M1H, q.E1H, q.P1H)
    }
    assert running_s[q.M1H] > 0
    assert running_s[q.E1H] == pytest.approx(running_s[q.M1H])
    assert running_s[q.P1H] == pytest.approx(running_s[q.M1H])
    share = filled.sql(
        f'SELECT SUM("running") * 1.0 / SUM("readings") * COUNT("readings") * 300 FROM {q.M5} '
        f'WHERE {since} GROUP BY time(1h), "enterprise", "machine"'
    )
    expected_running_s = sum(row[1] or 0 for s in share for row in s["values"])
    assert running_s[q.M1H] == pytest.approx(expected_running_s)
    # the backfilled history is untouched by the live run's rollups
    before = filled.total(f'SELECT SUM("pairs") FROM {q.P1H} WHERE time < {filled.run_since_ms}ms')
    assert before == filled.backfill_pairs
    # the backfill's running time adds up the same way at every level
    history = f"time < {filled.run_since_ms}ms"
    backfilled = [
        filled.total_float(f'SELECT SUM("running_s") FROM {level} WHERE {history}')
        for level in (q.E1H, q.P1H)
    ]
    assert backfilled[0] > 0
    assert backfilled[1] == pytest.approx(backfilled[0])


def wait_now() -> float:
    return time.time() * 1000


@pytest.mark.parametrize("name", dashboard_files())
def test_every_panel_query_returns_data(filled: Filled, name: str) -> None:
    now = int(wait_now())
    _roll_up(filled, filled.run_since_ms, now)
    selections: list[dict[str, Any]] = [{}]
    if "enterprise.json" in name:
        enterprises = sorted({e for e, _ in filled.truth})
        # E0001 works a day shift and is off at the end of the run: one that works
        selections = [{"enterprise": "E0002"}, {"enterprise": enterprises[:2]},
                      {"enterprise": "$__all"}]  # fmt: skip
    if "machine.json" in name:
        selections = [{"enterprise": "E0002"}]  # works around the clock: it has alerts
    for chosen in selections:
        grafana = Grafana(filled.influx.url, filled.db, load(name), now, chosen)
        for variable, options in grafana.options.items():
            assert options, f"{name}: variable {variable} has no values"
        empty = []
        for item in grafana.queries(name):
            result = grafana.run(item)
            if not has_data(result):
                text = grafana.expand(item.query, item.time_from, item.interval)
                empty.append(f"{item.title} ({item.ref_id}): {text}")
        assert not empty, f"{name} {chosen}: queries without data:\n" + "\n".join(empty)


def test_every_alert_rule_query_returns_data(filled: Filled) -> None:
    _roll_up(filled, filled.run_since_ms, int(wait_now()))
    for statement in alert_rules.influx_queries():
        assert has_data(run(filled.influx.url, filled.db, statement)), statement


def test_idle_rule_counts_the_machines_the_idle_table_lists(filled: Filled) -> None:
    """The Grafana idle rule reads the alerting's per-enterprise count, the table the alerts
    themselves: both say the same machines are idle."""
    grafana = Grafana(
        filled.influx.url, filled.db, load("json/Park/park-overview.json"), int(wait_now())
    )
    [table] = [i for i in grafana.queries("park") if i.title == "Idle machines now"]
    series = grafana.run(table)["series"]
    listed = Counter(row[series[0]["columns"].index("enterprise")] for row in series[0]["values"])
    rule = run(filled.influx.url, filled.db, q.idle_by_enterprise())["series"]
    counted = {s["tags"]["enterprise"]: s["values"][0][1] for s in rule}
    assert listed
    assert {e: n for e, n in counted.items() if n} == dict(listed)


def test_headline_numbers_equal_the_truth(filled: Filled) -> None:
    now = int(wait_now())
    grafana = Grafana(filled.influx.url, filled.db, load("json/Park/park-overview.json"), now)
    assert grafana.variables["capacity"] == str(round(3.5e9 * MACHINES / 40_000))
    assert grafana.variables["machines"] == str(MACHINES)
    panel, truth = filled.frozen
    assert panel == truth
    assert sum(truth[k] for k in "ABCD") == MACHINES
    # The simulator has stopped: its clean shutdown marked every gateway offline, so every
    # machine counts as offline and none in a state.
    assert machines_now(grafana) == {
        "A": 0, "B": 0, "C": 0, "D": 0, "E": MACHINES, "F": 0, "G": MACHINES
    }  # fmt: skip
    # "pairs" of the park over the live run's window, through the panel's own query text
    pairs = grafana.expand(q.pairs_in_range(q.P1H), None, None).replace(
        f"time >= {grafana.from_ms}ms", f"time >= {filled.run_since_ms}ms"
    )
    _roll_up(filled, filled.run_since_ms, now)
    assert first_value(run(filled.influx.url, filled.db, pairs)) == sum(filled.truth.values())
    year = first_value(
        grafana.run(next(i for i in grafana.queries("park") if i.title == "Pairs year to date"))
    )
    assert year >= sum(filled.truth.values())


def test_capacity_run_rate_and_projection_follow_the_shift_calendar(filled: Filled) -> None:
    """Enterprise capacities add up to the park's; planned time equals the simulator's shift
    calendar; run-rate, projection and target follow planned time, through the panels' queries."""
    park = filled.park
    assert park is not None
    now = int(wait_now())
    _roll_up(filled, filled.run_since_ms, now)
    grafana = Grafana(filled.influx.url, filled.db, load("json/Park/park-overview.json"), now)
    capacity = float(grafana.variables["capacity"])
    planned_year = float(grafana.variables["planned_year"])
    planned_to_date = float(grafana.variables["planned_to_date"])
    shares = filled.sql(
        'SELECT LAST("pairs_per_year") FROM "rollup_long"."capacity" '
        'WHERE "scope" = \'enterprise\' GROUP BY "enterprise"'
    )
    assert sum(s["values"][0][1] for s in shares) == pytest.approx(capacity, rel=1e-9)
    # Planned time, by the simulator's own calendar (a separate implementation), up to the
    # moment the collector wrote it.
    [written] = filled.sql('SELECT LAST("planned_s_to_date") FROM "rollup_long"."capacity"')[0][
        "values"
    ]
    written_s = written[0] / 1000
    year = dt.datetime.fromtimestamp(written_s, ZoneInfo("Asia/Shanghai")).year
    start = dt.datetime(year, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
    end = dt.datetime(year + 1, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
    calendars = {
        e.shift.name: WorkCalendar(e.shift, park.params.calendar) for e in park.enterprises
    }

    def planned(t0: float, t1: float) -> float:
        return sum(
            len(e.machines) * calendars[e.shift.name].on_seconds(t0, t1) for e in park.enterprises
        )

    assert planned_year == pytest.approx(planned(start, end), abs=MACHINES)
    assert planned_to_date == pytest.approx(planned(start, written_s), abs=MACHINES)
    panels = {(item.title, item.ref_id): item for item in grafana.queries("park")}
    year_to_date = grafana.run(panels["Year to date against capacity", "A"])
    output = first_value(year_to_date, "output")
    projected = first_value(year_to_date, "projected year")
    assert output >= sum(filled.truth.values())
    assert projected == pytest.approx(output * planned_year / planned_to_date)
    target = first_value(grafana.run(panels["Year to date against capacity", "B"]), "target")
    assert target == pytest.approx(capacity * planned_to_date / planned_year)
    hour = filled.sql(
        'SELECT SUM("pairs"), SUM("planned_s") FROM "rollup_long"."park_1h" '
        f"WHERE {q.PLANNED} AND {q.LAST_CLOCK_HOUR.replace('now()', f'{now}ms')}"
    )
    run_rate = first_value(grafana.run(panels["Run-rate, % of annual capacity", "A"]))
    if hour:
        pairs, planned_s = hour[0]["values"][0][1:]
        assert run_rate == pytest.approx(pairs / planned_s * planned_year / capacity * 100)
    else:
        assert run_rate is None  # nothing planned in that hour: no run-rate, not 0 %


def machines_now(grafana: Grafana) -> dict[str, Any]:
    """The "Machines now" panel's values by query: A-D running, idle, stopped, off shift;
    E offline; F not reporting; G expected."""
    return {
        item.ref_id: first_value(grafana.run(item))
        for item in grafana.queries("machines now")
        if item.title == "Machines now"
    }


SECOND = {"A": 1, "B": 0, "C": 1, "D": 1, "E": 0}
"""The second enterprise's machines now: maintenance, off, running."""


def expect_counted(
    panels: Callable[[], tuple[dict[str, Any], dict[str, Any]]],
    park: dict[str, int],
    enterprise: dict[str, int],
) -> None:
    """Wait until the park's and the enterprise's panels show these counts (A-E)."""
    seen: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def shown() -> bool:
        seen[:] = [panels()]
        return all(
            {k: v for k, v in got.items() if k in want} == want
            for got, want in zip(seen[0], (park, enterprise), strict=True)
        )

    try:
        wait_until(shown, 20, interval=0.2, what=f"park {park}, enterprise {enterprise}")
    except TimeoutError as err:
        raise AssertionError(f"{err}; last shown: {seen}") from None


def test_machines_now_counts_each_state_and_offline_gateways(
    mosquitto: MosquittoServer, influx: InfluxServer, tmp_path: Path
) -> None:
    """Two gateways whose machines report chosen states: the park's and the enterprise's
    "Machines now" panels count each state; a gateway that dies moves its machines to offline."""
    first, second = unique("S"), unique("T")
    machines = {
        first: {"M1": "running", "M2": "running", "M3": "idle", "M4": "fault"},
        second: {"M1": "maintenance", "M2": "off", "M3": "running"},
    }
    settings = settings_for(
        mosquitto,
        influx,
        tmp_path / "state",
        offline_after=2,
        summary_interval=0.5,
        summary_topic=f"hosiery/test-summary/{first}",
    )
    park = load("json/Park/park-overview.json")
    enterprise = load("json/Enterprises/enterprise.json")

    def panels() -> tuple[dict[str, Any], dict[str, Any]]:
        now = int(wait_now())
        return (
            machines_now(Grafana(influx.url, settings.influx_db, park, now)),
            machines_now(
                Grafana(influx.url, settings.influx_db, enterprise, now, {"enterprise": second})
            ),
        )

    with running_collector(settings):
        gateways = {
            e: GatewayProcess(mosquitto, e, [f"{m}:{s}" for m, s in states.items()], 0.3)
            for e, states in machines.items()
        }
        try:
            expect_counted(panels, {"A": 3, "B": 1, "C": 2, "D": 1, "E": 0}, SECOND)
            gateways[first].kill()
            expect_counted(panels, {"A": 1, "B": 0, "C": 1, "D": 1, "E": 4}, SECOND)
        finally:
            for gateway in gateways.values():
                gateway.kill()


def test_rankings_by_utilisation_are_ratios_not_truncated(filled: Filled) -> None:
    """The utilisation tables rank enterprises by a ratio near the running share (about 0.8):
    an integer-typed expression over the subquery would make every value 0."""
    now = int(wait_now())
    grafana = Grafana(filled.influx.url, filled.db, load("json/Park/park-overview.json"), now)
    rankings = [i for i in grafana.queries("park") if "by utilisation" in i.title]
    assert len(rankings) == 2
    enterprises = len({e for e, _ in filled.truth})
    for item in rankings:
        rows = [row for s in grafana.run(item)["series"] for row in s["values"]]
        assert len(rows) == min(10, enterprises), item.title
        assert all(0.3 < row[1] <= 1.5 for row in rows), f"{item.title}: {rows}"


PARETO = "Downtime by stop reason, machine-hours (estimated from readings)"
MEASURED = "Downtime by stop reason, machine-hours (measured)"


def downtime_from_readings(
    published: list[tuple[str, bytes]], enterprise: str | None = None
) -> dict[str, float]:
    """Machine-hours stopped per reason, from the readings as published (received by the test's
    own subscriber, not read from the database), by the rollups' definition: per machine-hour,
    the share of its readings that carry the reason x 5 minutes per 5-minute interval with
    readings."""
    counts: dict[tuple[str, str, int], Counter[str]] = {}
    intervals: dict[tuple[str, str, int], set[int]] = {}
    for topic, payload in published:
        _, _, ent, machine, _ = topic.split("/")
        if enterprise is not None and ent != enterprise:
            continue
        body = orjson.loads(payload)
        key = (ent, machine, body["ts"] // HOUR_MS)
        tally = counts.setdefault(key, Counter())
        tally["readings"] += 1
        if body.get("reason") is not None:
            tally[body["reason"]] += 1
        intervals.setdefault(key, set()).add(body["ts"] // (FIVE_MIN_S * 1000))
    hours = dict.fromkeys(REASONS, 0.0)
    for key, tally in counts.items():
        for reason in REASONS:
            share = tally[reason] / tally["readings"]
            hours[reason] += share * len(intervals[key]) * FIVE_MIN_S / 3600
    return hours


def test_pareto_of_downtime_by_reason_equals_the_truth(filled: Filled) -> None:
    """The simulator's stop reasons, counted by the simulator itself, by an independent
    subscriber, in raw and at every rollup level, are the same; the park's and an enterprise's
    Pareto panels, transformed as Grafana does, show the hours the published readings give,
    largest first."""
    now = int(wait_now())
    _roll_up(filled, filled.run_since_ms, now)
    since = f"time >= {filled.run_since_ms}ms"
    truth: Counter[str] = Counter()
    for machine in filled.truth_file["machines"]:
        truth.update(machine["stop_readings"])
    received = Counter(orjson.loads(p).get("reason") for _, p in filled.published)
    del received[None]
    assert received == truth
    modelled = {"yarn_change", "waiting_material", "yarn_break", "needle_break", "maintenance"}
    assert set(truth) <= modelled
    assert len(truth) >= 3, truth
    for reason in REASONS:
        stored = filled.total(
            f'SELECT COUNT("pairs") FROM {q.RAW} WHERE {since} AND "reason" = \'{reason}\''
        )
        assert stored == truth[reason], reason
        for level in (q.M5, q.P5, q.M1H, q.E1H, q.P1H):
            rolled = filled.total(f'SELECT SUM("stopped_{reason}") FROM {level} WHERE {since}')
            assert rolled == truth[reason], (reason, level)
    # the simulator stopped for every reason it published, and for no other
    stopped_s = filled.truth_file["stopped_s"]
    assert {r for r, s in stopped_s.items() if s > 0} >= set(truth)
    for path, chosen, enterprise in (
        ("json/Park/park-overview.json", {}, None),
        ("json/Enterprises/enterprise.json", {"enterprise": "E0002"}, "E0002"),
    ):
        dashboard = load(path)
        grafana = Grafana(filled.influx.url, filled.db, dashboard, now, chosen)
        [item] = [i for i in grafana.queries(path) if i.title == PARETO]
        bars = pareto_rows(panel(dashboard, PARETO), grafana.run(item))
        hours = [value for _, value in bars]
        assert hours == sorted(hours, reverse=True)
        expected = downtime_from_readings(filled.published, enterprise)
        assert dict(bars) == pytest.approx(expected, rel=1e-9), path
        assert hours[0] > 0


def test_measured_downtime_by_reason_equals_the_simulators_truth(filled: Filled) -> None:
    """The machines' stopped_ms_total counters, accounted by the collector: the milliseconds
    stopped per reason in raw and at every rollup level, and the park's and an enterprise's
    measured Pareto panels, equal the simulator's truth (test_collector_exactness checks the
    same per machine through reading faults)."""
    now = int(wait_now())
    _roll_up(filled, filled.run_since_ms, now)
    since = f"time >= {filled.run_since_ms}ms"
    truth = filled.truth_file["stopped_ms"]
    assert sum(1 for ms in truth.values() if ms > 0) >= 3, truth
    for reason in REASONS:
        field = f"stopped_ms_{reason}"
        for level in (q.RAW, q.M5, q.P5, q.M1H, q.E1H, q.P1H):
            stored = filled.total(f'SELECT SUM("{field}") FROM {level} WHERE {since}')
            assert stored == truth.get(reason, 0), (reason, level)
    for path, chosen, enterprise in (
        ("json/Park/park-overview.json", {}, None),
        ("json/Enterprises/enterprise.json", {"enterprise": "E0002"}, "E0002"),
    ):
        dashboard = load(path)
        grafana = Grafana(filled.influx.url, filled.db, dashboard, now, chosen)
        [item] = [i for i in grafana.queries(path) if i.title == MEASURED]
        bars = pareto_rows(panel(dashboard, MEASURED), grafana.run(item))
        hours = [value for _, value in bars]
        assert hours == sorted(hours, reverse=True)
        expected: Counter[str] = Counter()
        for machine in filled.truth_file["machines"]:
            if enterprise is None or machine["enterprise"] == enterprise:
                expected.update(machine["stopped_ms"])
        assert dict(bars) == pytest.approx(
            {r: expected[r] / 3_600_000 for r in REASONS}, rel=1e-12, abs=1e-12
        ), path
        assert hours[0] > 0
