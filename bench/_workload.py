"""The benchmark's stream of readings: deterministic, well-formed, with known totals.

Reading ``k`` (0 <= k < readings) belongs to machine ``k % machines`` and is that machine's
reading number ``k // machines``. So every machine reports in turn, as a park does, and each
machine's readings are in order. For machine ``j`` and its reading ``r``:

* ``seq = r + 1``, ``boot`` is the machine's own (one boot per machine and workload);
* ``pairs_total = (r + 1) * step(j)`` with ``step(j) = 1 + j % 13``, so the pairs of a machine
  add up to its last ``pairs_total`` and the expected total is known in advance;
* ``ts = base_ms + k``: strictly increasing per machine and distinct for every reading, so each
  reading is its own InfluxDB point; ``base_ms`` is set shortly before the workload is published
  and is at most an hour in the past.
"""

from collections.abc import Iterator
from typing import NamedTuple

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

MACHINES_PER_ENTERPRISE = 33
"""About the park's ratio: 40,000 machines in 1,220 enterprises."""
MAX_SPAN_MS = 50 * 60 * 1000
"""Readings are 1 ms apart; the span must keep them within the last hour."""
STYLES = ("crew-12", "ankle-07", "knee-03", "sport-21")


class Workload(BaseModel):
    """What to publish: ``readings`` readings of ``machines`` machines, tagged ``tag``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    readings: int = Field(ge=1, le=MAX_SPAN_MS)
    machines: int = Field(ge=1, le=1_000_000)
    tag: str = Field(pattern=r"^[A-Za-z0-9]{1,20}$")
    """Makes the boots of this workload unique."""
    base_ms: int = Field(ge=0)

    @model_validator(mode="after")
    def _enough_readings(self) -> "Workload":
        if self.machines > self.readings:
            raise ValueError(
                f"{self.machines} machines need at least as many readings ({self.readings})"
            )
        return self

    def readings_of(self, machine: int) -> int:
        """How many readings machine ``machine`` sends."""
        per, extra = divmod(self.readings, self.machines)
        return per + (1 if machine < extra else 0)

    @property
    def expected_pairs(self) -> int:
        """SUM("pairs") once every reading is stored: the last ``pairs_total`` of each machine."""
        return sum(self.readings_of(j) * step(j) for j in range(self.machines))


class Message(NamedTuple):
    topic: str
    payload: bytes


def step(machine: int) -> int:
    """Pairs a machine knits between two of its readings."""
    return 1 + machine % 13


def machine_ids(machine: int) -> tuple[str, str]:
    """(enterprise, machine) identifiers of machine number ``machine``."""
    return f"ent{machine // MACHINES_PER_ENTERPRISE:05d}", f"m{machine:07d}"


def messages(workload: Workload, part: int = 0, parts: int = 1) -> Iterator[Message]:
    """The workload's messages of the machines ``j`` with ``j % parts == part``, in order."""
    w = workload
    for k in range(w.readings):
        j = k % w.machines
        if j % parts != part:
            continue
        r = k // w.machines
        enterprise, machine = machine_ids(j)
        payload = orjson.dumps(
            {
                "ts": w.base_ms + k,
                "seq": r + 1,
                "boot": f"{w.tag}-{j}",
                "pairs_total": (r + 1) * step(j),
                "state": "running",
                "style": STYLES[j % len(STYLES)],
                "rpm": 180.0 + j % 40,
            }
        )
        yield Message(f"hosiery/v1/{enterprise}/{machine}/counter", payload)
