"""What the tracker keeps: its thresholds, and the state of each machine and gateway."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from collector.alerting.model import Alert, Kind, Status
from contract import MachineState, StopReason
from contract.calendar import WorkCalendar

NEVER = -(2**62)
"""A time before any other: not yet."""

IDLE_AFTER_BY_REASON: Mapping[StopReason, int] = {
    StopReason.YARN_CHANGE: 1_200_000,
    StopReason.STYLE_CHANGE: 3_600_000,
}
"""Idle thresholds of stop reasons that take longer by nature (20 minutes, 1 hour)."""
FAULT_AFTER_BY_REASON: Mapping[StopReason, int] = {
    StopReason.NEEDLE_BREAK: 0,
    StopReason.YARN_CHANGE: 1_200_000,
    StopReason.STYLE_CHANGE: 3_600_000,
}
"""Stopped thresholds per stop reason: a needle break needs a mechanic at once."""


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """Thresholds, in milliseconds."""

    idle_after_ms: int = 600_000
    idle_after_by_style: Mapping[str, int] = field(default_factory=dict)
    fault_after_ms: int = 120_000
    idle_after_by_reason: Mapping[StopReason, int] = field(
        default_factory=lambda: dict(IDLE_AFTER_BY_REASON)
    )
    """Idle threshold while a machine reports a stop reason (others: by style, else idle_after)."""
    fault_after_by_reason: Mapping[StopReason, int] = field(
        default_factory=lambda: dict(FAULT_AFTER_BY_REASON)
    )
    """Stopped threshold of a fault with a stop reason (0: at once; others: fault_after)."""
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
        for reason, value in self.fault_after_by_reason.items():
            if value < 0:
                raise ValueError(f"fault_after for reason {reason} must not be negative")
        for reason, value in self.idle_after_by_reason.items():
            if value <= 0:
                raise ValueError(f"idle_after for reason {reason} must be positive")
        if self.resolve_after_ms < 0 or self.min_offline_ms < 0:
            raise ValueError("resolve_after and min_offline must not be negative")

    def offline_window(self, interval_ms: float) -> int:
        """How long a machine estimated to report every ``interval_ms`` (0: unknown) may be
        silent before it is offline."""
        if self.offline_after_ms is not None:
            return self.offline_after_ms
        interval = interval_ms if interval_ms > 0 else self.initial_interval_ms
        return max(self.min_offline_ms, int(self.offline_intervals * interval))


class MachineRecord(NamedTuple):
    """What the store keeps of a machine across restarts."""

    enterprise: str
    machine: str
    arrival_ms: int
    interval_ms: float
    state: str | None
    style: str | None


class Gateway:
    """One enterprise's gateway: online or not, its machines, its offline alert."""

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
        self.back_at = NEVER
        self.members: set[str] = set()
        """Machines the gateway said it reads (birth message)."""
        self.seen: set[str] = set()
        """Machines that reported through it."""
        self.alert: Alert | None = None
        self.clear_since: int | None = None
        self.calendar = calendar


class Machine:
    """One machine: its newest reading, its spells, its firing alerts, its offline window."""

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
        "reason",
        "seq",
        "silent",
        "state",
        "stopped_clear",
        "style",
        "ts",
        "window",
    )

    def __init__(self, enterprise: str, machine: str, gateway: Gateway, idle_after: int) -> None:
        self.enterprise = enterprise
        self.machine = machine
        self.gateway = gateway
        self.ts = NEVER
        self.seq = -1
        self.boot = ""
        self.state: MachineState | None = None
        self.pairs_total: int | None = None
        self.style: str | None = None
        self.reason: StopReason | None = None
        """The stop reason of the newest reading."""
        self.arrival = NEVER
        self.interval = 0.0
        self.pairs_ts = NEVER
        self.expect_since = NEVER
        self.fault_since = NEVER
        self.idle_after = idle_after
        self.alerts: dict[Kind, Alert] | None = None
        self.idle_clear: int | None = None
        self.idle_mark = NEVER
        self.stopped_clear: int | None = None
        self.offline_clear: int | None = None
        self.silent = False
        self.window = 0
        """The offline window (ms), kept up to date with the interval estimate."""

    def record(self) -> MachineRecord:
        """What the store keeps of it."""
        state = None if self.state is None else self.state.value
        return MachineRecord(
            self.enterprise, self.machine, self.arrival, self.interval, state, self.style
        )

    def unplanned_since(self, kind: Kind, since: int, ts: int, threshold: int) -> int | None:
        """When a condition that began at ``since`` (and has lasted ``threshold`` by ``ts``)
        should count from, or None: its alert already fires, the enterprise is not working at
        ``ts``, or the working time since ``since`` is shorter than ``threshold``."""
        alerts = self.alerts
        if alerts is not None and kind in alerts:
            return None
        calendar = self.gateway.calendar
        if calendar is not None:
            period = calendar.period(ts)
            if not period.working:
                return None
            since = max(since, period.start)
            if ts - since < threshold:
                return None
        return since

    def fire(self, kind: Kind, since: int, now: int, reason: str) -> Alert:
        """Fire an alert of ``kind`` on this machine; return its firing notification."""
        alert = Alert(
            self.enterprise, self.machine, kind, Status.FIRING, since, now, reason,
            self.pairs_total,
        )  # fmt: skip
        if self.alerts is None:
            self.alerts = {}
        self.alerts[kind] = alert
        if kind is Kind.IDLE:
            self.idle_clear = None
        elif kind is Kind.STOPPED:
            self.stopped_clear = None
        else:
            self.offline_clear = None
        return alert

    def resolve(self, alert: Alert, now: int, reason: str) -> Alert:
        """Resolve one of this machine's firing alerts; return its resolved notification."""
        alerts = self.alerts
        assert alerts is not None  # noqa: S101 - the alert is one of them
        del alerts[alert.kind]
        if not alerts:
            self.alerts = None
        return alert.resolve(now, reason, self.pairs_total)


class Events:
    """The notifications produced and not yet taken, and the count of firing alerts by kind."""

    __slots__ = ("firing", "pending")

    def __init__(self) -> None:
        self.pending: list[Alert] = []
        self.firing = dict.fromkeys(Kind, 0)

    def fired(self, alert: Alert) -> None:
        self.firing[alert.kind] += 1
        self.pending.append(alert)

    def resolved(self, alert: Alert) -> None:
        """``alert`` is the resolved notification."""
        self.firing[alert.kind] -= 1
        self.pending.append(alert)
