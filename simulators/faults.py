"""Fault injection: what can go wrong between a machine controller and the broker.

Off by default. Rates are probabilities per reading, except gateway deaths (per gateway per
minute). Whatever the faults, no knitted pair becomes unobservable: a dropped reading's pairs are
carried by the machine's next reading of the same boot, a reading followed by a reboot is never
dropped, and a gateway that dies takes no readings until it is back (its machines keep knitting).
"""

import math
import random
from dataclasses import asdict, dataclass
from typing import NamedTuple

from simulators.errors import ParameterError
from simulators.malformed import MalformedKind


@dataclass(frozen=True, slots=True)
class FaultRates:
    """How often each fault happens (0 = never)."""

    reboot: float = 0.0
    """Per reading: the controller restarts right after it (counter to 0, new boot, seq to 0)."""
    duplicate: float = 0.0
    """Per reading: the same payload is published twice."""
    reorder: float = 0.0
    """Per reading: it is held back and published after the machine's next reading."""
    drop: float = 0.0
    """Per reading: it is never published (the next reading's counter carries its pairs)."""
    malformed: float = 0.0
    """Per reading: one malformed message is published in addition to it."""
    gateway_death: float = 0.0
    """Per gateway per minute: the connection is aborted without DISCONNECT (Last Will)."""
    gateway_downtime: float = 3.0
    """Mean seconds a dead gateway stays away (uniform between half and one and a half times)."""

    def __post_init__(self) -> None:
        for name in ("reboot", "duplicate", "reorder", "drop", "malformed", "gateway_death"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ParameterError(f"fault rate {name} must be a probability in [0, 1]")
        if not 0.1 <= self.gateway_downtime <= 3600.0:
            raise ParameterError("gateway downtime must be 0.1-3600 s")

    @classmethod
    def all(cls) -> "FaultRates":
        """Every fault, often enough to show up in a run of a few seconds with a few hundred
        machines reading every half second."""
        return cls(
            reboot=0.01,
            duplicate=0.03,
            reorder=0.03,
            drop=0.03,
            malformed=0.02,
            gateway_death=0.5,
            gateway_downtime=2.0,
        )

    @property
    def enabled(self) -> bool:
        return any(
            (self.reboot, self.duplicate, self.reorder, self.drop, self.malformed,
             self.gateway_death)
        )  # fmt: skip

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


class TickFaults(NamedTuple):
    """What happens to one reading."""

    reboot: bool = False
    drop: bool = False
    duplicate: bool = False
    hold: bool = False


NO_FAULTS = TickFaults()


@dataclass(slots=True)
class FaultCounts:
    """How many faults were injected in a run."""

    reboots: int = 0
    drops: int = 0
    duplicates: int = 0
    reorders: int = 0
    malformed: int = 0
    gateway_deaths: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class FaultInjector:
    """Draws faults from ``rng`` (readings) and ``death_rng`` (gateway deaths).

    Gateway deaths have their own generator so that, for a given seed, when gateways die
    relative to the start of the run does not depend on how many readings were drawn before.
    """

    def __init__(self, rates: FaultRates, rng: random.Random, death_rng: random.Random) -> None:
        self.rates = rates
        self._rng = rng
        self._death_rng = death_rng
        self._kinds = tuple(MalformedKind)
        probability = min(rates.gateway_death, 1.0 - 1e-9)
        self._deaths_per_second = -math.log(1.0 - probability) / 60.0

    def draw(self) -> TickFaults:
        rates = self.rates
        r = self._rng.random
        return TickFaults(
            reboot=r() < rates.reboot,
            drop=r() < rates.drop,
            duplicate=r() < rates.duplicate,
            hold=r() < rates.reorder,
        )

    def malformed(self) -> MalformedKind | None:
        if self._rng.random() < self.rates.malformed:
            return self._rng.choice(self._kinds)
        return None

    def time_to_death(self) -> float | None:
        """Seconds until a gateway dies next, or None when gateways never die."""
        if self._deaths_per_second <= 0.0:
            return None
        return self._death_rng.expovariate(self._deaths_per_second)

    def downtime(self) -> float:
        return self.rates.gateway_downtime * self._death_rng.uniform(0.5, 1.5)
