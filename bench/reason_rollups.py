"""What the stop reasons cost the rollups: the raw-level queries timed side by side.

    python -m bench.reason_rollups [--machines 4000] [--runs 5] [--json PATH]

Starts InfluxDB (``stack.InfluxServer``; its continuous queries run hourly, so not meanwhile)
in a temporary directory, creates the schema, and writes 15 minutes of readings (one every 10 s
per machine; 80 % running, 20 % stopped, every stopped reading with a reason) into
``raw.production``: the window each raw-level continuous query recomputes (``RESAMPLE FOR
15m``). Each raw-level rollup statement is then run over that window ``--runs`` times; the
report gives each one's median, the medians summed for the state queries (the six that existed
before stop reasons) and for the seven reason queries, and their ratio: how much the reasons
add to the raw level's recurring work.
"""

import argparse
import itertools
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from influx.config import InfluxConfig, make_client
from influx.lines import production_line
from influx.provision import ensure_schema
from influx.query import query
from influx.rollups import RAW_POLICY, REASONS, rollups
from influx.schema import default_schema
from influx.write import InfluxSink
from stack import InfluxServer

WINDOW_S = 900
READING_S = 10
DB = "bench"


def lines(machines: int, start_ms: int) -> Iterator[str]:
    """A reading of every machine every 10 s for 15 minutes; machine ``i`` stopped at reading
    ``k`` when ``(i + k) % 5 == 0``, for reason ``(i + k) % 7``."""
    for k in range(WINDOW_S // READING_S):
        ts = start_ms + k * READING_S * 1000
        for i in range(machines):
            stopped = (i + k) % 5 == 0
            state = "fault" if stopped else "running"
            reason = REASONS[(i + k) % len(REASONS)] if stopped else None
            yield production_line(
                f"E{i // 33:04d}", f"M{i % 33:03d}", ts, k, "b1", 0 if stopped else 1, k,
                state, "plain", None if stopped else 212.5, reason=reason,
            )  # fmt: skip


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def measure(url: str, machines: int, runs: int) -> dict[str, Any]:
    config = InfluxConfig(url=url, database=DB, timeout=300, retention_policy=RAW_POLICY)
    start_ms = (int(time.time()) // WINDOW_S - 1) * WINDOW_S * 1000
    with make_client(config) as client:
        ensure_schema(client, config, default_schema(DB))
        sink = InfluxSink(config, client, create_schema=False)
        readings = lines(machines, start_ms)
        written = 0
        while batch := list(itertools.islice(readings, 20_000)):
            written += sink.write(batch).written
    since, until = start_ms * 1_000_000, (start_ms + WINDOW_S * 1000) * 1_000_000
    raw_level = [r for r in rollups() if r.source_policy == RAW_POLICY]
    load = uptime()
    rows = []
    with make_client(InfluxConfig(url=url, database=DB, timeout=300)) as http:
        for rollup in raw_level:
            statement = rollup.select(DB, since, until)
            samples = []
            for _ in range(runs):
                began = time.perf_counter()
                query(http, config, statement, database=DB)
                samples.append(time.perf_counter() - began)
            rows.append({"query": rollup.name, "median_ms": statistics.median(samples) * 1000})
    states = sum(r["median_ms"] for r in rows if "_reason_" not in r["query"])
    reasons = sum(r["median_ms"] for r in rows if "_reason_" in r["query"])
    return {
        "cpus": os.cpu_count(),
        "machines": machines,
        "points": written,
        "runs": runs,
        "load_before": load,
        "load_after": uptime(),
        "queries": rows,
        "states_ms": states,
        "reasons_ms": reasons,
        "reasons_over_states": reasons / states,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--machines", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=5, help="runs per statement (median)")
    parser.add_argument("--json", type=Path, help="also write every figure as JSON")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="reason-bench-") as tmp,
        InfluxServer(Path(tmp), cq_interval="1h") as server,
    ):
        report = measure(server.url, args.machines, args.runs)
    for row in report["queries"]:
        print(f"{row['median_ms']:9.1f} ms  {row['query']}")
    print(
        f"{report['points']:,} raw points ({args.machines:,} machines, 15 min); medians summed: "
        f"states {report['states_ms']:.0f} ms, reasons {report['reasons_ms']:.0f} ms, "
        f"reasons / states {report['reasons_over_states']:.2f}"
    )
    print(f"before: {report['load_before']}\nafter: {report['load_after']}")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
