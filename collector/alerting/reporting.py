"""The reporting counts: machines expected, reporting, silent and never heard, by enterprise."""

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from collector.alerting.model import Kind
from collector.alerting.tracked import Gateway, Machine
from contract import MachineState


@dataclass(frozen=True, slots=True)
class EnterpriseReport:
    enterprise: str
    expected: int
    reporting: int
    """Expected machines that report (seen, not silent)."""
    never_reported: tuple[str, ...]
    silent: tuple[str, ...]
    """Machines that reported and have gone silent (any machine, expected or not)."""
    unexpected: int
    """Machines that report and are not in the registry."""
    by_state: tuple[int, int, int, int] = (0, 0, 0, 0)
    """Machines that report, by their last state: running, idle, stopped (fault or
    maintenance), off."""
    alerts: tuple[int, int, int] = (0, 0, 0)
    """Machines with a firing idle, stopped, offline alert (a gateway's offline alert counts
    each of its machines)."""
    missing: int = 0
    """Readings lost upstream (gaps in ``seq``), from the accounting."""


@dataclass(frozen=True, slots=True)
class Report:
    """Machines that do not report, park-wide and by enterprise."""

    at_ms: int
    expected: int
    reporting: int
    never_reported: int
    silent: int
    unexpected: int
    enterprises: tuple[EnterpriseReport, ...]
    missing: int = 0


_ALERT_COLUMN = {Kind.IDLE: 0, Kind.STOPPED: 1, Kind.OFFLINE: 2}

_STATE_COLUMN = {
    MachineState.RUNNING: 0,
    MachineState.IDLE: 1,
    MachineState.FAULT: 2,
    MachineState.MAINTENANCE: 2,
    MachineState.OFF: 3,
}


def count(
    now: int,
    machines: Iterable[Machine],
    gateways: Mapping[str, Gateway],
    silent_by: Mapping[str, Collection[str]],
    never_by: Mapping[str, Collection[str]],
    expected_by: Mapping[str, Collection[str]],
    missing: Mapping[str, int],
    *,
    never_reported: bool,
) -> Report:
    """The report at ``now``; ``never_reported`` False lists no never-reported machine yet."""
    by_state: dict[str, list[int]] = {}
    alerts: dict[str, list[int]] = {}
    for mach in machines:
        if mach.alerts:
            firing = alerts.get(mach.enterprise)
            if firing is None:
                firing = alerts[mach.enterprise] = [0, 0, 0]
            for kind in mach.alerts:
                firing[_ALERT_COLUMN[kind]] += 1
        if mach.silent or mach.state is None:
            continue
        counts = by_state.get(mach.enterprise)
        if counts is None:
            counts = by_state[mach.enterprise] = [0, 0, 0, 0]
        counts[_STATE_COLUMN[mach.state]] += 1
    for down in gateways.values():
        if down.alert is not None:
            firing = alerts.setdefault(down.enterprise, [0, 0, 0])
            firing[_ALERT_COLUMN[Kind.OFFLINE]] += len(down.alert.machines)
    names = set(expected_by) | {e for e, s in silent_by.items() if s}
    names |= {e for e, g in gateways.items() if g.online is False}
    names |= set(by_state) | set(alerts) | set(missing)
    rows = []
    for enterprise in sorted(names):
        expected = expected_by.get(enterprise, ())
        never = never_by.get(enterprise, ())
        listed = never if never_reported else ()
        gateway = gateways.get(enterprise)
        seen = gateway.seen if gateway is not None else set()
        silent = set(silent_by.get(enterprise, ()))
        offline = gateway is not None and gateway.online is False
        if offline:
            silent |= seen
        reporting = sum(1 for m in expected if m not in never and m not in silent)
        unexpected = sum(1 for m in seen if m not in expected and m not in silent)
        c = (0, 0, 0, 0) if offline else by_state.get(enterprise, (0, 0, 0, 0))
        a = alerts.get(enterprise, (0, 0, 0))
        rows.append(
            EnterpriseReport(
                enterprise,
                len(expected),
                reporting,
                tuple(sorted(listed)),
                tuple(sorted(silent)),
                unexpected,
                (c[0], c[1], c[2], c[3]),
                (a[0], a[1], a[2]),
                missing.get(enterprise, 0),
            )
        )
    return Report(
        at_ms=now,
        expected=sum(r.expected for r in rows),
        reporting=sum(r.reporting for r in rows),
        never_reported=sum(len(r.never_reported) for r in rows),
        silent=sum(len(r.silent) for r in rows),
        unexpected=sum(r.unexpected for r in rows),
        enterprises=tuple(rows),
        missing=sum(r.missing for r in rows),
    )
