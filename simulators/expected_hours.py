"""The hours before ``hosiery-sim backfill``'s simulated window: per enterprise, the model's
expected running share with noise of the size the simulation shows."""

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from contract import MachineState
from influx.rollups import ENTERPRISE_1H
from simulators.calibration import running_share, staffed_state_shares
from simulators.params import ParkParams
from simulators.park import MachineSpec
from simulators.rng import SplitMix64

HOUR = 3600
_TAU = 2.0 * math.pi
NOISE = 0.3
"""Relative standard deviation of one machine's hourly running share around its mean."""


@dataclass(frozen=True, slots=True)
class EnterprisePlan:
    """What the expected hours need of one enterprise, with its line templates."""

    id: str
    number: int
    shift: str
    machines: int
    nominal: float
    """Pairs per hour of all its machines at their nominal rates."""
    readings: int
    sd: float
    """Relative standard deviation of its hourly running share."""
    busy: str
    """``enterprise_1h`` line for pairs, the five state counts, planned_s, running_s and the
    time (s)."""
    off: str
    """``enterprise_1h`` line of an unstaffed hour, for the time (s)."""

    @classmethod
    def of(
        cls, id_: str, number: int, shift: str, machines: Sequence[MachineSpec], interval: float
    ) -> "EnterprisePlan":
        n = len(machines)
        readings = round(HOUR / interval * n)
        head = f"{ENTERPRISE_1H},enterprise={id_} pairs="
        tail = f",reported_s={HOUR * n}i"
        busy = (
            f"{head}%di,readings={readings}i,running=%di,idle=%di,fault=%di,maintenance=%di,"
            f"off=%di{tail},planned_s=%di,running_s=%r,machines={n}i %d000000000"
        )
        off = (
            f"{head}0i,readings={readings}i,running=0i,idle=0i,fault=0i,maintenance=0i,"
            f"off={readings}i{tail},planned_s=0i,running_s=0.0,machines={n}i %d000000000"
        )
        nominal = sum(m.style.pairs_per_hour for m in machines)
        return cls(id_, number, shift, n, nominal, readings, NOISE / math.sqrt(n), busy, off)


@dataclass(frozen=True, slots=True)
class Expectation:
    """The model's expected running share and how the stopped time splits among stop states."""

    share: float
    cut_idle: float
    """Share of the stopped time that is idle."""
    cut_fault: float
    """Share of the stopped time that is idle or in fault (the rest is maintenance)."""
    interval: float

    @classmethod
    def of(cls, params: ParkParams, interval: float) -> "Expectation":
        stops = staffed_state_shares(params.machine)
        stop_total = sum(v for k, v in stops.items() if k is not MachineState.RUNNING) or 1.0
        cut_idle = stops.get(MachineState.IDLE, 0.0) / stop_total
        cut_fault = cut_idle + stops.get(MachineState.FAULT, 0.0) / stop_total
        return cls(running_share(params.machine), cut_idle, cut_fault, interval)

    def day(
        self,
        plan: EnterprisePlan,
        rng: SplitMix64,
        hours: range,
        staffed: list[float],
        park: list[list[float]],
        sums: list[float],
    ) -> Iterator[str]:
        """The ``enterprise_1h`` lines of one enterprise-day; adds pairs, the five state counts,
        planned_s and running_s to ``sums`` and to each hour's row of ``park``.

        ``running_s`` is what the rollups compute for a machine-hour (running share of readings
        x seconds reported), added up: every machine reads every ``interval`` seconds, so it is
        the running readings x ``interval``."""
        share, cut_idle, cut_fault = self.share, self.cut_idle, self.cut_fault
        n = plan.machines
        x_per_second = n / self.interval
        readings = plan.readings
        nominal_per_second = plan.nominal / HOUR
        sd = plan.sd
        busy = plan.busy
        spare: float | None = None  # the second deviate of a Box-Muller pair
        for i, on in enumerate(staffed):
            hour = hours[i]
            row = park[i]
            if on <= 0.0:
                yield plan.off % hour
                sums[5] += readings
                row[5] += readings
                continue
            if spare is None:
                radius = math.sqrt(-2.0 * math.log(1.0 - rng.random())) * sd
                angle = _TAU * rng.random()
                noise = radius * math.cos(angle)
                spare = radius * math.sin(angle)
            else:
                noise, spare = spare, None
            running = share * (1.0 + noise)
            running = 0.0 if running < 0.0 else 1.0 if running > 1.0 else running
            x = on * x_per_second
            stopped = 1.0 - running
            c0 = round(x * running)
            c1 = round(x * (running + stopped * cut_idle))
            c2 = round(x * (running + stopped * cut_fault))
            c3 = round(x)
            values = (
                round(nominal_per_second * running * on),
                c0,
                c1 - c0,
                c2 - c1,
                c3 - c2,
                readings - c3,
                round(on) * n,
                c0 * self.interval,
            )
            yield busy % (*values, hour)
            for k in range(8):
                sums[k] += values[k]
                row[k] += values[k]
