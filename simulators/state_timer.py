"""A machine of the simulator's model advanced in steps, with its staffed time per state, and
readings counted from seconds per state (``hosiery-sim backfill``'s simulated hours)."""

from contract import MachineState
from simulators.machine import Dynamics
from simulators.rng import SplitMix64

# Indexes of the per-state time accumulators.
RUNNING, IDLE, FAULT, MAINTENANCE, OFF = range(5)
_STOP_INDEX = {
    MachineState.IDLE: IDLE,
    MachineState.FAULT: FAULT,
    MachineState.MAINTENANCE: MAINTENANCE,
}
FIELDS = ("running", "idle", "fault", "maintenance", "off")


class StateTimer:
    """A machine of the simulator's model, advanced by steps, with time spent per state.

    Follows :class:`simulators.machine.MachineModel` exactly (the same draws from the same
    stream), adding up seconds running, idle, in fault and in maintenance while staffed.
    """

    __slots__ = ("_dynamics", "_rate", "_remaining", "_rng", "_stop", "knitted", "seconds")

    def __init__(self, pairs_per_second: float, dynamics: Dynamics, rng: SplitMix64) -> None:
        self._rate = pairs_per_second
        self._dynamics = dynamics
        self._rng = rng
        self._stop, self._remaining = dynamics.initial(rng)
        self.knitted = 0.0
        self.seconds = [0.0, 0.0, 0.0, 0.0, 0.0]

    def advance(self, staffed: float, span: float) -> None:
        """Live ``span`` seconds of which ``staffed`` are staffed (the rest is off)."""
        seconds = self.seconds
        seconds[OFF] += span - staffed
        dynamics = self._dynamics
        rng = self._rng
        while staffed > 0.0:
            remaining = self._remaining
            index = RUNNING if self._stop < 0 else _STOP_INDEX[dynamics.states[self._stop]]
            if staffed < remaining:
                self._remaining = remaining - staffed
                seconds[index] += staffed
                if self._stop < 0:
                    self.knitted += staffed * self._rate
                return
            staffed -= remaining
            seconds[index] += remaining
            if self._stop < 0:
                self.knitted += remaining * self._rate
            self._stop, self._remaining = dynamics.next_episode(self._stop, rng)

    def take(self) -> list[float]:
        """The seconds per state since the last call."""
        seconds = self.seconds
        self.seconds = [0.0, 0.0, 0.0, 0.0, 0.0]
        return seconds


def counts(seconds: list[float], interval: float) -> list[int]:
    """Readings per state for ``seconds`` per state: rounded so that they add up exactly.

    Each count is the difference of the rounded running totals, so it is within one of its
    exact value and the counts add up to the rounded total.
    """
    out = []
    done = 0
    cumulative = 0.0
    for s in seconds:
        cumulative += s
        upto = round(cumulative / interval)
        out.append(upto - done)
        done = upto
    return out
