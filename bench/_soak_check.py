"""The soak's verdict: stored pairs against the simulator's truth, and the rollups against raw.

Everything is read back through InfluxDB's query API from the soak's own, fresh database, so
every query covers the whole run.
"""

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from influx.config import InfluxConfig, make_client
from influx.errors import InfluxError
from influx.query import series as first_series

Key = tuple[str, ...]


def query(url: str, db: str, q: str) -> list[dict[str, Any]]:
    """The series of ``q``'s first statement (empty when there are none)."""
    config = InfluxConfig(url=url, timeout=120)
    with make_client(config) as client:
        return first_series(client, config, q, database=db)


def sums(
    url: str, db: str, source: str, tags: tuple[str, ...], value: str = "sum"
) -> dict[Key, int]:
    """``SUM("pairs")`` (or another aggregate) of ``source`` per combination of ``tags``."""
    quoted = ", ".join('"' + t + '"' for t in tags)
    group = f" GROUP BY {quoted}" if tags else ""
    rows = query(url, db, f'SELECT {value}("pairs") FROM {source}{group}')  # noqa: S608 - own names
    out: dict[Key, int] = {}
    for series in rows:
        labels = series.get("tags", {})
        out[tuple(labels.get(t, "") for t in tags)] = int(series["values"][0][1] or 0)
    return out


def total_pairs(url: str, db: str) -> int:
    return sum(sums(url, db, '"production"', ()).values())


def read_truth(path: Path) -> tuple[dict[Key, int], dict[str, Any]]:
    data: dict[str, Any] = orjson.loads(path.read_bytes())
    machines: dict[Key, int] = {
        (str(m["enterprise"]), str(m["machine"])): int(m["pairs"]) for m in data["machines"]
    }
    return machines, data


def wait_caught_up(
    url: str,
    db: str,
    expected: int,
    *,
    progress: Callable[[], float],
    deadline_s: float,
    quiet_s: float = 45.0,
) -> tuple[bool, float, int]:
    """Wait until the stored pairs reach ``expected``; gives up ``quiet_s`` after the
    collector last wrote anything, or at ``deadline_s``. (reached, seconds waited, stored)."""
    began = time.monotonic()
    last_value, last_change = progress(), began
    stored = -1
    while True:
        try:
            stored = total_pairs(url, db)
        except InfluxError:
            stored = -1
        now = time.monotonic()
        if stored == expected:
            return True, now - began, stored
        value = progress()
        if value != last_value:
            last_value, last_change = value, now
        if now - began > deadline_s or now - last_change > quiet_s:
            return False, now - began, stored
        time.sleep(1.0)


@dataclass
class Differences:
    """Where two per-key tables of pairs differ."""

    what: str
    keys: int
    differ: dict[Key, tuple[int, int]] = field(default_factory=dict)

    @property
    def exact(self) -> bool:
        return not self.differ

    def describe(self, limit: int = 8) -> str:
        if self.exact:
            return f"{self.what}: equal for all {self.keys:,}"
        shown = ", ".join(
            f"{'/'.join(k) or 'park'} {a:,} vs {b:,}"
            for k, (a, b) in list(self.differ.items())[:limit]
        )
        return f"{self.what}: {len(self.differ):,} of {self.keys:,} differ ({shown})"


def compare(what: str, got: dict[Key, int], want: dict[Key, int]) -> Differences:
    keys = set(got) | set(want)
    differ = {
        k: (got.get(k, 0), want.get(k, 0)) for k in sorted(keys) if got.get(k, 0) != want.get(k, 0)
    }
    return Differences(what, len(keys), differ)


def by(table: dict[Key, int], width: int) -> dict[Key, int]:
    """``table`` summed up to its first ``width`` key parts."""
    out: dict[Key, int] = {}
    for key, value in table.items():
        out[key[:width]] = out.get(key[:width], 0) + value
    return out


def reroll(url: str, db: str, since_ms: int, log: Path) -> int:
    """``python -m collector.reroll`` over the run (widened by it to whole days)."""
    with log.open("ab") as out:
        return subprocess.run(
            [
                sys.executable, "-m", "collector.reroll",
                "--since", str(since_ms), "--until", "now",
                "--influx-url", url, "--influx-db", db,
            ],
            stdout=out, stderr=subprocess.STDOUT, timeout=900, check=False,
        ).returncode  # fmt: skip


ROLLUPS = (
    ('"rollup_5m"."machine_5m"', ("enterprise", "machine")),
    ('"rollup_1h"."machine_1h"', ("enterprise", "machine")),
    ('"rollup_long"."enterprise_1h"', ("enterprise",)),
    ('"rollup_5m"."park_5m"', ()),
    ('"rollup_long"."park_1h"', ()),
)


def rollups_against_raw(url: str, db: str, raw: dict[Key, int]) -> list[Differences]:
    """Each rollup's pairs against raw's, at the rollup's own grain."""
    out = []
    for source, tags in ROLLUPS:
        got = sums(url, db, source, tags)
        out.append(compare(source.split(".")[1].strip('"'), got, by(raw, len(tags))))
    return out


def rejected_by_reason(url: str, db: str) -> dict[str, int]:
    rows = query(url, db, 'SELECT count("payload_size") FROM "rejected" GROUP BY "reason"')
    return {s["tags"]["reason"]: int(s["values"][0][1]) for s in rows}


def readings_stored(url: str, db: str) -> int:
    return sum(sums(url, db, '"production"', (), value="count").values())


def rejected_from(url: str, db: str, user: str) -> int:
    """Rejections stored for topics under ``hosiery/v1/{user}/`` (the flood's)."""
    rows = query(
        url,
        db,
        f'SELECT count("payload_size") FROM "rejected" WHERE "topic" =~ /^hosiery\\/v1\\/{user}\\//',  # noqa: S608, E501 - own names
    )
    return int(rows[0]["values"][0][1]) if rows else 0
