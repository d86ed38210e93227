"""The truth file: what every machine really knitted during a run.

``pairs`` of a machine is the whole pairs knitted from the start of the run to its final
reading; it equals the sum, over the machine's boots, of the last ``pairs_total`` published in
each boot. ``complete`` is false when some readings were not acknowledged by the broker before
the deadline at shutdown (the counters then show less than the truth).
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from contract.files import write_atomic


@dataclass(frozen=True, slots=True)
class MachineTruth:
    enterprise: str
    machine: str
    pairs: int
    boots: int


@dataclass(frozen=True, slots=True)
class Truth:
    seed: int
    started_ms: int
    ended_ms: int
    machines: tuple[MachineTruth, ...]
    complete: bool = True
    readings: int = 0
    """Readings published (not counting duplicates and malformed messages)."""
    faults: dict[str, int] = field(default_factory=dict)

    @property
    def total_pairs(self) -> int:
        return sum(m.pairs for m in self.machines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "started_ms": self.started_ms,
            "ended_ms": self.ended_ms,
            "machines": [
                {
                    "enterprise": m.enterprise,
                    "machine": m.machine,
                    "pairs": m.pairs,
                    "boots": m.boots,
                }
                for m in self.machines
            ],
            "total_pairs": self.total_pairs,
            "complete": self.complete,
            "readings": self.readings,
            "faults": dict(self.faults),
        }


def write_truth(path: Path, truth: Truth) -> None:
    """Write ``truth`` as JSON, atomically (a reader never sees half a file)."""
    write_atomic(path, orjson.dumps(truth.as_dict(), option=orjson.OPT_INDENT_2), fsync=False)


def read_truth(path: Path) -> Truth:
    data = orjson.loads(path.read_bytes())
    return Truth(
        seed=data["seed"],
        started_ms=data["started_ms"],
        ended_ms=data["ended_ms"],
        machines=tuple(
            MachineTruth(m["enterprise"], m["machine"], m["pairs"], m["boots"])
            for m in data["machines"]
        ),
        complete=data.get("complete", True),
        readings=data.get("readings", 0),
        faults=dict(data.get("faults", {})),
    )
