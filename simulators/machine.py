"""One machine's state machine: running, idle, fault, maintenance, off.

While its enterprise is staffed (see :mod:`simulators.shifts`), a machine alternates between
running and stops. A running machine stops after an exponentially distributed time; the cause
(yarn change, waiting, yarn break, needle break, maintenance) is drawn in proportion to each
cause's rate, and the stop lasts an Erlang-distributed time with the cause's mean. Outside staffed
time the machine is off and its state machine is frozen: a machine broken at the end of a shift
is repaired in the next one. Because the stop process runs on staffed time only, the share of
staffed time spent running is exactly the renewal-reward ratio that
:mod:`simulators.calibration` computes.

Nothing here reads a clock: :meth:`MachineModel.advance` takes simulated epoch seconds.
"""

import bisect
import itertools
from dataclasses import dataclass

from contract import MachineState, StopReason
from simulators.errors import ParameterError
from simulators.rng import SplitMix64
from simulators.shifts import WorkCalendar

_STOP_STATES = (MachineState.IDLE, MachineState.FAULT, MachineState.MAINTENANCE)


@dataclass(frozen=True, slots=True)
class StopCause:
    """A reason a running machine stops: ``per_running_hour`` events, ``mean_minutes`` each;
    ``reason`` is what the machine publishes while stopped for it."""

    name: str
    state: MachineState
    per_running_hour: float
    mean_minutes: float
    reason: StopReason = StopReason.OTHER

    def __post_init__(self) -> None:
        if self.state not in _STOP_STATES:
            raise ParameterError(
                f"stop cause {self.name}: state must be idle, fault or maintenance"
            )
        if not 0.0 <= self.per_running_hour <= 60.0:
            raise ParameterError(f"stop cause {self.name}: per_running_hour must be 0-60")
        if not 0.0 < self.mean_minutes <= 7 * 24 * 60:
            raise ParameterError(f"stop cause {self.name}: mean_minutes must be in (0, 1 week]")


@dataclass(frozen=True, slots=True)
class MachineParams:
    """The stop causes and how stop durations and reported speeds vary."""

    stops: tuple[StopCause, ...]
    duration_shape: int
    """Erlang shape of stop durations: 1 is exponential, higher is more regular."""
    rpm_jitter: float
    """Relative spread (uniform +/-) of the reported cylinder speed while running."""

    def __post_init__(self) -> None:
        if not 1 <= self.duration_shape <= 20:
            raise ParameterError("duration_shape must be 1-20")
        if not 0.0 <= self.rpm_jitter < 0.5:
            raise ParameterError("rpm_jitter must be in [0, 0.5)")
        names = [cause.name for cause in self.stops]
        if len(set(names)) != len(names):
            raise ParameterError("stop cause names repeat")


DEFAULT_MACHINE = MachineParams(
    stops=(
        # A yarn cone runs out about every two hours of knitting; the operator swaps it.
        StopCause("yarn-change", MachineState.IDLE, 0.5, 5.0, reason=StopReason.YARN_CHANGE),
        # Waiting for an operator, for yarn or for a style changeover.
        StopCause("waiting", MachineState.IDLE, 0.15, 20.0, reason=StopReason.WAITING_MATERIAL),
        # A broken yarn end stops the machine; rethreading is quick.
        StopCause("yarn-break", MachineState.FAULT, 0.5, 3.0, reason=StopReason.YARN_BREAK),
        # A broken needle or sinker: the machine waits for a mechanic.
        StopCause("needle-break", MachineState.FAULT, 0.1, 20.0, reason=StopReason.NEEDLE_BREAK),
        # Cleaning, oiling and adjustment, about once a week of running.
        StopCause(
            "maintenance", MachineState.MAINTENANCE, 1 / 160, 180.0, reason=StopReason.MAINTENANCE
        ),
    ),
    duration_shape=2,
    rpm_jitter=0.02,
)


class Dynamics:
    """Stop causes compiled for fast draws, and the stationary shares of the states."""

    __slots__ = (
        "_initial_cumulative",
        "_stop_cumulative",
        "means",
        "reasons",
        "run_mean",
        "shape",
        "shares",
        "states",
    )

    def __init__(self, params: MachineParams) -> None:
        hazards = [cause.per_running_hour / 3600.0 for cause in params.stops]
        means = [cause.mean_minutes * 60.0 for cause in params.stops]
        total_hazard = sum(hazards)
        self.run_mean = 1.0 / total_hazard if total_hazard > 0 else float("inf")
        self.shape = params.duration_shape
        self.states = tuple(cause.state for cause in params.stops)
        self.reasons = tuple(cause.reason for cause in params.stops)
        self.means = tuple(means)
        self._stop_cumulative = (
            list(itertools.accumulate(h / total_hazard for h in hazards)) if total_hazard else []
        )
        # Renewal-reward: per second of running, a cause adds hazard x mean seconds of stop.
        weights = [1.0] + [h * m for h, m in zip(hazards, means, strict=True)]
        total = sum(weights)
        self.shares = tuple(w / total for w in weights)
        """Share of staffed time: index 0 running, then one per stop cause."""
        self._initial_cumulative = list(itertools.accumulate(self.shares))

    @property
    def running_share(self) -> float:
        return self.shares[0]

    def draw_stop(self, rng: SplitMix64) -> int:
        index = bisect.bisect_right(self._stop_cumulative, rng.random())
        return min(index, len(self.means) - 1)

    def next_episode(self, stop: int, rng: SplitMix64) -> tuple[int, float]:
        """The episode after one that ended: after running (``stop`` -1) a stop cause and its
        duration, after a stop a run (-1) and its duration."""
        if stop < 0:
            cause = self.draw_stop(rng)
            return cause, rng.erlang(self.shape, self.means[cause])
        return -1, rng.exponential(self.run_mean)

    def initial(self, rng: SplitMix64) -> tuple[int, float]:
        """A state and its remaining time drawn from the stationary distribution.

        The residual time of a stop in progress is a uniform fraction of a length-biased
        duration (an Erlang of one more stage), so the process is stationary from the start.
        """
        index = min(
            bisect.bisect_right(self._initial_cumulative, rng.random()), len(self.shares) - 1
        )
        if index == 0:
            if self.run_mean == float("inf"):
                return -1, self.run_mean
            return -1, rng.exponential(self.run_mean)
        stop = index - 1
        biased = rng.erlang(self.shape + 1, self.means[stop] * (self.shape + 1) / self.shape)
        return stop, rng.random() * biased


class MachineModel:
    """A machine's state and its knitted pairs, advanced through simulated time."""

    __slots__ = (
        "_calendar",
        "_dynamics",
        "_last",
        "_rate",
        "_remaining",
        "_rng",
        "_stop",
        "knitted",
        "stopped",
    )

    def __init__(
        self,
        *,
        pairs_per_second: float,
        calendar: WorkCalendar,
        dynamics: Dynamics,
        rng: SplitMix64,
        start: float,
    ) -> None:
        self._rate = pairs_per_second
        self._calendar = calendar
        self._dynamics = dynamics
        self._rng = rng
        self._last = start
        self._stop, self._remaining = dynamics.initial(rng)
        self.knitted = 0.0
        """Pairs knitted since ``start``, fractional (a pair in progress counts partly)."""
        self.stopped = [0.0] * len(dynamics.means)
        """Staffed seconds stopped since ``start``, per stop cause (by index)."""

    @property
    def time(self) -> float:
        """The simulated time the machine has been advanced to."""
        return self._last

    def advance(self, now: float) -> None:
        """Knit until simulated epoch second ``now`` (earlier times are ignored)."""
        if now <= self._last:
            return
        staffed = self._calendar.on_seconds(self._last, now)
        self._last = now
        dynamics = self._dynamics
        rng = self._rng
        while staffed > 0.0:
            remaining = self._remaining
            if staffed < remaining:
                self._remaining = remaining - staffed
                if self._stop < 0:
                    self.knitted += staffed * self._rate
                else:
                    self.stopped[self._stop] += staffed
                return
            staffed -= remaining
            if self._stop < 0:
                self.knitted += remaining * self._rate
            else:
                self.stopped[self._stop] += remaining
            self._stop, self._remaining = dynamics.next_episode(self._stop, rng)

    @property
    def running_s(self) -> float:
        """Staffed seconds running since ``start`` (pairs are knitted only while running)."""
        return self.knitted / self._rate if self._rate > 0 else 0.0

    def state(self, now: float) -> MachineState:
        """The state at ``now``, which must be the time last advanced to."""
        if not self._calendar.is_on(now):
            return MachineState.OFF
        if self._stop < 0:
            return MachineState.RUNNING
        return self._dynamics.states[self._stop]

    def reason(self, now: float) -> StopReason | None:
        """The stop reason at ``now`` (the time last advanced to); None while running or off."""
        if self._stop < 0 or not self._calendar.is_on(now):
            return None
        return self._dynamics.reasons[self._stop]

    def stopped_ms(self) -> dict[str, int]:
        """Whole milliseconds stopped since ``start`` per stop reason, for the reasons with any:
        what the controller's ``stopped_ms_total`` counters show (before their boot's base)."""
        out: dict[str, int] = {}
        for reason, seconds in zip(self._dynamics.reasons, self.stopped, strict=True):
            if seconds:
                out[reason.value] = out.get(reason.value, 0) + int(seconds * 1000.0)
        return out

    def stopped_by_reason(self) -> dict[str, float]:
        """Staffed seconds stopped since ``start``, per stop reason (causes sharing one add up)."""
        out: dict[str, float] = {}
        for reason, seconds in zip(self._dynamics.reasons, self.stopped, strict=True):
            out[reason.value] = out.get(reason.value, 0.0) + seconds
        return out
