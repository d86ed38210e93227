"""The reason texts of alerts: what fired or resolved them, in words an operator reads."""

from contract import MachineState, StopReason


def duration_text(ms: float) -> str:
    """``750`` -> ``0.8s``, ``90_000`` -> ``1m 30s``, ``7_500_000`` -> ``2h 5m``."""
    seconds = max(0.0, ms / 1000)
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60}s" if whole % 60 else f"{whole // 60}m"
    hours, minutes = whole // 3600, whole % 3600 // 60
    return f"{hours}h {minutes}m" if minutes else f"{hours}h"


def idle(ms: int, state: MachineState | None, cause: StopReason | None = None) -> str:
    because = "" if cause is None else f" ({cause})"
    return f"no pairs knitted for {duration_text(ms)} while {state}{because}"


def stopped(ms: int, cause: StopReason | None = None) -> str:
    because = "" if cause is None else f" ({cause})"
    return f"reporting fault{because} for {duration_text(ms)}"


def offline(silent_ms: int, *, fixed_ms: int | None, interval_ms: float) -> str:
    """No reading for ``silent_ms``; the window was ``fixed_ms`` or intervals of ``interval_ms``."""
    expected = (
        f"--offline-after {duration_text(fixed_ms)}"
        if fixed_ms is not None
        else f"expected every {duration_text(interval_ms)}"
    )
    return f"no reading for {duration_text(silent_ms)} ({expected})"


def planned(state: MachineState | None) -> str:
    return f"planned downtime (state {state})"


def not_in_fault(state: MachineState | None) -> str:
    return f"no longer in fault (state {state})"


def gateway_offline(machines: int) -> str:
    return f"gateway offline: {machines} machines"


def never_reported(machines: int) -> str:
    return f"{machines} machines of the registry never reported"


KNITTING_AGAIN = "knitting again"
REPORTING_AGAIN = "reporting again"
GATEWAY_BACK = "gateway back online"
GATEWAY_MACHINES_BACK = "machines of the gateway report again"
LEFT_REGISTRY = "no longer in the registry"
ALL_REPORTED = "every machine reported or left the registry"
