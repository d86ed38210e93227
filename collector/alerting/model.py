"""What an alert is: a frozen value, validated when it is created.

An alert is one *episode* of one condition of one machine (or of one enterprise's gateway): it
fires once and resolves once. Both notifications carry the same :attr:`Alert.id`; each
notification has its own :attr:`Alert.notification_id` (``{id}/firing``, ``{id}/resolved``),
which receivers use to de-duplicate.
"""

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from contract import is_valid_id


class Kind(StrEnum):
    IDLE = "idle"
    """Expected to produce (state running or idle) and knitted no pairs for ``--idle-after``."""
    STOPPED = "stopped"
    """Reporting ``fault`` for ``--fault-after``."""
    OFFLINE = "offline"
    """No reading for three reporting intervals, or the gateway's Last Will (whole gateway)."""
    NEVER_REPORTED = "never_reported"
    """Machines of the registry never heard from after the grace period (one per enterprise)."""


class Status(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


GATEWAY = "*"
"""Stands for the machine in the id of an enterprise alert (``E0001/*/offline/...``)."""

ENTERPRISE_KINDS = frozenset({Kind.OFFLINE, Kind.NEVER_REPORTED})
"""Kinds an alert of a whole enterprise (no machine, a list of machines) may have."""

AlertKey = tuple[str, str | None, Kind]
"""(enterprise, machine or None for the gateway, kind): at most one firing alert per key."""


@dataclass(frozen=True, slots=True)
class Alert:
    """One notification of an alert episode."""

    enterprise: str
    machine: str | None
    """None for an enterprise alert (gateway offline, machines never reported), which covers
    :attr:`machines`."""
    kind: Kind
    status: Status
    since_ms: int
    """When the condition began (epoch ms): last production, first fault reading, last heard."""
    at_ms: int
    """When this notification was decided (epoch ms)."""
    reason: str
    pairs_total: int | None = None
    """The machine's counter in its last reading, when known."""
    machines: tuple[str, ...] = ()
    """The machines of an enterprise alert."""
    fired_ms: int | None = None
    """For a resolved alert: when it fired."""

    def __post_init__(self) -> None:
        if not is_valid_id(self.enterprise):
            raise ValueError(f"alert enterprise {self.enterprise!r} is not a valid id")
        if self.machine is None:
            if self.kind not in ENTERPRISE_KINDS:
                raise ValueError("only offline and never_reported alerts cover an enterprise")
        elif not is_valid_id(self.machine):
            raise ValueError(f"alert machine {self.machine!r} is not a valid id")
        elif self.machines:
            raise ValueError("a machine alert does not list machines")
        if not isinstance(self.kind, Kind) or not isinstance(self.status, Status):
            raise TypeError("alert kind and status must be Kind and Status values")
        if self.since_ms < 0 or self.at_ms < 0:
            raise ValueError("alert times must not be negative")
        if any(not is_valid_id(m) for m in self.machines):
            raise ValueError("alert machines must be valid ids")
        if self.status is Status.RESOLVED and self.fired_ms is None:
            raise ValueError("a resolved alert needs the time it fired")
        if self.pairs_total is not None and self.pairs_total < 0:
            raise ValueError("pairs_total must not be negative")

    @property
    def key(self) -> AlertKey:
        return (self.enterprise, self.machine, self.kind)

    @property
    def id(self) -> str:
        """The episode: the same for the firing and the resolved notification."""
        machine = GATEWAY if self.machine is None else self.machine
        return f"{self.enterprise}/{machine}/{self.kind.value}/{self.since_ms}"

    @property
    def notification_id(self) -> str:
        """Unique per notification: ``{id}/firing`` or ``{id}/resolved``."""
        return f"{self.id}/{self.status.value}"

    @property
    def firing(self) -> bool:
        return self.status is Status.FIRING

    def resolve(self, at_ms: int, reason: str, pairs_total: int | None = None) -> "Alert":
        """The resolved notification of this (firing) alert."""
        if self.status is not Status.FIRING:
            raise ValueError(f"alert {self.id} is not firing")
        return replace(
            self,
            status=Status.RESOLVED,
            at_ms=max(at_ms, self.at_ms),
            reason=reason,
            pairs_total=self.pairs_total if pairs_total is None else pairs_total,
            fired_ms=self.at_ms,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (the store's record); :meth:`from_dict` reads it back."""
        return {
            "enterprise": self.enterprise,
            "machine": self.machine,
            "kind": self.kind.value,
            "status": self.status.value,
            "since_ms": self.since_ms,
            "at_ms": self.at_ms,
            "reason": self.reason,
            "pairs_total": self.pairs_total,
            "machines": list(self.machines),
            "fired_ms": self.fired_ms,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Alert":
        """Read :meth:`to_dict` output; raises ``ValueError``/``KeyError``/``TypeError``."""
        return cls(
            enterprise=str(data["enterprise"]),
            machine=None if data["machine"] is None else str(data["machine"]),
            kind=Kind(data["kind"]),
            status=Status(data["status"]),
            since_ms=int(data["since_ms"]),
            at_ms=int(data["at_ms"]),
            reason=str(data["reason"]),
            pairs_total=None if data.get("pairs_total") is None else int(data["pairs_total"]),
            machines=tuple(str(m) for m in data.get("machines") or ()),
            fired_ms=None if data.get("fired_ms") is None else int(data["fired_ms"]),
        )
