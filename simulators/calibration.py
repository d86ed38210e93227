"""Expected output, analytically: stationary state shares x staffed time x style rates.

A machine of style ``s`` in an enterprise working shift pattern ``p`` knits, on average over a
year, ``rate(s) x running_share x on_fraction(p)`` pairs an hour, where

* ``rate(s)`` is 3600 / (2 x the style's seconds per sock);
* ``running_share`` is the share of staffed time the machine runs: by the renewal-reward theorem,
  ``1 / (1 + sum over stop causes of rate per running hour x mean duration in hours)``;
* ``on_fraction(p)`` is the share of the year the enterprise is staffed (shift hours, weekly
  rest days, holidays).

The stop process runs on staffed time only and starts in its stationary distribution (see
:mod:`simulators.machine`), so the expectation also holds exactly for any time window:
:func:`expected_pairs_between`.
"""

from collections import defaultdict

from contract import MachineState
from contract.registry import HOURS_PER_YEAR
from simulators.machine import Dynamics, MachineParams
from simulators.params import ParkParams
from simulators.park import MachineSpec, Park
from simulators.shifts import ShiftPattern, WorkCalendar, on_fraction
from simulators.styles import Style


def staffed_state_shares(params: MachineParams) -> dict[MachineState, float]:
    """Share of staffed time in each state (running, idle, fault, maintenance)."""
    dynamics = Dynamics(params)
    shares: dict[MachineState, float] = defaultdict(float)
    shares[MachineState.RUNNING] = dynamics.shares[0]
    for state, share in zip(dynamics.states, dynamics.shares[1:], strict=True):
        shares[state] += share
    return dict(shares)


def running_share(params: MachineParams) -> float:
    return Dynamics(params).running_share


def machine_pairs_per_hour(style: Style, shift: ShiftPattern, params: ParkParams) -> float:
    """A machine's expected pairs per hour, averaged over a year."""
    return (
        style.pairs_per_hour * running_share(params.machine) * on_fraction(shift, params.calendar)
    )


def expected_pairs_per_hour(park: Park) -> float:
    """The park's expected pairs per hour, averaged over a year."""
    params = park.params
    share = running_share(params.machine)
    total = 0.0
    for enterprise in park.enterprises:
        staffed = on_fraction(enterprise.shift, params.calendar)
        total += staffed * sum(m.style.pairs_per_hour for m in enterprise.machines)
    return total * share


def expected_pairs_per_year(park: Park) -> float:
    return expected_pairs_per_hour(park) * HOURS_PER_YEAR


def target_pairs_per_year(park: Park) -> float:
    """The park's stated capacity, scaled to the machines of ``park``."""
    params = park.params
    return params.annual_target_pairs * len(park.machines) / params.machines


def mix_pairs_per_year(params: ParkParams) -> float:
    """Expected annual output of a park drawn from ``params``, over the draws of the seed.

    Shift patterns are drawn per enterprise independently of size, so a machine's pattern has
    the pattern shares; styles are drawn per machine.
    """
    rate = sum(style.share * style.pairs_per_hour for style in params.styles)
    staffed = sum(shift.share * on_fraction(shift, params.calendar) for shift in params.shifts)
    return params.machines * rate * staffed * running_share(params.machine) * HOURS_PER_YEAR


def expected_pairs_between(
    machines: list[MachineSpec] | tuple[MachineSpec, ...],
    calendars: dict[str, WorkCalendar],
    params: MachineParams,
    t0: float,
    t1: float,
) -> float:
    """Expected pairs the machines knit in simulated ``[t0, t1)``.

    ``calendars`` maps each machine's enterprise id to its working calendar.
    """
    share = running_share(params)
    staffed: dict[str, float] = {}
    total = 0.0
    for machine in machines:
        seconds = staffed.get(machine.enterprise)
        if seconds is None:
            seconds = calendars[machine.enterprise].on_seconds(t0, t1)
            staffed[machine.enterprise] = seconds
        total += machine.style.pairs_per_second * seconds
    return total * share
