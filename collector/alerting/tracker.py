"""Detection and lifecycle of alerts: pure logic, ``now`` passed in, no I/O.

Conditions (``docs/alerting.md`` has the operator's version):

* **idle**: the newest reading says ``running`` or ``idle`` and the machine has knitted no pair
  for ``idle_after`` (per style if configured), counted in the machine's own time (``ts``) from
  the latest of: its last reading with pairs, the start of its current running/idle spell, its
  first reading seen, and the start of the current working period of its calendar;
* **stopped**: the machine has reported ``fault`` for ``fault_after`` (same clock and periods);
* **offline**: no reading has *arrived* for ``offline_after``, or for three estimated reporting
  intervals; or, for a whole gateway, its Last Will (``online: false``);
* **never_reported**: machines of the registry not heard from once the grace period after the
  start has passed (and, with a calendar, as long after the working period began): one alert per
  enterprise listing them (:meth:`Tracker.check_never_reported`), resolved when every one of
  them has reported or left the registry.

Idle and stopped are decided when a reading arrives (readings that arrive late, for example
from a gateway's buffer, are judged by their own time); offline by timers on the collector's
clock (:class:`~collector.alerting.timers.Timers`), so a reading costs O(1) dictionary work and
an expired timer O(log n).

Nothing new fires during planned downtime: a machine in ``maintenance`` or ``off``, or an
enterprise outside its calendar's working time. A firing idle or stopped alert resolves when the
machine reports ``maintenance`` or ``off``; calendar downtime alone resolves nothing. Offline
detection waits while the collector itself cannot receive (broker connection lost, pipeline
stalled), and every machine gets a full offline window after that, after a restart, after its
gateway comes back and after its working period begins.

Lifecycle: one alert per (machine, kind), or per gateway; it fires once and resolves once, when
the condition has been clear for ``resolve_after`` (0: the first clearing reading). The events
are collected until :meth:`Tracker.take`.
"""

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from collector.alerting.calendar import ParkCalendar, WorkCalendar
from collector.alerting.model import Alert, Kind, Status
from collector.alerting.registry import ParkRegistry
from collector.alerting.timers import Timers
from contract import MachineState

_RUNNING = MachineState.RUNNING
_IDLE = MachineState.IDLE
_FAULT = MachineState.FAULT
_MAINTENANCE = MachineState.MAINTENANCE
_OFF = MachineState.OFF
_IDLE_KIND = Kind.IDLE
_STOPPED = Kind.STOPPED
_OFFLINE = Kind.OFFLINE
_NEVER_REPORTED = Kind.NEVER_REPORTED
_NEVER = -(2**62)
_ALPHA = 0.25
"""Weight of a new sample in a machine's interval estimate (exponential moving average)."""


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """Thresholds, in milliseconds."""

    idle_after_ms: int = 600_000
    idle_after_by_style: Mapping[str, int] = field(default_factory=dict)
    fault_after_ms: int = 120_000
    offline_after_ms: int | None = None
    """A fixed offline threshold; None: ``offline_intervals`` estimated intervals."""
    offline_intervals: float = 3.0
    initial_interval_ms: int = 60_000
    """Assumed reporting interval of a machine until two readings give an estimate."""
    min_offline_ms: int = 2_000
    """The shortest offline window, whatever the estimate."""
    resolve_after_ms: int = 0
    stall_ms: int = 5_000
    """Ticks further apart than this mean the collector itself stalled: offline windows restart."""

    def __post_init__(self) -> None:
        positive = {
            "idle_after": self.idle_after_ms,
            "fault_after": self.fault_after_ms,
            "initial_interval": self.initial_interval_ms,
            "stall": self.stall_ms,
            **{f"idle_after for style {k}": v for k, v in self.idle_after_by_style.items()},
        }
        if self.offline_after_ms is not None:
            positive["offline_after"] = self.offline_after_ms
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"{name} must be positive")
        if self.offline_intervals < 1:
            raise ValueError("offline_intervals must be at least 1")
        if self.resolve_after_ms < 0 or self.min_offline_ms < 0:
            raise ValueError("resolve_after and min_offline must not be negative")


class MachineRecord(NamedTuple):
    """What the store keeps of a machine across restarts."""

    enterprise: str
    machine: str
    arrival_ms: int
    interval_ms: float
    state: str | None
    style: str | None


@dataclass(frozen=True, slots=True)
class EnterpriseReport:
    enterprise: str
    expected: int
    reporting: int
    """Expected machines that report (seen, not silent)."""
    never_reported: tuple[str, ...]
    silent: tuple[str, ...]
    """Machines that reported and have gone silent (any machine, expected or not)."""
    unexpected: int
    """Machines that report and are not in the registry."""
    by_state: tuple[int, int, int, int] = (0, 0, 0, 0)
    """Machines that report, by their last state: running, idle, stopped (fault or
    maintenance), off."""
    alerts: tuple[int, int, int] = (0, 0, 0)
    """Machines with a firing idle, stopped, offline alert (a gateway's offline alert counts
    each of its machines)."""
    missing: int = 0
    """Readings lost upstream (gaps in ``seq``), from the accounting."""


_ALERT_COLUMN = {Kind.IDLE: 0, Kind.STOPPED: 1, Kind.OFFLINE: 2}

_STATE_COLUMN = {
    MachineState.RUNNING: 0,
    MachineState.IDLE: 1,
    MachineState.FAULT: 2,
    MachineState.MAINTENANCE: 2,
    MachineState.OFF: 3,
}


@dataclass(frozen=True, slots=True)
class Report:
    """Machines that do not report, park-wide and by enterprise."""

    at_ms: int
    expected: int
    reporting: int
    never_reported: int
    silent: int
    unexpected: int
    enterprises: tuple[EnterpriseReport, ...]
    missing: int = 0


def duration_text(ms: float) -> str:
    """``750`` -> ``0.8s``, ``90_000`` -> ``1m 30s``, ``7_500_000`` -> ``2h 5m``."""
    seconds = max(0.0, ms / 1000)
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60}s" if whole % 60 else f"{whole // 60}m"
    hours, minutes = whole // 3600, whole % 3600 // 60
    return f"{hours}h {minutes}m" if minutes else f"{hours}h"


class _Gateway:
    __slots__ = (
        "alert",
        "back_at",
        "calendar",
        "clear_since",
        "down_since",
        "enterprise",
        "members",
        "online",
        "seen",
    )

    def __init__(self, enterprise: str, calendar: WorkCalendar | None) -> None:
        self.enterprise = enterprise
        self.online: bool | None = None
        self.down_since = 0
        self.back_at = _NEVER
        self.members: set[str] = set()
        """Machines the gateway said it reads (birth message)."""
        self.seen: set[str] = set()
        """Machines that reported through it."""
        self.alert: Alert | None = None
        self.clear_since: int | None = None
        self.calendar = calendar


class _Machine:
    __slots__ = (
        "alerts",
        "arrival",
        "boot",
        "enterprise",
        "expect_since",
        "fault_since",
        "gateway",
        "idle_after",
        "idle_clear",
        "idle_mark",
        "interval",
        "machine",
        "offline_clear",
        "pairs_total",
        "pairs_ts",
        "seq",
        "silent",
        "state",
        "stopped_clear",
        "style",
        "ts",
        "window",
    )

    def __init__(self, enterprise: str, machine: str, gateway: _Gateway, idle_after: int) -> None:
        self.enterprise = enterprise
        self.machine = machine
        self.gateway = gateway
        self.ts = _NEVER
        self.seq = -1
        self.boot = ""
        self.state: MachineState | None = None
        self.pairs_total: int | None = None
        self.style: str | None = None
        self.arrival = _NEVER
        self.interval = 0.0
        self.pairs_ts = _NEVER
        self.expect_since = _NEVER
        self.fault_since = _NEVER
        self.idle_after = idle_after
        self.alerts: dict[Kind, Alert] | None = None
        self.idle_clear: int | None = None
        self.idle_mark = _NEVER
        self.stopped_clear: int | None = None
        self.offline_clear: int | None = None
        self.silent = False
        self.window = 0
        """The offline window (ms), kept up to date with the interval estimate."""


class Tracker:
    """Every machine's alert state. Call from one thread; ``take`` the events it produced."""

    def __init__(
        self,
        config: TrackerConfig,
        *,
        calendar: ParkCalendar | None = None,
        registry: ParkRegistry | None = None,
        now_ms: int = 0,
    ) -> None:
        self.config = config
        self._calendar = calendar or ParkCalendar()
        self._registry = registry or ParkRegistry()
        self._machines: dict[tuple[str, str], _Machine] = {}
        self._gateways: dict[str, _Gateway] = {}
        self._silence: Timers[_Machine] = Timers()
        self._gateway_timers: Timers[_Gateway] = Timers()
        self._events: list[Alert] = []
        self._firing = dict.fromkeys(Kind, 0)
        self._never: dict[str, set[str]] = {}
        self._never_alerts: dict[str, Alert] = {}
        self._silent: dict[str, set[str]] = {}
        self._fixed_window = config.offline_after_ms
        self._intervals = config.offline_intervals
        self._min_window = config.min_offline_ms
        self._resume = now_ms
        self._last_tick: int | None = None
        self._outage = False
        self.started_ms = now_ms
        self.set_registry(self._registry)

    # ------------------------------------------------------------------ configuration

    def set_registry(self, registry: ParkRegistry) -> None:
        """Expect the registry's machines (and use their styles); keeps everything else."""
        self._registry = registry
        self._never = {
            e: {m for m in machines if (e, m) not in self._machines}
            for e, machines in registry.enterprises.items()
        }
        for mach in self._machines.values():
            mach.idle_after = self._idle_after(mach)

    def set_calendar(self, calendar: ParkCalendar) -> None:
        self._calendar = calendar
        for gateway in self._gateways.values():
            gateway.calendar = calendar.for_enterprise(gateway.enterprise)

    def restore(self, alerts: Iterable[Alert], machines: Iterable[MachineRecord]) -> None:
        """Take back the firing set and the known machines after a restart (no events).

        Every restored machine gets a full offline window from the tracker's start.
        """
        for record in machines:
            mach = self._machine(record.enterprise, record.machine)
            mach.arrival = record.arrival_ms
            mach.interval = record.interval_ms
            mach.state = None if record.state is None else MachineState(record.state)
            mach.style = record.style
            mach.idle_after = self._idle_after(mach)
            self._silence.schedule(mach, max(mach.arrival, self._resume) + self._window(mach))
        for alert in alerts:
            if not alert.firing:
                continue
            if alert.kind is _NEVER_REPORTED:
                self._never_alerts[alert.enterprise] = alert
            elif alert.machine is None:
                gateway = self._gateway(alert.enterprise)
                gateway.alert = alert
                gateway.online = False
                gateway.down_since = alert.since_ms
                gateway.members.update(alert.machines)
            else:
                mach = self._machine(alert.enterprise, alert.machine)
                if mach.arrival == _NEVER:
                    mach.arrival = alert.since_ms if alert.kind is _OFFLINE else self._resume
                    deadline = max(mach.arrival, self._resume) + self._window(mach)
                    self._silence.schedule(mach, deadline)
                if mach.alerts is None:
                    mach.alerts = {}
                mach.alerts[alert.kind] = alert
                mach.pairs_total = alert.pairs_total
                if alert.kind is _IDLE_KIND:
                    mach.idle_mark = alert.since_ms
            self._firing[alert.kind] += 1

    # ------------------------------------------------------------------ inputs

    def reading(  # noqa: PLR0912 - the hot path: one call per reading, helpers only when needed
        self,
        enterprise: str,
        machine: str,
        ts: int,
        seq: int,
        boot: str,
        state: MachineState,
        pairs: int,
        pairs_total: int,
        style: str | None,
        now: int,
    ) -> None:
        """An accepted reading (``pairs``: knitted since the machine's previous reading)."""
        mach = self._machines.get((enterprise, machine))
        if mach is None:
            mach = self._machine(enterprise, machine)
        mach.arrival = now
        if mach.silent or mach.alerts is not None or mach.gateway.online is False:
            self._heard(mach, now)
        last_ts = mach.ts
        if ts > last_ts and seq > mach.seq and boot == mach.boot:
            # interval estimate: dropped readings show as a gap in seq, not a longer interval
            sample = (ts - last_ts) / (seq - mach.seq)
            estimate = mach.interval
            if estimate > 0:
                if sample > 2 * estimate:
                    sample = 2 * estimate
                elif sample < estimate / 2:
                    sample = estimate / 2
                sample = estimate + _ALPHA * (sample - estimate)
            mach.interval = sample
            if self._fixed_window is None:
                window = int(self._intervals * sample)
                mach.window = window if window > self._min_window else self._min_window
        if pairs > 0 and ts > mach.pairs_ts:
            mach.pairs_ts = ts
        if ts < last_ts:  # late: its pairs count, its state does not
            if mach.alerts and pairs > 0:
                self._clear(mach, last_ts, 0, now)
        else:
            if state is not mach.state or last_ts == _NEVER:
                self._transition(mach, state, ts)
            mach.ts = ts
            mach.seq = seq
            mach.boot = boot
            mach.pairs_total = pairs_total
            if style is not None and style != mach.style:
                mach.style = style
                mach.idle_after = self._idle_after(mach)
            if mach.alerts:
                self._clear(mach, ts, pairs, now)
            if state is _RUNNING or state is _IDLE:
                since = mach.pairs_ts
                if mach.expect_since > since:  # noqa: PLR1730 - cheaper than max() per reading
                    since = mach.expect_since
                if ts - since >= mach.idle_after:
                    self._idle(mach, ts, since, now)
            elif state is _FAULT and ts - mach.fault_since >= self.config.fault_after_ms:
                self._stopped(mach, ts, now)
        self._silence.schedule(mach, now + mach.window)

    def _transition(self, mach: _Machine, state: MachineState, ts: int) -> None:
        """The state changed (or the first reading since the start): when spells begin."""
        previous = None if mach.ts == _NEVER else mach.state
        if state is _RUNNING or state is _IDLE:
            if previous is not _RUNNING and previous is not _IDLE:
                mach.expect_since = ts
        elif state is _FAULT and previous is not _FAULT:
            mach.fault_since = ts
        mach.state = state

    def _heard(self, mach: _Machine, now: int) -> None:
        """A reading arrived from a machine that was silent, alerting or behind a dead gateway."""
        if mach.silent:
            mach.silent = False
            self._silent[mach.enterprise].discard(mach.machine)
        gateway = mach.gateway
        if gateway.online is False:
            self._gateway_back(gateway, now, "machines of the gateway report again")
        alerts = mach.alerts
        if alerts is not None and _OFFLINE in alerts:
            if mach.offline_clear is None:
                mach.offline_clear = now
            if now - mach.offline_clear >= self.config.resolve_after_ms:
                self._resolve(mach, alerts[_OFFLINE], now, "reporting again")

    def status(
        self, enterprise: str, *, online: bool, machines: Iterable[str] | None, now: int
    ) -> None:
        """A gateway's birth message (``online``) or Last Will / goodbye (not ``online``)."""
        gateway = self._gateway(enterprise)
        if machines is not None:
            gateway.members.update(machines)
        if online:
            self._gateway_back(gateway, now, "gateway back online")
        else:
            self._gateway_down(gateway, now)

    def tick(self, now: int, *, intake_ok: bool = True) -> None:
        """Run the timers due by ``now``. ``intake_ok`` False: the collector cannot receive
        (no broker connection), so silence means nothing until it can again."""
        if not intake_ok:
            self._outage = True
            self._last_tick = now
            return
        last = self._last_tick
        if self._outage or (last is not None and now - last > self.config.stall_ms):
            self._resume = now
            self._outage = False
        self._last_tick = now
        for mach in self._silence.expired(now):
            self._check_silence(mach, now)
        for gateway in self._gateway_timers.expired(now):
            self._check_gateway(gateway, now)

    def take(self) -> list[Alert]:
        """The notifications produced since the last call, in order."""
        events = self._events
        self._events = []
        return events

    # ------------------------------------------------------------------ queries

    def firing_counts(self) -> dict[Kind, int]:
        return dict(self._firing)

    def firing(self) -> Iterator[Alert]:
        """Every firing alert (machines', then gateways')."""
        for mach in self._machines.values():
            if mach.alerts:
                yield from mach.alerts.values()
        for gateway in self._gateways.values():
            if gateway.alert is not None:
                yield gateway.alert
        yield from self._never_alerts.values()

    def alerts_of(self, enterprise: str, machine: str) -> list[Alert]:
        """The firing alerts that concern one machine, its gateway's included, oldest first."""
        out: list[Alert] = []
        mach = self._machines.get((enterprise, machine))
        if mach is not None and mach.alerts:
            out.extend(mach.alerts.values())
        gateway = self._gateways.get(enterprise)
        if gateway is not None and gateway.alert is not None and machine in gateway.alert.machines:
            out.append(gateway.alert)
        never = self._never_alerts.get(enterprise)
        if never is not None and machine in never.machines:
            out.append(never)
        out.sort(key=lambda a: a.at_ms)
        return out

    def records(self) -> list[MachineRecord]:
        """Every known machine, for the store."""
        return [
            MachineRecord(
                m.enterprise,
                m.machine,
                m.arrival,
                m.interval,
                None if m.state is None else m.state.value,
                m.style,
            )
            for m in self._machines.values()
        ]

    def interval_ms(self, enterprise: str, machine: str) -> float | None:
        mach = self._machines.get((enterprise, machine))
        return None if mach is None or mach.interval <= 0 else mach.interval

    def __len__(self) -> int:
        return len(self._machines)

    @property
    def timer_heap_size(self) -> int:
        return self._silence.heap_size + self._gateway_timers.heap_size

    def report(
        self, now: int, missing: Mapping[str, int] | None = None, *, never_reported: bool = True
    ) -> Report:
        """Machines of the registry that never reported, and machines that went silent;
        ``missing``: readings lost upstream per enterprise (the accounting's count);
        ``never_reported`` False (within the grace period after a start): none listed yet."""
        missing = missing or {}
        expected_by = self._registry.enterprises
        by_state: dict[str, list[int]] = {}
        alerts: dict[str, list[int]] = {}
        for mach in self._machines.values():
            if mach.alerts:
                firing = alerts.get(mach.enterprise)
                if firing is None:
                    firing = alerts[mach.enterprise] = [0, 0, 0]
                for kind in mach.alerts:
                    firing[_ALERT_COLUMN[kind]] += 1
            if mach.silent or mach.state is None:
                continue
            counts = by_state.get(mach.enterprise)
            if counts is None:
                counts = by_state[mach.enterprise] = [0, 0, 0, 0]
            counts[_STATE_COLUMN[mach.state]] += 1
        for down in self._gateways.values():
            if down.alert is not None:
                firing = alerts.setdefault(down.enterprise, [0, 0, 0])
                firing[_ALERT_COLUMN[Kind.OFFLINE]] += len(down.alert.machines)
        names = set(expected_by) | {e for e, s in self._silent.items() if s}
        names |= {e for e, g in self._gateways.items() if g.online is False}
        names |= set(by_state) | set(alerts) | set(missing)
        rows = []
        for enterprise in sorted(names):
            expected = expected_by.get(enterprise, {})
            never = self._never.get(enterprise, set())
            listed = never if never_reported else set()
            gateway = self._gateways.get(enterprise)
            seen = gateway.seen if gateway is not None else set()
            silent = set(self._silent.get(enterprise, ()))
            if gateway is not None and gateway.online is False:
                silent |= seen
            reporting = sum(1 for m in expected if m not in never and m not in silent)
            unexpected = sum(1 for m in seen if m not in expected and m not in silent)
            if gateway is not None and gateway.online is False:
                states = (0, 0, 0, 0)
            else:
                c = by_state.get(enterprise, [0, 0, 0, 0])
                states = (c[0], c[1], c[2], c[3])
            a = alerts.get(enterprise, [0, 0, 0])
            rows.append(
                EnterpriseReport(
                    enterprise,
                    len(expected),
                    reporting,
                    tuple(sorted(listed)),
                    tuple(sorted(silent)),
                    unexpected,
                    states,
                    (a[0], a[1], a[2]),
                    missing.get(enterprise, 0),
                )
            )
        return Report(
            at_ms=now,
            expected=sum(r.expected for r in rows),
            reporting=sum(r.reporting for r in rows),
            never_reported=sum(len(r.never_reported) for r in rows),
            silent=sum(len(r.silent) for r in rows),
            unexpected=sum(r.unexpected for r in rows),
            enterprises=tuple(rows),
            missing=sum(r.missing for r in rows),
        )

    def check_never_reported(self, now: int, grace_ms: int) -> None:
        """Fire one alert per enterprise whose registry machines were never heard from, once
        ``grace_ms`` has passed since the start and since its working period began; resolve it
        when none is left. Call it after the grace period, every summary."""
        for enterprise, never in self._never.items():
            if not never or enterprise in self._never_alerts:
                continue
            since = self.started_ms
            calendar = self._calendar.for_enterprise(enterprise)
            if calendar is not None:
                period = calendar.period(now)
                if not period.working:
                    continue
                since = max(since, period.start)
            if now - since < grace_ms:
                continue
            machines = tuple(sorted(never))
            alert = Alert(
                enterprise,
                None,
                _NEVER_REPORTED,
                Status.FIRING,
                self.started_ms,
                now,
                f"{len(machines)} machines of the registry never reported",
                None,
                machines,
            )
            self._never_alerts[enterprise] = alert
            self._firing[_NEVER_REPORTED] += 1
            self._events.append(alert)
        for enterprise, alert in list(self._never_alerts.items()):
            if enterprise not in self._registry.enterprises:
                self._resolve_never(alert, now, "no longer in the registry")
            elif not self._never.get(enterprise):
                self._resolve_never(alert, now, "every machine reported or left the registry")

    def _resolve_never(self, alert: Alert, now: int, reason: str) -> None:
        del self._never_alerts[alert.enterprise]
        self._firing[_NEVER_REPORTED] -= 1
        self._events.append(alert.resolve(now, reason))

    # ------------------------------------------------------------------ machines

    def _gateway(self, enterprise: str) -> _Gateway:
        gateway = self._gateways.get(enterprise)
        if gateway is None:
            calendar = self._calendar.for_enterprise(enterprise)
            gateway = self._gateways[enterprise] = _Gateway(enterprise, calendar)
        return gateway

    def _machine(self, enterprise: str, machine: str) -> _Machine:
        key = (enterprise, machine)
        mach = self._machines.get(key)
        if mach is None:
            gateway = self._gateway(enterprise)
            mach = self._machines[key] = _Machine(
                enterprise, machine, gateway, self.config.idle_after_ms
            )
            mach.idle_after = self._idle_after(mach)
            self._window(mach)
            gateway.seen.add(machine)
            never = self._never.get(enterprise)
            if never:
                never.discard(machine)
        return mach

    def _idle_after(self, mach: _Machine) -> int:
        by_style = self.config.idle_after_by_style
        if not by_style:
            return self.config.idle_after_ms
        style = mach.style or self._registry.style(mach.enterprise, mach.machine)
        if style is None:
            return self.config.idle_after_ms
        return by_style.get(style, self.config.idle_after_ms)

    def _window(self, mach: _Machine) -> int:
        """The machine's offline window from its interval estimate (and remember it)."""
        config = self.config
        if config.offline_after_ms is not None:
            window = config.offline_after_ms
        else:
            interval = mach.interval if mach.interval > 0 else config.initial_interval_ms
            window = max(config.min_offline_ms, int(config.offline_intervals * interval))
        mach.window = window
        return window

    def _idle(self, mach: _Machine, ts: int, since: int, now: int) -> None:
        """No pairs since ``since`` for at least the idle threshold: fire unless planned."""
        since_working = self._unplanned_since(mach, _IDLE_KIND, since, ts, mach.idle_after)
        if since_working is None:
            return
        mach.idle_mark = since_working
        reason = f"no pairs knitted for {duration_text(ts - since_working)} while {mach.state}"
        self._fire(mach, _IDLE_KIND, since_working, now, reason)

    def _stopped(self, mach: _Machine, ts: int, now: int) -> None:
        """In fault for at least the fault threshold: fire unless planned."""
        threshold = self.config.fault_after_ms
        since = self._unplanned_since(mach, _STOPPED, mach.fault_since, ts, threshold)
        if since is None:
            return
        self._fire(mach, _STOPPED, since, now, f"reporting fault for {duration_text(ts - since)}")

    @staticmethod
    def _unplanned_since(
        mach: _Machine, kind: Kind, since: int, ts: int, threshold: int
    ) -> int | None:
        """When a condition that began at ``since`` (and has lasted ``threshold`` by ``ts``)
        should count from, or None: its alert already fires, the enterprise is not working at
        ``ts``, or the working time since ``since`` is shorter than ``threshold``."""
        alerts = mach.alerts
        if alerts is not None and kind in alerts:
            return None
        calendar = mach.gateway.calendar
        if calendar is not None:
            period = calendar.period(ts)
            if not period.working:
                return None
            since = max(since, period.start)
            if ts - since < threshold:
                return None
        return since

    def _clear(self, mach: _Machine, ts: int, pairs: int, now: int) -> None:
        """Resolve the idle or stopped alert that the newest reading (at ``ts``) shows over."""
        alerts = mach.alerts
        assert alerts is not None  # noqa: S101 - callers check
        state = mach.state
        planned = state is _MAINTENANCE or state is _OFF
        resolve_after = self.config.resolve_after_ms
        alert = alerts.get(_IDLE_KIND)
        if alert is not None:
            if planned:
                self._resolve(mach, alert, now, f"planned downtime (state {state})")
            elif pairs == 0 and state is not _RUNNING:
                mach.idle_clear = None  # stopped again: production must start over
                mach.idle_mark = ts
            elif mach.pairs_ts > mach.idle_mark:
                if mach.idle_clear is None:
                    mach.idle_clear = mach.pairs_ts
                if ts - mach.idle_clear >= resolve_after:
                    self._resolve(mach, alert, now, "knitting again")
        alert = alerts.get(_STOPPED)
        if alert is not None:
            if planned:
                self._resolve(mach, alert, now, f"planned downtime (state {state})")
            elif state is _FAULT:
                mach.stopped_clear = None
            else:
                if mach.stopped_clear is None:
                    mach.stopped_clear = ts
                if ts - mach.stopped_clear >= resolve_after:
                    self._resolve(mach, alert, now, f"no longer in fault (state {state})")

    def _check_silence(self, mach: _Machine, now: int) -> None:
        gateway = mach.gateway
        window = self._window(mach)
        deadline = max(mach.arrival, self._resume, gateway.back_at) + window
        if deadline > now:
            self._silence.schedule(mach, deadline)
            return
        if not mach.silent:
            mach.silent = True
            self._silent.setdefault(mach.enterprise, set()).add(mach.machine)
        alerts = mach.alerts
        if alerts is not None and _OFFLINE in alerts:
            mach.offline_clear = None
            return
        if mach.state is _MAINTENANCE or mach.state is _OFF or gateway.online is False:
            return  # planned, or covered by the gateway's alert; the next event re-arms it
        calendar = gateway.calendar
        if calendar is not None:
            period = calendar.period(now)
            if not period.working:
                self._silence.schedule(mach, period.end + window)
                return
            if period.start + window > now:
                self._silence.schedule(mach, period.start + window)
                return
        expected = (
            f"--offline-after {duration_text(window)}"
            if self.config.offline_after_ms is not None
            else f"expected every {duration_text(mach.interval or self.config.initial_interval_ms)}"
        )
        self._fire(
            mach,
            _OFFLINE,
            mach.arrival,
            now,
            f"no reading for {duration_text(now - mach.arrival)} ({expected})",
        )

    def _fire(self, mach: _Machine, kind: Kind, since: int, now: int, reason: str) -> None:
        alert = Alert(
            mach.enterprise, mach.machine, kind, Status.FIRING, since, now, reason,
            mach.pairs_total,
        )  # fmt: skip
        if mach.alerts is None:
            mach.alerts = {}
        mach.alerts[kind] = alert
        if kind is _IDLE_KIND:
            mach.idle_clear = None
        elif kind is _STOPPED:
            mach.stopped_clear = None
        else:
            mach.offline_clear = None
        self._firing[kind] += 1
        self._events.append(alert)

    def _resolve(self, mach: _Machine, alert: Alert, now: int, reason: str) -> None:
        alerts = mach.alerts
        assert alerts is not None  # noqa: S101 - the alert is one of them
        del alerts[alert.kind]
        if not alerts:
            mach.alerts = None
        self._firing[alert.kind] -= 1
        self._events.append(alert.resolve(now, reason, mach.pairs_total))

    # ------------------------------------------------------------------ gateways

    def _gateway_down(self, gateway: _Gateway, now: int) -> None:
        if gateway.online is False:
            return  # a Last Will seen again (retained, redelivered)
        gateway.online = False
        gateway.down_since = now
        gateway.clear_since = None
        self._gateway_timers.cancel(gateway)
        if gateway.alert is None:
            self._fire_gateway(gateway, now)

    def _fire_gateway(self, gateway: _Gateway, now: int) -> None:
        calendar = gateway.calendar
        if calendar is not None:
            period = calendar.period(now)
            if not period.working:
                self._gateway_timers.schedule(gateway, period.end)
                return
        machines = set(gateway.members) | gateway.seen
        machines.update(self._registry.enterprises.get(gateway.enterprise, ()))
        alert = Alert(
            gateway.enterprise,
            None,
            _OFFLINE,
            Status.FIRING,
            gateway.down_since,
            now,
            f"gateway offline: {len(machines)} machines",
            None,
            tuple(sorted(machines)),
        )
        gateway.alert = alert
        self._firing[_OFFLINE] += 1
        self._events.append(alert)

    def _gateway_back(self, gateway: _Gateway, now: int, reason: str) -> None:
        was_down = gateway.online is False
        gateway.online = True
        gateway.back_at = now
        alert = gateway.alert
        if alert is not None:
            if gateway.clear_since is None:
                gateway.clear_since = now
            if now - gateway.clear_since >= self.config.resolve_after_ms:
                self._resolve_gateway(gateway, now, reason)
            else:
                self._gateway_timers.schedule(
                    gateway, gateway.clear_since + self.config.resolve_after_ms
                )
        else:
            self._gateway_timers.cancel(gateway)
        if was_down:
            machines = self._machines
            enterprise = gateway.enterprise
            for machine in gateway.seen:
                mach = machines[(enterprise, machine)]
                self._silence.schedule(mach, max(now, mach.arrival) + self._window(mach))

    def _resolve_gateway(self, gateway: _Gateway, now: int, reason: str) -> None:
        alert = gateway.alert
        assert alert is not None  # noqa: S101 - callers check
        gateway.alert = None
        gateway.clear_since = None
        self._firing[_OFFLINE] -= 1
        self._events.append(alert.resolve(now, reason))

    def _check_gateway(self, gateway: _Gateway, now: int) -> None:
        if gateway.alert is not None:
            clear = gateway.clear_since
            if gateway.online and clear is not None:
                if now - clear >= self.config.resolve_after_ms:
                    self._resolve_gateway(gateway, now, "gateway back online")
                else:
                    self._gateway_timers.schedule(gateway, clear + self.config.resolve_after_ms)
        elif gateway.online is False:
            self._fire_gateway(gateway, now)
