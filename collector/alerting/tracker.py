"""Detection and lifecycle of idle, stopped, offline and never-reported alerts: pure, ``now`` in.

``docs/alerting.md`` gives the conditions for operators; ``docs/architecture.md`` the design.
"""

from collections.abc import Iterable, Iterator, Mapping

from collector.alerting import reasons, reporting
from collector.alerting.calendar import ParkCalendar
from collector.alerting.gateways import Gateways
from collector.alerting.model import Alert, Kind
from collector.alerting.never import NeverReported
from collector.alerting.registry import ParkRegistry
from collector.alerting.reporting import Report
from collector.alerting.timers import Timers
from collector.alerting.tracked import NEVER, Events, Gateway, Machine, MachineRecord, TrackerConfig
from contract import MachineState, StopReason

__all__ = ["MachineRecord", "Report", "Tracker", "TrackerConfig"]

_RUNNING = MachineState.RUNNING
_IDLE = MachineState.IDLE
_FAULT = MachineState.FAULT
_MAINTENANCE = MachineState.MAINTENANCE
_OFF = MachineState.OFF
_IDLE_KIND = Kind.IDLE
_STOPPED = Kind.STOPPED
_OFFLINE = Kind.OFFLINE
_NEVER_REPORTED = Kind.NEVER_REPORTED
_ALPHA = 0.25
"""Weight of a new sample in a machine's interval estimate (exponential moving average)."""


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
        self._machines: dict[tuple[str, str], Machine] = {}
        self._events = Events()
        self._gateways = Gateways(
            self._calendar, self._registry, config.resolve_after_ms, self._events
        )
        self._silence: Timers[Machine] = Timers()
        self._never = NeverReported(self._events)
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
        self._gateways.registry = registry
        self._never.expect(registry.enterprises, self._machines.keys())
        for mach in self._machines.values():
            mach.idle_after = self._idle_after(mach)

    def set_calendar(self, calendar: ParkCalendar) -> None:
        self._calendar = calendar
        self._gateways.set_calendar(calendar)

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
                self._never.restore(alert)
                continue
            if alert.machine is None:
                self._gateways.restore(alert)
                continue
            mach = self._machine(alert.enterprise, alert.machine)
            if mach.arrival == NEVER:
                mach.arrival = alert.since_ms if alert.kind is _OFFLINE else self._resume
                deadline = max(mach.arrival, self._resume) + self._window(mach)
                self._silence.schedule(mach, deadline)
            if mach.alerts is None:
                mach.alerts = {}
            mach.alerts[alert.kind] = alert
            mach.pairs_total = alert.pairs_total
            if alert.kind is _IDLE_KIND:
                mach.idle_mark = alert.since_ms
            self._events.firing[alert.kind] += 1

    # ------------------------------------------------------------------ inputs

    def reading(  # noqa: PLR0912, PLR0915 - the hot path: one call per reading, helpers only when needed
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
        reason: StopReason | None = None,
    ) -> None:
        """An accepted reading (``pairs``: knitted since the machine's previous reading; its
        stop ``reason`` chooses the idle and stopped thresholds when it has one of its own)."""
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
            if state is not mach.state or last_ts == NEVER:
                self._transition(mach, state, ts)
            mach.ts = ts
            mach.seq = seq
            mach.boot = boot
            mach.pairs_total = pairs_total
            mach.reason = reason
            if style is not None and style != mach.style:
                mach.style = style
                mach.idle_after = self._idle_after(mach)
            if mach.alerts:
                self._clear(mach, ts, pairs, now)
            if state is _RUNNING or state is _IDLE:
                since = mach.pairs_ts
                if mach.expect_since > since:  # noqa: PLR1730 - cheaper than max() per reading
                    since = mach.expect_since
                after = mach.idle_after
                if reason is not None:
                    after = self.config.idle_after_by_reason.get(reason, after)
                if ts - since >= after:
                    self._idle(mach, ts, since, now, after)
            elif state is _FAULT:
                threshold = self.config.fault_after_ms
                if reason is not None:
                    threshold = self.config.fault_after_by_reason.get(reason, threshold)
                if ts - mach.fault_since >= threshold:
                    self._stopped(mach, ts, now, threshold)
        self._silence.schedule(mach, now + mach.window)

    def _transition(self, mach: Machine, state: MachineState, ts: int) -> None:
        """The state changed (or the first reading since the start): when spells begin."""
        previous = None if mach.ts == NEVER else mach.state
        if state is _RUNNING or state is _IDLE:
            if previous is not _RUNNING and previous is not _IDLE:
                mach.expect_since = ts
        elif state is _FAULT and previous is not _FAULT:
            mach.fault_since = ts
        mach.state = state

    def _heard(self, mach: Machine, now: int) -> None:
        """A reading arrived from a machine that was silent, alerting or behind a dead gateway."""
        if mach.silent:
            mach.silent = False
            self._silent[mach.enterprise].discard(mach.machine)
        gateway = mach.gateway
        if gateway.online is False:
            self._gateway_back(gateway, now, reasons.GATEWAY_MACHINES_BACK)
        alerts = mach.alerts
        if alerts is not None and _OFFLINE in alerts:
            if mach.offline_clear is None:
                mach.offline_clear = now
            if now - mach.offline_clear >= self.config.resolve_after_ms:
                self._resolve(mach, alerts[_OFFLINE], now, reasons.REPORTING_AGAIN)

    def status(
        self, enterprise: str, *, online: bool, machines: Iterable[str] | None, now: int
    ) -> None:
        """A gateway's birth message (``online``) or Last Will / goodbye (not ``online``)."""
        gateway = self._gateways.get(enterprise)
        if machines is not None:
            gateway.members.update(machines)
        if online:
            self._gateway_back(gateway, now, reasons.GATEWAY_BACK)
        else:
            self._gateways.down(gateway, now)

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
        self._gateways.expire(now)

    def take(self) -> list[Alert]:
        """The notifications produced since the last call, in order."""
        events = self._events.pending
        self._events.pending = []
        return events

    # ------------------------------------------------------------------ queries

    def firing_counts(self) -> dict[Kind, int]:
        return dict(self._events.firing)

    def firing(self) -> Iterator[Alert]:
        """Every firing alert (machines', then gateways')."""
        for mach in self._machines.values():
            if mach.alerts:
                yield from mach.alerts.values()
        yield from self._gateways.firing()
        yield from self._never.firing()

    def alerts_of(self, enterprise: str, machine: str) -> list[Alert]:
        """The firing alerts that concern one machine, its gateway's included, oldest first."""
        out: list[Alert] = []
        mach = self._machines.get((enterprise, machine))
        if mach is not None and mach.alerts:
            out.extend(mach.alerts.values())
        gateway = self._gateways.by_enterprise.get(enterprise)
        if gateway is not None and gateway.alert is not None and machine in gateway.alert.machines:
            out.append(gateway.alert)
        never = self._never.alert_of(enterprise)
        if never is not None and machine in never.machines:
            out.append(never)
        out.sort(key=lambda a: a.at_ms)
        return out

    def records(self) -> list[MachineRecord]:
        """Every known machine, for the store."""
        return [m.record() for m in self._machines.values()]

    def interval_ms(self, enterprise: str, machine: str) -> float | None:
        mach = self._machines.get((enterprise, machine))
        return None if mach is None or mach.interval <= 0 else mach.interval

    def __len__(self) -> int:
        return len(self._machines)

    @property
    def timer_heap_size(self) -> int:
        return self._silence.heap_size + self._gateways.heap_size

    def report(
        self, now: int, missing: Mapping[str, int] | None = None, *, never_reported: bool = True
    ) -> Report:
        """Machines of the registry that never reported, and machines that went silent;
        ``missing``: readings lost upstream per enterprise (the accounting's count);
        ``never_reported`` False (within the grace period after a start): none listed yet."""
        return reporting.count(
            now,
            self._machines.values(),
            self._gateways.by_enterprise,
            self._silent,
            self._never.waiting,
            self._registry.enterprises,
            missing or {},
            never_reported=never_reported,
        )

    def check_never_reported(self, now: int, grace_ms: int) -> None:
        """Fire one alert per enterprise whose registry machines were never heard from, once
        ``grace_ms`` has passed since the start and since its working period began; resolve it
        when none is left. Call it after the grace period, every summary."""
        registered = self._registry.enterprises.keys()
        self._never.check(now, grace_ms, self.started_ms, self._calendar, registered)

    # ------------------------------------------------------------------ machines

    def _machine(self, enterprise: str, machine: str) -> Machine:
        key = (enterprise, machine)
        mach = self._machines.get(key)
        if mach is None:
            gateway = self._gateways.get(enterprise)
            mach = self._machines[key] = Machine(
                enterprise, machine, gateway, self.config.idle_after_ms
            )
            mach.idle_after = self._idle_after(mach)
            self._window(mach)
            gateway.seen.add(machine)
            self._never.heard(enterprise, machine)
        return mach

    def _idle_after(self, mach: Machine) -> int:
        by_style = self.config.idle_after_by_style
        if not by_style:
            return self.config.idle_after_ms
        style = mach.style or self._registry.style(mach.enterprise, mach.machine)
        if style is None:
            return self.config.idle_after_ms
        return by_style.get(style, self.config.idle_after_ms)

    def _window(self, mach: Machine) -> int:
        """The machine's offline window from its interval estimate (and remember it)."""
        mach.window = window = self.config.offline_window(mach.interval)
        return window

    def _idle(self, mach: Machine, ts: int, since: int, now: int, threshold: int) -> None:
        """No pairs since ``since`` for at least the idle ``threshold``: fire unless planned."""
        since_working = mach.unplanned_since(_IDLE_KIND, since, ts, threshold)
        if since_working is None:
            return
        mach.idle_mark = since_working
        reason = reasons.idle(ts - since_working, mach.state, mach.reason)
        self._fire(mach, _IDLE_KIND, since_working, now, reason)

    def _stopped(self, mach: Machine, ts: int, now: int, threshold: int) -> None:
        """In fault for at least the stopped ``threshold``: fire unless planned."""
        since = mach.unplanned_since(_STOPPED, mach.fault_since, ts, threshold)
        if since is None:
            return
        self._fire(mach, _STOPPED, since, now, reasons.stopped(ts - since, mach.reason))

    def _clear(self, mach: Machine, ts: int, pairs: int, now: int) -> None:
        """Resolve the idle or stopped alert that the newest reading (at ``ts``) shows over."""
        alerts = mach.alerts
        assert alerts is not None  # noqa: S101 - callers check
        state = mach.state
        planned = state is _MAINTENANCE or state is _OFF
        resolve_after = self.config.resolve_after_ms
        alert = alerts.get(_IDLE_KIND)
        if alert is not None:
            if planned:
                self._resolve(mach, alert, now, reasons.planned(state))
            elif pairs == 0 and state is not _RUNNING:
                mach.idle_clear = None  # stopped again: production must start over
                mach.idle_mark = ts
            elif mach.pairs_ts > mach.idle_mark:
                if mach.idle_clear is None:
                    mach.idle_clear = mach.pairs_ts
                if ts - mach.idle_clear >= resolve_after:
                    self._resolve(mach, alert, now, reasons.KNITTING_AGAIN)
        alert = alerts.get(_STOPPED)
        if alert is not None:
            if planned:
                self._resolve(mach, alert, now, reasons.planned(state))
            elif state is _FAULT:
                mach.stopped_clear = None
            else:
                if mach.stopped_clear is None:
                    mach.stopped_clear = ts
                if ts - mach.stopped_clear >= resolve_after:
                    self._resolve(mach, alert, now, reasons.not_in_fault(state))

    def _check_silence(self, mach: Machine, now: int) -> None:
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
        interval = mach.interval or self.config.initial_interval_ms
        reason = reasons.offline(
            now - mach.arrival, fixed_ms=self.config.offline_after_ms, interval_ms=interval
        )
        self._fire(mach, _OFFLINE, mach.arrival, now, reason)

    def _fire(self, mach: Machine, kind: Kind, since: int, now: int, reason: str) -> None:
        self._events.fired(mach.fire(kind, since, now, reason))

    def _resolve(self, mach: Machine, alert: Alert, now: int, reason: str) -> None:
        self._events.resolved(mach.resolve(alert, now, reason))

    def _gateway_back(self, gateway: Gateway, now: int, reason: str) -> None:
        """The gateway is back: every machine seen through it gets a full offline window."""
        if self._gateways.back(gateway, now, reason):
            machines = self._machines
            enterprise = gateway.enterprise
            for machine in gateway.seen:
                mach = machines[(enterprise, machine)]
                self._silence.schedule(mach, max(now, mach.arrival) + self._window(mach))
