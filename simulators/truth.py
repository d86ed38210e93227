"""The truth file: what every machine really knitted during a run.

``pairs`` of a machine is the whole pairs knitted from the start of the run to its final
reading; it equals the sum, over the machine's boots, of the last ``pairs_total`` published in
each boot. ``complete`` is false when some readings were not acknowledged by the broker before
the deadline at shutdown (the counters then show less than the truth).

``stopped_s`` of a machine is the simulated seconds it spent stopped per stop reason
(``contract.StopReason``) during the run; ``stopped_ms`` the same in whole milliseconds as
its ``stopped_ms_total`` counters carried them (the sum, over its boots, of each boot's last
value, as for ``pairs``); ``stop_readings`` counts the readings it published with each reason
(first copies only), the sample of that time the collector sees.
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
    stopped_s: dict[str, float] = field(default_factory=dict)
    stop_readings: dict[str, int] = field(default_factory=dict)
    rejects: int = 0
    """Of ``pairs``, the rejected ones (the sum of each boot's last ``rejects_total``)."""
    running_s: float = 0.0
    """Simulated seconds running: ``pairs`` / the style's rate, before rounding to whole pairs."""
    stopped_ms: dict[str, int] = field(default_factory=dict)
    """Milliseconds stopped per reason, as the machine's counters carried them."""


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

    @property
    def total_rejects(self) -> int:
        return sum(m.rejects for m in self.machines)

    def stopped_s(self, enterprise: str | None = None) -> dict[str, float]:
        """Seconds stopped per reason, of the park or of one enterprise."""
        out: dict[str, float] = {}
        for m in self.machines:
            if enterprise is None or m.enterprise == enterprise:
                for reason, seconds in m.stopped_s.items():
                    out[reason] = out.get(reason, 0.0) + seconds
        return out

    def stopped_ms(self, enterprise: str | None = None) -> dict[str, int]:
        """Milliseconds stopped per reason as the counters carried them, of the park or of one
        enterprise."""
        out: dict[str, int] = {}
        for m in self.machines:
            if enterprise is None or m.enterprise == enterprise:
                for reason, ms in m.stopped_ms.items():
                    out[reason] = out.get(reason, 0) + ms
        return out

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
                    "stopped_s": dict(m.stopped_s),
                    "stop_readings": dict(m.stop_readings),
                    "rejects": m.rejects,
                    "running_s": m.running_s,
                    "stopped_ms": dict(m.stopped_ms),
                }
                for m in self.machines
            ],
            "total_pairs": self.total_pairs,
            "total_rejects": self.total_rejects,
            "stopped_s": self.stopped_s(),
            "stopped_ms": self.stopped_ms(),
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
            MachineTruth(
                m["enterprise"],
                m["machine"],
                m["pairs"],
                m["boots"],
                dict(m.get("stopped_s", {})),
                dict(m.get("stop_readings", {})),
                m.get("rejects", 0),
                m.get("running_s", 0.0),
                dict(m.get("stopped_ms", {})),
            )
            for m in data["machines"]
        ),
        complete=data.get("complete", True),
        readings=data.get("readings", 0),
        faults=dict(data.get("faults", {})),
    )
