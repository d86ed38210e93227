"""The text of ``hosiery-sim park --summary``."""

from collections import Counter

from contract import MachineState
from contract.registry import HOURS_PER_YEAR
from simulators.calibration import (
    expected_pairs_per_hour,
    staffed_state_shares,
    target_pairs_per_year,
)
from simulators.park import Park


def park_summary(park: Park) -> str:
    params = park.params
    college = park.college_enterprises
    college_machines = sum(len(e.machines) for e in college)
    low, median, high = park.size_stats()
    per_hour = expected_pairs_per_hour(park)
    per_year = per_hour * HOURS_PER_YEAR
    target = target_pairs_per_year(park)
    shifts = Counter(e.shift.name for e in park.enterprises)
    styles = Counter(m.style.name for m in park.machines)
    shares = staffed_state_shares(params.machine)
    if len(park.machines) == params.machines:
        target_text = f"{params.annual_target_pairs / 1e9:g} billion"
    else:
        target_text = (
            f"{target:,.0f}, the {params.annual_target_pairs / 1e9:g} billion of "
            f"{params.machines:,} machines scaled to {len(park.machines):,}"
        )
    rows = [
        ("enterprises", f"{len(park.enterprises):,}"),
        ("machines", f"{len(park.machines):,}"),
        ("college-founded enterprises", f"{len(college):,} ({college_machines:,} machines)"),
        (
            "other enterprises",
            (
                f"{len(park.enterprises) - len(college):,} "
                f"({len(park.machines) - college_machines:,} machines)"
            ),
        ),
        ("machines per enterprise", f"min {low} / median {median:g} / max {high}"),
        ("shift patterns", ", ".join(f"{n} {c:,}" for n, c in shifts.most_common())),
        (
            "styles (machines)",
            ", ".join(f"{s.name} {styles[s.name]:,}" for s in params.styles),
        ),
        (
            "staffed time",
            ", ".join(
                f"{state} {shares.get(state, 0.0):.1%}"
                for state in MachineState
                if state is not MachineState.OFF
            ),
        ),
        ("expected pairs per hour", f"{per_hour:,.0f}"),
        ("expected pairs per year", f"{per_year:,.0f} ({per_year / target:.1%} of {target_text})"),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"park of seed {park.seed}"] + [
        f"  {label:<{width}}  {value}" for label, value in rows
    ]
    return "\n".join(lines) + "\n"
