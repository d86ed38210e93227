"""A run of the fleet: the broker, the park's size and seed, the pace, the faults and the
timeouts, checked when made."""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from simulators.broker import BrokerAddress
from simulators.errors import ParameterError
from simulators.faults import FaultRates
from simulators.params import DEFAULT_PARK, DEFAULT_SEED, ParkParams


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """A run of the fleet. ``machines`` None is the full park."""

    broker: BrokerAddress
    seed: int = DEFAULT_SEED
    machines: int | None = None
    interval: float = 10.0
    """Wall seconds between two readings of a machine."""
    speed: float = 1.0
    """Simulated seconds per wall second."""
    duration: float | None = None
    """Wall seconds of publishing before the shutdown (None: until stopped)."""
    jitter: float = 0.1
    """Relative spread (uniform +/-) of each interval."""
    faults: FaultRates = field(default_factory=FaultRates)
    sim_start: float | None = None
    """Simulated epoch seconds at the start (None: the wall clock at the start)."""
    params: ParkParams = DEFAULT_PARK
    keepalive: int = 60
    connect_timeout: float = 30.0
    shutdown_timeout: float = 30.0
    loop_period: float = 0.02
    """Seconds between two passes of the loop (readings due are published in batches)."""
    client_id_prefix: str = "gw-"
    """Gateway client ids are this + the enterprise id; change it to run two fleets on a broker."""
    gateway_passwords: Mapping[str, str] | None = field(default=None, repr=False)
    """Per-gateway accounts: each gateway logs in as its enterprise id with the password given
    here for it (a broker whose ACL lets an account publish only its own enterprise's topics).
    None: every gateway uses ``broker``'s user name and password."""

    def __post_init__(self) -> None:
        checks = (
            (0.01 <= self.interval <= 86400.0, "interval must be 0.01-86400 s"),
            (0.0 < self.speed <= 1e6, "speed must be in (0, 1000000]"),
            (self.duration is None or self.duration >= 0.0, "duration must not be negative"),
            (0.0 <= self.jitter < 1.0, "jitter must be in [0, 1)"),
            (5 <= self.keepalive <= 3600, "keepalive must be 5-3600 s"),
            (self.connect_timeout > 0 and self.shutdown_timeout > 0, "timeouts must be positive"),
            (0.001 <= self.loop_period <= 1.0, "loop period must be 0.001-1 s"),
            (
                re.fullmatch(r"[A-Za-z0-9_-]{0,40}", self.client_id_prefix) is not None,
                "client id prefix must be 0-40 characters of [A-Za-z0-9_-]",
            ),
        )
        for ok, message in checks:
            if not ok:
                raise ParameterError(message)
