"""Payloads of contract version 1, as frozen pydantic models.

Extra fields are allowed and ignored, so gateways can add fields without breaking the collector.
"""

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from contract.ids import Identifier

MAX_PAYLOAD_BYTES = 4096
"""Payloads larger than this are rejected before they are parsed."""

MAX_PAIRS_TOTAL = 1_000_000_000
"""A counter above this is absurd: a machine knits fewer than 200,000 pairs a year."""

MAX_SEQ = 2**63 - 1
MAX_STOPPED_MS = 2**53
"""A stopped-time counter above this (285,000 years) is absurd."""
MAX_RPM = 2000.0

Style = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class MachineState(StrEnum):
    """What the machine controller says it is doing."""

    RUNNING = "running"
    IDLE = "idle"
    FAULT = "fault"
    MAINTENANCE = "maintenance"
    OFF = "off"


class StopReason(StrEnum):
    """Why a stopped machine (idle, fault or maintenance) is not knitting."""

    YARN_BREAK = "yarn_break"
    NEEDLE_BREAK = "needle_break"
    YARN_CHANGE = "yarn_change"
    STYLE_CHANGE = "style_change"
    WAITING_MATERIAL = "waiting_material"
    MAINTENANCE = "maintenance"
    OTHER = "other"


STOPPED_STATES = frozenset({MachineState.IDLE, MachineState.FAULT, MachineState.MAINTENANCE})
"""States a :class:`StopReason` may come with."""


class CounterReading(BaseModel):
    """A machine's reading on ``hosiery/v1/{enterprise}/{machine}/counter``."""

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)

    ts: Annotated[int, Field(ge=0, le=2**53)]
    """Epoch milliseconds, UTC, by the machine's clock."""
    seq: Annotated[int, Field(ge=0, le=MAX_SEQ)]
    """Incremented per message; restarts with the boot."""
    boot: Identifier
    """Changes whenever the machine controller restarts."""
    pairs_total: Annotated[int, Field(ge=0, le=MAX_PAIRS_TOTAL)]
    """Pairs knitted since this boot; 0 at boot."""
    rejects_total: Annotated[int, Field(ge=0, le=MAX_PAIRS_TOTAL)] | None = None
    """Of those, pairs rejected (quality): a cumulative counter like ``pairs_total``, optional."""
    state: MachineState
    style: Style | None = None
    rpm: Annotated[float, Field(ge=0.0, le=MAX_RPM)] | None = None
    reason: StopReason | None = None
    """Why the machine stopped; absent or null when it does not say (and while running or off)."""
    stopped_ms_total: dict[StopReason, Annotated[int, Field(ge=0, le=MAX_STOPPED_MS)]] | None = None
    """Milliseconds stopped per reason since this boot, as the controller measured them: one
    cumulative counter per reason like ``pairs_total`` (a reason not listed has 0), optional."""

    @model_validator(mode="after")
    def _reason_only_when_stopped(self) -> "CounterReading":
        if self.reason is not None and self.state not in STOPPED_STATES:
            raise ValueError(
                f"a stop reason comes only with idle, fault or maintenance, not {self.state}"
            )
        return self

    @model_validator(mode="after")
    def _rejects_within_pairs(self) -> "CounterReading":
        if self.rejects_total is not None and self.rejects_total > self.pairs_total:
            raise ValueError(
                f"rejects_total {self.rejects_total} is more than pairs_total {self.pairs_total}"
            )
        return self


class GatewayStatus(BaseModel):
    """A gateway's retained birth message or Last Will, on ``hosiery/v1/{enterprise}/status``."""

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)

    online: bool
    ts: Annotated[int, Field(ge=0, le=2**53)] | None = None
    machines: tuple[Identifier, ...] | None = None
    """The machines this gateway reads, when it says so in its birth message."""
