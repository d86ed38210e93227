"""What the ``style`` tag costs in series: a full park's readings with and without it.

    python -m bench.style_cardinality [--machines 40000] [--json PATH]

Starts InfluxDB (``stack.InfluxServer``; continuous queries hourly, so not meanwhile) in a
temporary directory and, in two databases, writes two readings of every machine of the
simulated park (``simulators.park``, the park's own style mix) into one 5-minute interval:
once with each machine's style as a tag, once without a style. It then runs the rollups over
that hour (the continuous queries' own statements) and counts the series of every measurement
(``SHOW SERIES EXACT CARDINALITY``), side by side. A second pass writes, with the tag, a
second style for a share of machines (``--changed``, a style change), since a machine that
changes style has a series per style it knitted within a retention period.
"""

import argparse
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from influx.config import InfluxConfig, make_client
from influx.lines import production_line
from influx.provision import ensure_schema
from influx.query import query, series
from influx.rollups import RAW_POLICY, backfill_statements
from influx.schema import default_schema
from influx.write import InfluxSink
from simulators.params import DEFAULT_PARK
from simulators.park import build_park
from stack import InfluxServer

MEASUREMENTS = (
    ("raw", "production"),
    ("rollup_5m", "machine_5m"),
    ("rollup_5m", "park_5m"),
    ("rollup_1h", "machine_1h"),
    ("rollup_long", "enterprise_1h"),
    ("rollup_long", "enterprise_1d"),
    ("rollup_long", "park_1h"),
)


def lines(
    machines: list[tuple[str, str, str]], start_ms: int, *, styled: bool, changed: float
) -> Iterator[str]:
    """Two readings per machine 1 minute apart; with ``changed`` > 0, the first of that share
    of the machines is of another style (a style change between the two)."""
    every = round(1 / changed) if changed > 0 else 0
    styles = sorted({style for _e, _m, style in machines})
    for n, (enterprise, machine, style) in enumerate(machines):
        for k in range(2):
            first = styles[(styles.index(style) + 1) % len(styles)]
            knitted = first if (k == 0 and every and n % every == 0) else style
            yield production_line(
                enterprise, machine, start_ms + k * 60_000, k, "b1", 1, k + 1, "running",
                knitted if styled else None, 212.5, nominal_pairs_per_hour=20.0,
            )  # fmt: skip


def cardinality(url: str, db: str) -> dict[str, int]:
    config = InfluxConfig(url=url, database=db, timeout=300)
    out = {}
    with make_client(config) as client:
        for policy, measurement in MEASUREMENTS:
            statement = f'SHOW SERIES EXACT CARDINALITY FROM "{policy}"."{measurement}"'
            found = series(client, config, statement, database=db)
            rows = [row for s in found for row in s.get("values") or ()]
            out[measurement] = sum(int(row[0]) for row in rows)
    return out


def fill(url: str, db: str, machines: list[tuple[str, str, str]], **kind: Any) -> int:
    config = InfluxConfig(url=url, database=db, timeout=300, retention_policy=RAW_POLICY)
    start_ms = (int(time.time()) // 3600 - 2) * 3_600_000
    with make_client(config) as client:
        ensure_schema(client, config, default_schema(db))
        sink = InfluxSink(config, client, create_schema=False)
        written = sink.write(list(lines(machines, start_ms, **kind))).written
        since, until = start_ms * 1_000_000, (start_ms + 3_600_000) * 1_000_000
        for statement in backfill_statements(db, since, until):
            query(client, config, statement, database=db)
    return written


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def measure(url: str, machines: int, changed: float) -> dict[str, Any]:
    park = build_park(DEFAULT_PARK, machines=machines)
    fleet = [(e.id, m.id, m.style.name) for e in park.enterprises for m in e.machines]
    load = uptime()
    runs = {
        "without_style": fill(url, "plain", fleet, styled=False, changed=0.0),
        "with_style": fill(url, "styled", fleet, styled=True, changed=0.0),
        "with_style_changes": fill(url, "changes", fleet, styled=True, changed=changed),
    }
    pairs = {(e, s) for e, _m, s in fleet}
    return {
        "cpus": os.cpu_count(),
        "machines": len(fleet),
        "enterprises": len(park.enterprises),
        "styles": len({s for _e, _m, s in fleet}),
        "enterprise_style_pairs": len(pairs),
        "changed_share": changed,
        "points": runs,
        "series": {
            "without_style": cardinality(url, "plain"),
            "with_style": cardinality(url, "styled"),
            "with_style_changes": cardinality(url, "changes"),
        },
        "load_before": load,
        "load_after": uptime(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--machines", type=int, default=40_000)
    parser.add_argument("--changed", type=float, default=0.1, help="share changing style")
    parser.add_argument("--json", type=Path, help="also write every figure as JSON")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="style-bench-") as tmp,
        InfluxServer(Path(tmp), cq_interval="1h") as server,
    ):
        report = measure(server.url, args.machines, args.changed)
    print(
        f"{report['machines']:,} machines, {report['enterprises']:,} enterprises, "
        f"{report['styles']} styles, {report['enterprise_style_pairs']:,} (enterprise, style)"
    )
    print(f"{'measurement':<15}{'no style':>12}{'style tag':>12}{'+ changes':>12}")
    for _policy, name in MEASUREMENTS:
        row = [report["series"][k][name] for k in report["series"]]
        print(f"{name:<15}" + "".join(f"{n:>12,}" for n in row))
    print(f"before: {report['load_before']}\nafter: {report['load_after']}")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
