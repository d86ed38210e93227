"""What one frame of ``hosiery-top`` shows: the park's rate and today's pairs against capacity,
machines by state, the machines not knitting and the alerts firing."""

from dataclasses import dataclass, field

from stack.probe import CollectorStatus

STATES = ("running", "idle", "fault", "maintenance", "off")


@dataclass(frozen=True)
class Capacity:
    pairs_per_hour: float
    source: str


@dataclass(frozen=True)
class IdleMachine:
    enterprise: str
    machine: str
    state: str
    last_pairs_ms: int | None
    """When the machine last reported pairs within the window (None: not within it)."""


@dataclass(frozen=True)
class FiringAlert:
    enterprise: str
    machine: str | None
    kind: str
    since_ms: int
    reason: str
    machine_count: int = 1

    @property
    def who(self) -> str:
        """The machine, or the gateway and how many machines it stands for."""
        if self.machine:
            return f"{self.enterprise}/{self.machine}"
        return f"{self.enterprise} gateway ({self.machine_count:,} machines)"


@dataclass(frozen=True)
class Snapshot:
    at_ms: int
    window_s: float
    pairs: int
    """Pairs knitted in the window (or since the first reading, when that is later)."""
    covered_s: float
    """Seconds the rate is taken over: the window, or the time since the first reading when that
    is shorter (just after the start), but never less than a minute."""
    states: dict[str, int]
    reporting: int
    expected: int | None
    last_reading_ms: int | None
    capacity: Capacity
    idle: list[IdleMachine] = field(default_factory=list)
    alerts: list[FiringAlert] = field(default_factory=list)
    today_pairs: int = 0
    today_s: float = 0.0
    """Seconds since park-local midnight."""
    collector: CollectorStatus | None = None

    @property
    def rate(self) -> float:
        """Pairs per hour."""
        return self.pairs * 3600.0 / self.covered_s if self.covered_s > 0 else 0.0

    @property
    def share(self) -> float:
        """The rate's share of capacity."""
        per_hour = self.capacity.pairs_per_hour
        return self.rate / per_hour if per_hour else 0.0

    @property
    def today_capacity(self) -> float:
        """Pairs the capacity allows from midnight until now."""
        return self.capacity.pairs_per_hour * self.today_s / 3600.0

    @property
    def today_share(self) -> float:
        capacity = self.today_capacity
        return self.today_pairs / capacity if capacity else 0.0
