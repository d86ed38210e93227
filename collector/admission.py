"""Which new machines the collector starts tracking: a bound on per-machine state.

Every machine the collector tracks costs memory (accounting and alerting state), and a gateway
may invent machine ids. Machines of the park registry are always tracked; beyond them, at most
``unregistered`` more (with a registry), and never more than ``max_machines`` in all. A reading of
a machine refused here is rejected (``too_many_machines``): counted, stored and republished like
any bad input, and nothing is tracked for it.
"""

from collections.abc import Callable, Iterable

Registered = Callable[[str, str], bool]


class Admission:
    """Counts the machines tracked and decides about each new one (pure: no I/O, no clock)."""

    def __init__(
        self,
        *,
        max_machines: int,
        unregistered: int,
        registered: Registered | None = None,
        tracked: Iterable[tuple[str, str]] = (),
    ) -> None:
        if max_machines < 1 or unregistered < 0:
            raise ValueError("max_machines must be >= 1 and unregistered >= 0")
        self.max_machines = max_machines
        self.unregistered_allowance = unregistered
        self._registered = registered
        self.total = 0
        self.unregistered = 0
        for enterprise, machine in tracked:
            self.total += 1
            if registered is not None and not registered(enterprise, machine):
                self.unregistered += 1

    def admit(self, enterprise: str, machine: str) -> str | None:
        """Track this new machine (None), or why not; admitted machines are counted."""
        if self.total >= self.max_machines:
            return (
                f"machine {enterprise}/{machine} is new and {self.total} machines are tracked "
                f"already (--max-machines {self.max_machines})"
            )
        known = self._registered
        if known is not None and not known(enterprise, machine):
            if self.unregistered >= self.unregistered_allowance:
                return (
                    f"machine {enterprise}/{machine} is not in the park registry and "
                    f"{self.unregistered} unregistered machines are tracked already "
                    f"(--unregistered-machines {self.unregistered_allowance})"
                )
            self.unregistered += 1
        self.total += 1
        return None
