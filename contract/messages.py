"""Payloads of contract version 1, as frozen pydantic models.

Extra fields are allowed and ignored, so gateways can add fields without breaking the collector.
"""

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contract.ids import Identifier

MAX_PAYLOAD_BYTES = 4096
"""Payloads larger than this are rejected before they are parsed."""

MAX_PAIRS_TOTAL = 1_000_000_000
"""A counter above this is absurd: a machine knits fewer than 200,000 pairs a year."""

MAX_SEQ = 2**63 - 1
MAX_RPM = 2000.0

Style = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class MachineState(StrEnum):
    """What the machine controller says it is doing."""

    RUNNING = "running"
    IDLE = "idle"
    FAULT = "fault"
    MAINTENANCE = "maintenance"
    OFF = "off"


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
    state: MachineState
    style: Style | None = None
    rpm: Annotated[float, Field(ge=0.0, le=MAX_RPM)] | None = None


class GatewayStatus(BaseModel):
    """A gateway's retained birth message or Last Will, on ``hosiery/v1/{enterprise}/status``."""

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)

    online: bool
    ts: Annotated[int, Field(ge=0, le=2**53)] | None = None
    machines: tuple[Identifier, ...] | None = None
    """The machines this gateway reads, when it says so in its birth message."""
