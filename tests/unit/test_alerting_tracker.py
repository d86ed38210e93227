"""Alert detection and lifecycle: tables for each rule, properties over arbitrary histories."""

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.alerting.calendar import CalendarFile, ParkCalendar
from collector.alerting.model import Alert, Kind, Status
from collector.alerting.reasons import duration_text
from collector.alerting.registry import ParkRegistry
from collector.alerting.tracker import Tracker, TrackerConfig
from contract import MachineState, StopReason
from contract.calendar import Downtime, ShiftPattern

RUN, IDLE, FAULT, MAINT, OFF = (
    MachineState.RUNNING,
    MachineState.IDLE,
    MachineState.FAULT,
    MachineState.MAINTENANCE,
    MachineState.OFF,
)
E, M = "E0001", "M001"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a Thursday
DELAY = 40  # ms from a reading's ts to its arrival


class Clock:
    """The collector's clock for one tracker: ticks it every second, as the pipeline does."""

    def __init__(self, tracker: Tracker, now: int = T0) -> None:
        self.tracker = tracker
        self.now = now

    def advance(self, to: int, step: int = 1_000) -> None:
        while self.now + step < to:
            self.now += step
            self.tracker.tick(self.now)
        if to > self.now:
            self.now = to
            self.tracker.tick(to)


class Machine:
    """Feeds one machine's readings (every ``interval`` ms) to a tracker, ticking in between."""

    def __init__(
        self,
        tracker: Tracker,
        machine: str = M,
        enterprise: str = E,
        interval: int = 10_000,
        clock: Clock | None = None,
    ) -> None:
        self.tracker = tracker
        self.clock = clock or Clock(tracker, tracker.started_ms)
        self.enterprise = enterprise
        self.machine = machine
        self.interval = interval
        self.ts = T0
        self.seq = 0
        self.total = 0
        self.events: list[Alert] = []

    def read(
        self,
        state: MachineState = RUN,
        pairs: int = 0,
        *,
        style: str | None = None,
        reason: StopReason | None = None,
    ) -> list[Alert]:
        """One reading ``interval`` after the previous one; the events it produced."""
        self.ts += self.interval
        self.seq += 1
        self.total += pairs
        now = self.ts + DELAY
        self.clock.advance(now)
        self.tracker.reading(
            self.enterprise, self.machine, self.ts, self.seq, "b1", state, pairs, self.total,
            style, now, reason,
        )  # fmt: skip
        return self.take()

    def readings(self, count: int, state: MachineState = RUN, pairs: int = 0) -> list[Alert]:
        out = []
        for _ in range(count):
            out += self.read(state, pairs)
        return out

    def silence(self, ms: int) -> list[Alert]:
        """No readings for ``ms`` while the clock runs on."""
        self.ts += ms
        self.clock.advance(self.ts)
        return self.take()

    def take(self) -> list[Alert]:
        events = self.tracker.take()
        self.events += events
        return events


def brief(events: list[Alert]) -> list[tuple[str, str]]:
    return [(e.kind.value, e.status.value) for e in events]


def tracker(**overrides: object) -> Tracker:
    values: dict[str, object] = {"idle_after_ms": 60_000, "fault_after_ms": 30_000}
    values.update(overrides)
    return Tracker(TrackerConfig(**values), now_ms=T0)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- idle


def test_idle_fires_once_when_threshold_reached_and_stays_firing() -> None:
    m = Machine(tracker())
    assert m.read(RUN, pairs=2) == []
    # 60 s of zero pairs: readings at +10 s ... +50 s do not fire, +60 s does.
    assert m.readings(5) == []
    fired = m.read()
    assert brief(fired) == [("idle", "firing")]
    alert = fired[0]
    assert alert.since_ms == T0 + 10_000  # the reading that knitted the last pairs
    assert alert.machine == M
    assert alert.pairs_total == 2
    assert "no pairs knitted for 1m" in alert.reason
    assert m.readings(30) == []  # stays firing: no repeat
    assert m.tracker.firing_counts()[Kind.IDLE] == 1


def test_idle_resolves_when_knitting_again_with_the_same_id() -> None:
    m = Machine(tracker())
    m.read(RUN, 1)
    fired = m.readings(6)
    resolved = m.read(RUN, pairs=1)
    assert brief(resolved) == [("idle", "resolved")]
    assert resolved[0].id == fired[0].id
    assert resolved[0].notification_id != fired[0].notification_id
    assert resolved[0].fired_ms == fired[0].at_ms
    assert resolved[0].reason == "knitting again"
    assert m.tracker.firing_counts()[Kind.IDLE] == 0


def test_idle_needs_a_whole_threshold_again_after_resolving() -> None:
    m = Machine(tracker())
    m.read(RUN, 1)
    m.readings(6)
    m.read(RUN, 1)
    assert m.readings(5) == []
    assert brief(m.read()) == [("idle", "firing")]


@pytest.mark.parametrize(
    ("states", "fires"),
    [
        pytest.param([IDLE] * 7, True, id="state idle counts as expected to produce"),
        pytest.param([RUN, IDLE, RUN, IDLE, RUN, IDLE, RUN], True, id="running and idle mixed"),
        pytest.param([MAINT] * 10, False, id="maintenance never alerts"),
        pytest.param([OFF] * 10, False, id="off never alerts"),
        pytest.param([RUN] * 3 + [MAINT] + [RUN] * 6, False, id="planned stop restarts the clock"),
        pytest.param([RUN] * 3 + [MAINT] + [RUN] * 7, True, id="... for a whole threshold"),
        pytest.param([FAULT] * 10, False, id="fault is stopped, not idle"),
    ],
)
def test_idle_by_state(states: list[MachineState], *, fires: bool) -> None:
    m = Machine(tracker(fault_after_ms=10**9))
    for state in states:
        m.read(state)
    assert (("idle", "firing") in brief(m.events)) is fires


def test_idle_threshold_per_style() -> None:
    t = tracker(idle_after_by_style={"slipper": 120_000})
    clock = Clock(t)
    slow, fast = Machine(t, "M001", clock=clock), Machine(t, "M002", clock=clock)
    slow.read(RUN, style="slipper")
    fast.read(RUN, style="cotton")
    for _ in range(6):
        slow.read(RUN, style="slipper")
        fast.read(RUN, style="cotton")
    assert brief(slow.events) == []
    assert brief(fast.events) == [("idle", "firing")]
    slow.readings(6)
    assert [e.kind for e in slow.events if e.machine == "M001"] == [Kind.IDLE]


def test_idle_threshold_per_style_from_the_registry() -> None:
    registry = ParkRegistry({E: {M: "slipper"}})
    t = Tracker(
        TrackerConfig(idle_after_ms=60_000, idle_after_by_style={"slipper": 120_000}),
        registry=registry,
        now_ms=T0,
    )
    m = Machine(t)
    assert m.readings(7) == []
    assert brief(m.readings(6)) == [("idle", "firing")]


def test_maintenance_resolves_a_firing_idle_alert() -> None:
    m = Machine(tracker())
    m.readings(7)
    resolved = m.read(MAINT)
    assert brief(resolved) == [("idle", "resolved")]
    assert "planned downtime" in resolved[0].reason


def test_late_reading_does_not_change_the_state() -> None:
    t = tracker()
    m = Machine(t)
    m.readings(3)
    # a reading from the past saying "maintenance" arrives late: the newer "running" stands
    t.reading(E, M, m.ts - 25_000, 1, "b1", MAINT, 0, m.total, None, m.ts + 100)
    assert brief(m.readings(4)) == [("idle", "firing")]


def test_resolve_after_needs_sustained_production() -> None:
    m = Machine(tracker(resolve_after_ms=30_000))
    m.readings(7)
    assert brief(m.read(RUN, 1)) == []  # production starts ...
    assert brief(m.read(IDLE)) == []  # ... and stops again: not clear
    assert brief(m.read(RUN, 1)) == []
    assert brief(m.readings(2, RUN, 0)) == []  # running (zero-pair readings are normal)
    assert brief(m.read(RUN, 0)) == [("idle", "resolved")]  # 30 s since production resumed


# ----------------------------------------------------------------------------- stopped


def test_stopped_fires_after_fault_after_and_resolves_when_repaired() -> None:
    m = Machine(tracker())
    m.read(RUN, 1)
    assert m.readings(3, FAULT) == []  # fault seen at +0, +10, +20 s
    fired = m.read(FAULT)  # +30 s
    assert brief(fired) == [("stopped", "firing")]
    assert "reporting fault for 30s" in fired[0].reason
    assert m.readings(10, FAULT) == []
    resolved = m.read(RUN, 1)
    assert brief(resolved) == [("stopped", "resolved")]
    assert "no longer in fault" in resolved[0].reason


def test_short_faults_do_not_alert() -> None:
    m = Machine(tracker())
    for _ in range(10):
        m.readings(2, FAULT)
        m.read(RUN, 1)
    assert m.events == []


# ----------------------------------------------------------------------------- stop reasons


def test_a_needle_break_alerts_at_once_as_stopped() -> None:
    m = Machine(tracker())
    m.read(RUN, 1)
    fired = m.read(FAULT, reason=StopReason.NEEDLE_BREAK)
    assert brief(fired) == [("stopped", "firing")]
    assert fired[0].since_ms == m.ts
    assert "reporting fault (needle_break) for 0.0s" in fired[0].reason
    assert brief(m.read(RUN, 1)) == [("stopped", "resolved")]


def test_a_fault_without_a_reason_of_its_own_waits_for_fault_after() -> None:
    for reason in (None, StopReason.YARN_BREAK, StopReason.OTHER):
        m = Machine(tracker())
        m.read(RUN, 1)
        assert [m.read(FAULT, reason=reason) for _ in range(3)] == [[], [], []]  # +0 ... +20 s
        assert brief(m.read(FAULT, reason=reason)) == [("stopped", "firing")]  # +30 s


def test_a_yarn_change_waits_longer_before_idle_fires() -> None:
    m = Machine(tracker(idle_after_by_reason={StopReason.YARN_CHANGE: 180_000}))
    m.read(RUN, 1)
    # 60 s is the idle threshold, but not while the machine says it is changing yarn
    assert [m.read(IDLE, reason=StopReason.YARN_CHANGE) for _ in range(17)] == [[]] * 17
    fired = m.read(IDLE, reason=StopReason.YARN_CHANGE)  # 180 s without pairs
    assert brief(fired) == [("idle", "firing")]
    assert "no pairs knitted for 3m while idle (yarn_change)" in fired[0].reason


def test_a_stop_that_changes_reason_takes_the_new_reasons_threshold() -> None:
    m = Machine(tracker(idle_after_by_reason={StopReason.STYLE_CHANGE: 3_600_000}))
    m.read(RUN, 1)
    assert m.readings(5, IDLE) == []  # no reason, 50 s
    for _ in range(10):  # a style change: an hour's grace
        assert m.read(IDLE, reason=StopReason.STYLE_CHANGE) == []
    # waiting for material has no threshold of its own: 60 s since the last pairs are long past
    assert brief(m.read(IDLE, reason=StopReason.WAITING_MATERIAL)) == [("idle", "firing")]


def test_a_style_change_in_fault_waits_its_own_threshold() -> None:
    m = Machine(tracker(fault_after_by_reason={StopReason.STYLE_CHANGE: 120_000}))
    m.read(RUN, 1)
    assert [m.read(FAULT, reason=StopReason.STYLE_CHANGE) for _ in range(12)] == [[]] * 12
    assert brief(m.read(FAULT, reason=StopReason.STYLE_CHANGE)) == [("stopped", "firing")]


def test_default_thresholds_per_reason() -> None:
    config = TrackerConfig()
    assert config.fault_after_by_reason[StopReason.NEEDLE_BREAK] == 0
    for reason in (StopReason.YARN_CHANGE, StopReason.STYLE_CHANGE):
        assert config.idle_after_by_reason[reason] > config.idle_after_ms
        assert config.fault_after_by_reason[reason] > config.fault_after_ms


# ----------------------------------------------------------------------------- offline


def test_offline_after_three_estimated_intervals() -> None:
    m = Machine(tracker(), interval=10_000)
    m.readings(5, RUN, 1)
    assert m.silence(29_000) == []
    fired = m.silence(2_000)
    assert brief(fired) == [("offline", "firing")]
    assert fired[0].since_ms == m.ts - 31_000 + DELAY  # when it was last heard
    assert "expected every 10s" in fired[0].reason
    assert m.silence(600_000) == []  # fires once
    resolved = m.read(RUN, 1)
    assert brief(resolved) == [("offline", "resolved")]
    assert resolved[0].reason == "reporting again"


def test_interval_estimate_survives_dropped_readings() -> None:
    m = Machine(tracker(), interval=10_000)
    m.readings(3, RUN, 1)
    m.seq += 3  # three readings lost on the way: the gap is 40 s, but seq says 4 intervals
    m.ts += 30_000
    m.read(RUN, 1)
    assert m.tracker.interval_ms(E, M) == pytest.approx(10_000)


def test_offline_after_fixed_duration() -> None:
    m = Machine(tracker(offline_after_ms=5_000), interval=1_000)
    m.readings(3, RUN, 1)
    assert m.silence(4_500) == []
    assert "--offline-after 5.0s" in m.silence(1_000)[0].reason


def test_switched_off_machine_going_silent_is_not_offline() -> None:
    m = Machine(tracker())
    m.readings(3, OFF)
    assert m.silence(3_600_000) == []
    assert m.tracker.report(m.ts).silent == 1  # still counted as not reporting


def test_no_offline_while_the_collector_cannot_receive() -> None:
    t = tracker()
    m = Machine(t)
    m.readings(3, RUN, 1)
    now = m.ts
    for _ in range(120):
        now += 1_000
        t.tick(now, intake_ok=False)
    assert t.take() == []
    t.tick(now + 1_000)  # back: every machine gets a full window from now
    for _ in range(29):
        now += 1_000
        t.tick(now)
    assert t.take() == []
    t.tick(now + 3_000)
    assert brief(t.take()) == [("offline", "firing")]


def test_a_stalled_collector_does_not_raise_offline_alerts() -> None:
    t = tracker()
    m = Machine(t)
    m.readings(3, RUN, 1)
    t.tick(m.ts + 500)
    t.tick(m.ts + 120_000)  # no tick for two minutes: the pipeline was blocked
    assert t.take() == []
    m.clock.now = m.ts + 120_000
    assert m.silence(120_000 + 29_000) == []  # a full window from the end of the stall
    assert brief(m.silence(2_000)) == [("offline", "firing")]


# ----------------------------------------------------------------------------- gateway


def test_last_will_raises_one_grouped_alert_for_the_gateway() -> None:
    registry = ParkRegistry({E: {"M001": None, "M002": None, "M003": None, "M009": None}})
    t = Tracker(TrackerConfig(), registry=registry, now_ms=T0)
    t.status(E, online=True, machines=["M001", "M002", "M003", "M004"], now=T0)
    clock = Clock(t)
    machines = [Machine(t, f"M00{i}", clock=clock) for i in (1, 2, 3)]
    for _ in range(3):
        for m in machines:
            m.read(RUN, 1)
    down = machines[0].ts + 100
    clock.advance(down)
    t.status(E, online=False, machines=None, now=down)
    events = t.take()
    assert brief(events) == [("offline", "firing")]
    alert = events[0]
    assert alert.machine is None
    assert alert.machines == ("M001", "M002", "M003", "M004", "M009")
    assert alert.since_ms == down
    assert alert.id == f"{E}/*/offline/{down}"
    # no per-machine offline alerts while the gateway alert covers them; no repeat for a
    # Last Will delivered again
    t.status(E, online=False, machines=None, now=down + 1_000)
    clock.advance(down + 600_000)
    assert t.take() == []
    assert t.alerts_of(E, "M002") == [alert]
    t.status(E, online=True, machines=None, now=down + 600_000)
    resolved = t.take()
    assert brief(resolved) == [("offline", "resolved")]
    assert resolved[0].id == alert.id


def test_machines_that_stay_silent_after_their_gateway_returns_go_offline_one_by_one() -> None:
    t = tracker()
    clock = Clock(t)
    a, b = Machine(t, "M001", clock=clock), Machine(t, "M002", clock=clock)
    for _ in range(3):
        a.read(RUN, 1)
        b.read(RUN, 1)
    clock.advance(a.ts + 100)
    t.status(E, online=False, machines=None, now=a.ts + 100)
    assert brief(t.take()) == [("offline", "firing")]
    back = a.ts + 600_000
    clock.advance(back)
    t.status(E, online=True, machines=None, now=back)
    assert brief(t.take()) == [("offline", "resolved")]
    a.ts = back
    a.readings(2, RUN, 1)  # M001 reports again; M002 does not
    assert t.take() == []
    clock.advance(back + 29_000)
    assert t.take() == []
    clock.advance(back + 31_000)
    events = t.take()
    assert [(e.machine, e.kind.value, e.status.value) for e in events] == [
        ("M002", "offline", "firing")
    ]


def test_a_reading_after_the_last_will_means_the_gateway_is_back() -> None:
    t = tracker()
    m = Machine(t)
    m.readings(3, RUN, 1)
    t.status(E, online=False, machines=None, now=m.ts + 100)
    assert brief(t.take()) == [("offline", "firing")]
    assert brief(m.read(RUN, 1)) == [("offline", "resolved")]


def test_gateway_resolve_after_hysteresis() -> None:
    t = tracker(resolve_after_ms=10_000)
    t.status(E, online=False, machines=[M], now=T0)
    t.take()
    t.status(E, online=True, machines=None, now=T0 + 1_000)
    t.tick(T0 + 2_000)
    t.status(E, online=False, machines=None, now=T0 + 3_000)  # flaps: still the same alert
    t.status(E, online=True, machines=None, now=T0 + 4_000)
    t.tick(T0 + 13_000)
    assert t.take() == []
    t.tick(T0 + 14_000)
    assert brief(t.take()) == [("offline", "resolved")]


# ----------------------------------------------------------------------------- calendar

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
ONE_SHIFT = ShiftPattern("one-shift", ((360, 1320),), tz=SHANGHAI)  # 06:00-22:00 local


def local(hour: int, minute: int = 0, day: int = 1) -> int:
    return int(dt.datetime(2026, 1, day, hour, minute, tzinfo=SHANGHAI).timestamp() * 1000)


def shift_tracker(**overrides: object) -> Tracker:
    calendar = ParkCalendar(registry_patterns={E: ONE_SHIFT})
    values: dict[str, object] = {"idle_after_ms": 600_000, "fault_after_ms": 120_000}
    values.update(overrides)
    return Tracker(TrackerConfig(**values), calendar=calendar, now_ms=local(0))  # type: ignore[arg-type]


def test_no_idle_alert_outside_the_shift() -> None:
    m = Machine(shift_tracker(), interval=60_000)
    m.ts = local(21, 0)
    m.read(RUN, 1)
    m.readings(9, RUN)  # 21:01 .. 21:09
    assert m.events == []
    m.readings(60 * 8 + 30, IDLE)  # 21:10 .. 05:59 (fires at 21:11) and beyond
    assert brief(m.events) == [("idle", "firing")]  # at 21:11, inside the shift; stays firing


def test_idle_clock_restarts_when_the_shift_begins() -> None:
    m = Machine(shift_tracker(), interval=60_000)
    m.ts = local(21, 55)
    m.read(RUN, 1)
    m.readings(60 * 8 + 4, IDLE)  # 21:56 .. 06:00 idle, no production
    assert m.events == []
    m.readings(9, IDLE)  # 06:01 .. 06:09
    assert m.events == []
    fired = m.read(IDLE)  # 06:10
    assert brief(fired) == [("idle", "firing")]
    assert fired[0].since_ms == local(6, 0, day=2)


def test_no_offline_alert_outside_the_shift_and_a_window_after_it_begins() -> None:
    t = shift_tracker()
    m = Machine(t, interval=10_000)
    m.ts = local(21, 59)
    m.readings(5, RUN, 1)  # the last at 21:59:50; 30 s later the shift is over
    assert m.silence(local(6, 0, day=2) - m.ts + 29_000) == []  # silent all night
    fired = m.silence(2_000)
    assert brief(fired) == [("offline", "firing")]


def test_gateway_down_at_night_alerts_at_the_start_of_the_shift_if_still_down() -> None:
    t = shift_tracker()
    t.status(E, online=False, machines=[M], now=local(23))
    assert t.take() == []
    t.tick(local(5, 59, day=2))
    assert t.take() == []
    t.tick(local(6, 0, day=2))
    events = t.take()
    assert brief(events) == [("offline", "firing")]
    assert events[0].since_ms == local(23)


def test_gateway_back_before_the_shift_does_not_alert() -> None:
    t = shift_tracker()
    t.status(E, online=False, machines=[M], now=local(23))
    t.status(E, online=True, machines=[M], now=local(5, day=2))
    t.tick(local(7, day=2))
    assert t.take() == []


def test_one_off_downtime_suppresses_alerts() -> None:
    downtime = Downtime("yarn delivery", local(8), local(12), frozenset({E}))
    calendar = ParkCalendar(CalendarFile(downtime=(downtime,)))
    t = Tracker(TrackerConfig(idle_after_ms=600_000), calendar=calendar, now_ms=local(0))
    m = Machine(t, interval=60_000)
    m.ts = local(7, 59)
    m.read(RUN, 1)
    m.readings(200, RUN)  # 08:00 .. 11:20
    assert m.events == []
    m.readings(50, RUN)
    assert brief(m.events) == [("idle", "firing")]
    assert m.events[0].since_ms == local(12)


# ----------------------------------------------------------------------------- restart


def test_restored_firing_set_prevents_duplicates_and_resolves_normally() -> None:
    t = tracker()
    m = Machine(t)
    m.read(RUN, 1)
    fired = m.readings(6)
    t.status("E0002", online=False, machines=["M1"], now=m.ts)
    gateway = t.take()
    # restart: a new tracker from the firing set and the known machines
    t2 = tracker()
    t2.restore([*fired, *gateway], t.records())
    m.tracker = t2
    t2.status("E0002", online=False, machines=None, now=m.ts + 1)  # the retained Last Will
    assert m.readings(20) == []  # still idle: nothing new
    resolved = m.read(RUN, 1)
    assert brief(resolved) == [("idle", "resolved")]
    assert resolved[0].id == fired[0].id
    t2.status("E0002", online=True, machines=None, now=m.ts)
    assert [a.id for a in t2.take()] == [gateway[0].id]


def test_restored_machine_that_stays_silent_goes_offline() -> None:
    t = tracker()
    m = Machine(t)
    m.readings(3, RUN, 1)
    restart = m.ts + 60_000
    t2 = Tracker(TrackerConfig(), now_ms=restart)
    t2.restore([], t.records())
    clock = Clock(t2, restart)
    clock.advance(restart + 29_000)
    assert t2.take() == []
    clock.advance(restart + 31_000)
    events = t2.take()
    assert brief(events) == [("offline", "firing")]
    assert events[0].since_ms == m.ts + DELAY  # last heard before the restart


# ----------------------------------------------------------------------------- report


def test_report_counts_never_reported_silent_and_unexpected() -> None:
    registry = ParkRegistry({E: {"M001": None, "M002": None, "M003": None}, "E0002": {"X": None}})
    t = Tracker(TrackerConfig(), registry=registry, now_ms=T0)
    clock = Clock(t)
    a, b, c = (Machine(t, m, clock=clock) for m in ("M001", "M002", "M777"))
    for _ in range(3):
        a.read(RUN, 1)
        b.read(RUN, 1)
        c.read(RUN, 1)
    a.readings(10, RUN, 1)  # b and c go silent meanwhile (100 s > 30 s)
    report = t.report(a.ts)
    rows = {r.enterprise: r for r in report.enterprises}
    assert rows[E].expected == 3
    assert rows[E].reporting == 1
    assert rows[E].never_reported == ("M003",)
    assert rows[E].silent == ("M002", "M777")
    assert rows["E0002"].never_reported == ("X",)
    assert (report.expected, report.reporting, report.never_reported, report.silent) == (4, 1, 2, 2)
    assert report.unexpected == 0  # M777 is silent
    c.read(RUN, 1)
    assert t.report(c.ts).unexpected == 1


def test_report_carries_the_readings_missing_per_enterprise() -> None:
    t = tracker()
    Machine(t, "M001").read(RUN, 1)
    report = t.report(T0 + 1_000, {E: 3, "E0009": 2})
    rows = {r.enterprise: r.missing for r in report.enterprises}
    assert rows == {E: 3, "E0009": 2}
    assert report.missing == 5
    assert t.report(T0 + 1_000).missing == 0


def test_report_counts_the_machines_of_a_dead_gateway_as_silent() -> None:
    t = tracker()
    Machine(t, "M001").read(RUN, 1)
    t.status(E, online=False, machines=None, now=T0 + 20_000)
    assert t.report(T0 + 20_000).enterprises[0].silent == ("M001",)


def test_report_counts_reporting_machines_by_their_last_state() -> None:
    t = tracker()
    clock = Clock(t)
    machines = [Machine(t, f"M{i:03d}", clock=clock) for i in range(6)]
    for _ in range(3):
        for machine, state in zip(machines, (RUN, RUN, IDLE, FAULT, MAINT, OFF), strict=True):
            machine.read(state, 1 if state is RUN else 0)
    row = t.report(machines[-1].ts).enterprises[0]
    assert row.by_state == (2, 1, 2, 1)
    t.status(E, online=False, machines=None, now=machines[-1].ts + 1)
    assert t.report(machines[-1].ts + 1).enterprises[0].by_state == (0, 0, 0, 0)


def test_report_counts_machines_with_firing_alerts_by_kind() -> None:
    """Idle, stopped and offline alerts per enterprise, as long as they fire (however old)."""
    t = tracker()
    clock = Clock(t)
    idle, faulty, quiet = (Machine(t, f"M00{i}", clock=clock) for i in (1, 2, 3))
    other = Machine(t, "M001", enterprise="E0002", clock=clock)
    for _ in range(8):  # 80 s: idle (60 s) and stopped (30 s) fire
        idle.read(RUN, 0)
        faulty.read(FAULT, 0)
        quiet.read(RUN, 1)
        other.read(RUN, 1)
    assert t.report(clock.now).enterprises[0].alerts == (1, 1, 0)
    later = clock.now + 30 * 86_400_000  # a month later, the idle machine still idle
    clock.advance(later, step=3_600_000)
    for m in (idle, faulty, quiet, other):
        m.ts = later
    for _ in range(2):
        idle.read(RUN, 0)
        faulty.read(RUN, 1)  # knitting again: stopped resolves
        quiet.read(RUN, 1)
        other.read(RUN, 1)
    rows = {r.enterprise: r for r in t.report(clock.now).enterprises}
    assert rows[E].alerts == (1, 0, 0)
    t.status("E0002", online=False, machines=None, now=clock.now)
    rows = {r.enterprise: r for r in t.report(clock.now).enterprises}
    assert rows["E0002"].alerts == (0, 0, 1)  # the gateway's alert, one machine
    assert rows[E].alerts == (1, 0, 0)


# ----------------------------------------------------------------------------- misc


@pytest.mark.parametrize(
    ("ms", "text"),
    [(750, "0.8s"), (12_000, "12s"), (90_000, "1m 30s"), (600_000, "10m"), (7_500_000, "2h 5m")],
)
def test_duration_text(ms: int, text: str) -> None:
    assert duration_text(ms) == text


@pytest.mark.parametrize(
    "overrides",
    [{"idle_after_ms": 0}, {"fault_after_ms": -1}, {"offline_after_ms": 0},
     {"offline_intervals": 0.5}, {"resolve_after_ms": -1}, {"idle_after_by_style": {"x": 0}},
     {"idle_after_by_reason": {StopReason.YARN_CHANGE: 0}},
     {"fault_after_by_reason": {StopReason.NEEDLE_BREAK: -1}}],
)  # fmt: skip
def test_config_refuses_nonsense(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must"):
        TrackerConfig(**overrides)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- properties

STATES = st.sampled_from([RUN, RUN, RUN, IDLE, FAULT, MAINT, OFF])
STEP = st.tuples(
    STATES,
    st.integers(0, 2),  # pairs
    st.sampled_from([1_000, 5_000, 10_000, 60_000]),  # gap before the reading
    st.booleans(),  # the gateway dies (Last Will) before the reading
)


def reference_idle(steps: list[tuple[MachineState, int, int, bool]], threshold: int) -> list[str]:
    """Idle events by a plain reading of the rules (in-order readings, no calendar)."""
    events = []
    firing = False
    last_pairs = expect_since = -(10**18)
    state: MachineState | None = None
    ts = T0
    for new_state, pairs, gap, _ in steps:
        ts += gap
        if pairs:
            last_pairs = ts
        if new_state in (RUN, IDLE) and state not in (RUN, IDLE):
            expect_since = ts
        state = new_state
        if firing and (state in (MAINT, OFF) or (pairs and ts >= last_pairs)):
            events.append("resolved")
            firing = False
        if not firing and state in (RUN, IDLE) and ts - max(last_pairs, expect_since) >= threshold:
            events.append("firing")
            firing = True
    return events


@settings(max_examples=300, deadline=None)
@given(st.lists(STEP, min_size=1, max_size=80))
def test_alerts_alternate_fire_once_and_match_the_rules(
    steps: list[tuple[MachineState, int, int, bool]],
) -> None:
    t = Tracker(TrackerConfig(idle_after_ms=60_000, fault_after_ms=30_000), now_ms=T0)
    ts = T0
    total = 0
    events: list[Alert] = []
    for seq, (state, pairs, gap, dies) in enumerate(steps):
        for now in range(ts + 1_000, ts + gap, 1_000):
            t.tick(now)
        ts += gap
        total += pairs
        if dies:
            t.status(E, online=False, machines=None, now=ts)
        t.reading(E, M, ts, seq, "b1", state, pairs, total, None, ts + DELAY)
        events += t.take()
    # every key alternates firing, resolved, firing, ... and each notification is unique
    open_alerts: dict[tuple[str, str | None, Kind], Alert] = {}
    for event in events:
        if event.status is Status.FIRING:
            assert event.key not in open_alerts, f"fired twice: {event}"
            open_alerts[event.key] = event
        else:
            assert open_alerts.pop(event.key).id == event.id
    assert len({e.notification_id for e in events}) == len(events)
    counts = t.firing_counts()
    assert sum(counts.values()) == len(open_alerts) == len(list(t.firing()))
    idle = [e.status.value for e in events if e.kind is Kind.IDLE]
    assert idle == reference_idle(steps, 60_000)


# ---------------------------------------------------------------- China's statutory calendar

WEEKDAY_SHIFT = ShiftPattern("weekdays", ((480, 1080),), frozenset(range(5)), SHANGHAI)


def on(date: str, hour: int) -> int:
    day = dt.date.fromisoformat(date)
    moment = dt.datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI)
    return int(moment.timestamp() * 1000)


def china_tracker(date: str) -> Tracker:
    calendar = ParkCalendar(
        CalendarFile(tz=SHANGHAI, country="CN"), registry_patterns={E: WEEKDAY_SHIFT}
    )
    return Tracker(TrackerConfig(idle_after_ms=600_000), calendar=calendar, now_ms=on(date, 0))


def test_no_idle_alert_on_the_spring_festival_2027() -> None:
    m = Machine(china_tracker("2027-02-08"), interval=60_000)
    m.ts = on("2027-02-08", 9)  # a Monday of the Spring Festival
    m.read(RUN, 1)
    m.readings(120, IDLE)  # two idle hours of a workday's shift hours
    assert m.events == []


def test_an_idle_alert_on_a_make_up_working_saturday() -> None:
    m = Machine(china_tracker("2026-02-28"), interval=60_000)
    m.ts = on("2026-02-28", 9)  # a Saturday worked to make up a day off
    m.read(RUN, 1)
    m.readings(20, IDLE)
    assert brief(m.events) == [("idle", "firing")]
    ordinary = Machine(china_tracker("2026-03-07"), interval=60_000)
    ordinary.ts = on("2026-03-07", 9)  # an ordinary Saturday: the weekday shift rests
    ordinary.read(RUN, 1)
    ordinary.readings(20, IDLE)
    assert ordinary.events == []


# ----------------------------------------------------------------------------- never reported

GRACE = 180_000


def test_never_reported_machines_fire_one_alert_per_enterprise_after_the_grace() -> None:
    registry = ParkRegistry({E: {"M001": None, "M002": None, "M003": None}, "E0002": {"X": None}})
    t = Tracker(TrackerConfig(), registry=registry, now_ms=T0)
    Machine(t, "M001").read(RUN, 1)
    t.check_never_reported(T0 + GRACE - 1, GRACE)
    assert t.take() == []
    t.check_never_reported(T0 + GRACE, GRACE)
    events = {a.enterprise: a for a in t.take()}
    assert set(events) == {E, "E0002"}
    assert events[E].machines == ("M002", "M003")
    assert (events[E].kind, events[E].machine, events[E].since_ms) == (
        Kind.NEVER_REPORTED,
        None,
        T0,
    )
    t.check_never_reported(T0 + GRACE + 60_000, GRACE)
    assert t.take() == []  # fires once
    assert t.firing_counts()[Kind.NEVER_REPORTED] == 2
    assert [a.kind for a in t.alerts_of(E, "M002")] == [Kind.NEVER_REPORTED]
    assert t.alerts_of(E, "M001") == []
    Machine(t, "M002").read(RUN, 1)
    t.check_never_reported(T0 + GRACE + 120_000, GRACE)
    assert t.take() == []  # M003 still never reported
    Machine(t, "M003").read(RUN, 1)
    t.set_registry(ParkRegistry({E: {"M001": None, "M002": None, "M003": None}}))
    t.check_never_reported(T0 + GRACE + 180_000, GRACE)
    resolved = {a.enterprise: a for a in t.take()}
    assert {e: (a.status, a.reason) for e, a in resolved.items()} == {
        E: (Status.RESOLVED, "every machine reported or left the registry"),
        "E0002": (Status.RESOLVED, "no longer in the registry"),
    }
    assert t.firing_counts()[Kind.NEVER_REPORTED] == 0


def test_never_reported_waits_for_the_working_period_and_a_grace_after_it() -> None:
    calendar = ParkCalendar(registry_patterns={E: ONE_SHIFT})
    t = Tracker(
        TrackerConfig(), calendar=calendar, registry=ParkRegistry({E: {M: None}}), now_ms=local(0)
    )
    t.check_never_reported(local(3), GRACE)  # off shift at night: machines are switched off
    t.check_never_reported(local(6, 2), GRACE)  # the shift began two minutes ago
    assert t.take() == []
    t.check_never_reported(local(6, 3), GRACE)
    [alert] = t.take()
    assert (alert.kind, alert.machines) == (Kind.NEVER_REPORTED, (M,))


def test_a_never_reported_alert_is_restored_without_an_event() -> None:
    registry = ParkRegistry({E: {M: None}})
    t = Tracker(TrackerConfig(), registry=registry, now_ms=T0)
    t.check_never_reported(T0 + GRACE, GRACE)
    [alert] = t.take()
    again = Tracker(TrackerConfig(), registry=registry, now_ms=T0 + GRACE + 5_000)
    again.restore([alert], [])
    again.check_never_reported(T0 + 2 * GRACE + 5_000, GRACE)
    assert again.take() == []
    assert list(again.firing()) == [alert]
