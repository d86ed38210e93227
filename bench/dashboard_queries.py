"""Park overview queries over a backfilled year of the full park, timed against real InfluxDB.

    python -m bench.dashboard_queries --server [--json PATH]        # own InfluxDB, everything
    python -m bench.dashboard_queries --influx-url URL --db bench [--backfill] [--live]

``--server`` starts InfluxDB (``stack.InfluxServer``) in a temporary directory and implies
``--backfill`` and ``--live``. ``--backfill`` writes 365 days of the full park (40,000 machines)
with ``hosiery-sim backfill``'s library and times it. ``--live`` writes what a running collector
would have written in the last minutes, so that the "now" panels read a full park's worth: a
reading of every machine every 10 s (``raw.production``), the alerting's ``reporting`` summary of
every enterprise every 5 s, and a firing idle alert for every idle machine (``raw.alerts``).

Every query of the park overview, variables first, is then expanded as Grafana would (dashboard
range: this year to now, in park time; panel overrides: today, this month) and run ``--runs``
times; the report gives each query's median against the 1-second budget and against a trivial
query (``SHOW DATABASES``) timed in the same run, the floor of an HTTP round trip.
"""

import argparse
import itertools
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from dashboards import macros
from dashboards.build import ROOT
from influx.config import InfluxConfig, make_client
from influx.lines import production_line
from influx.query import query
from influx.write import InfluxSink, WriteResult
from simulators.backfill import Backfill, BackfillConfig, describe
from simulators.park import Park, build_park
from stack import InfluxServer

BUDGET_S = 1.0
LIVE_MINUTES = 6
READING_S = 10
REPORT_S = 5
STATES = ("running",) * 16 + ("idle", "idle", "fault", "off")
"""A machine's state now, by its index: 80 % running, 10 % idle, 5 % fault, 5 % off."""


def timed(client: httpx.Client, config: InfluxConfig, statement: str, runs: int) -> list[float]:
    """Seconds of each of ``runs`` runs of ``statement``, its answer read and checked."""
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        query(client, config, statement, database=config.database)
        samples.append(time.perf_counter() - began)
    return samples


def live_lines(park: Park, now_ms: int) -> Iterator[str]:
    """The last :data:`LIVE_MINUTES` of readings, reporting summaries and idle alerts."""
    start_ms = now_ms - LIVE_MINUTES * 60_000
    for m in park.machines:
        state = STATES[m.index % len(STATES)]
        rate = m.style.pairs_per_second * READING_S if state == "running" else 0
        total = m.index * 1000
        for seq, ts in enumerate(range(start_ms + m.index % 10_000, now_ms, READING_S * 1000)):
            total += int(rate)
            rpm = m.style.rpm if state == "running" else None
            yield production_line(
                m.enterprise, m.id, ts, seq + 1, "b1", int(rate), total, state, m.style.name, rpm
            )
        if state == "idle":
            since = start_ms - 600_000
            yield (
                f"alerts,enterprise={m.enterprise},kind=idle,machine={m.id} "
                f'status="firing",firing=1i,id="{m.id}-idle",notification="{m.id}-idle-1",'
                f'since_ms={since}i,reason="no pairs for 10 min",pairs_total={total}i '
                f"{(start_ms - 300_000) * 1_000_000}"
            )
    for e in park.enterprises:
        n = len(e.machines)
        states = Counter(STATES[m.index % len(STATES)] for m in e.machines)
        by_state = (
            f"running={states['running']}i,idle={states['idle']}i,stopped={states['fault']}i,"
            f"off={states['off']}i,idle_alerts={states['idle']}i,stopped_alerts=0i,"
            f"offline_alerts=0i"
        )
        for at in range(start_ms, now_ms, REPORT_S * 1000):
            yield (
                f"reporting,enterprise={e.id} expected={n}i,reporting={n}i,never_reported=0i,"
                f"silent=0i,unexpected=0i,{by_state},"
                f'never_reported_machines="",silent_machines="" {at * 1_000_000}'
            )


def write_live(url: str, db: str, park: Park, now_ms: int) -> int:
    config = InfluxConfig(url=url, database=db, timeout=300, retention_policy="raw")
    with make_client(config) as client:
        sink = InfluxSink(config, client, create_schema=False)
        written = 0
        pending: list[Future[WriteResult]] = []
        lines = live_lines(park, now_ms)
        with ThreadPoolExecutor(2) as pool:
            while batch := list(itertools.islice(lines, 25_000)):
                if len(pending) >= 2:
                    written += pending.pop(0).result().written
                pending.append(pool.submit(sink.write, batch))
            return written + sum(f.result().written for f in pending)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def measure(args: argparse.Namespace, url: str, report: dict[str, Any]) -> None:
    from tests.support.dashboards import Grafana  # noqa: PLC0415 - variables as Grafana does

    if args.backfill:
        config = BackfillConfig(
            influx=InfluxConfig(url=url, database=args.db, timeout=300), days=args.days
        )
        report["load_before_backfill"] = uptime()
        summary = Backfill(config, progress=print).run()
        print(describe(summary))
        report["backfill"] = {
            "days": args.days,
            "machines": summary.machines,
            "seconds": round(summary.seconds, 1),
            "points": summary.points,
        }
    now = int(time.time() * 1000)
    if args.live:
        began = time.perf_counter()
        written = write_live(url, args.db, build_park(), now)
        print(f"live: {written:,} points of the last {LIVE_MINUTES} min")
        report["live"] = {"points": written, "seconds": round(time.perf_counter() - began, 1)}
    dashboard = json.loads((ROOT / "json/Park/park-overview.json").read_text())
    grafana = Grafana(url, args.db, dashboard, now)
    report["load"] = uptime()
    rows: list[dict[str, Any]] = []
    influx = InfluxConfig(url=url, database=args.db, timeout=300)
    with make_client(influx) as client:
        floor = statistics.median(timed(client, influx, "SHOW DATABASES", args.runs))
        items: list[tuple[str, str, str]] = [
            (f"variable ${v['name']}", "-", grafana.expand(v["query"], None, None))
            for v in macros.variables(dashboard)
        ]
        for item in macros.panel_queries("park", dashboard):
            lo, hi = grafana.window(item.time_from)
            span = f"{(hi - lo) / 86_400_000:.1f} d" if "$timeFilter" in item.query else "now"
            statement = grafana.expand(item.query, item.time_from, item.interval)
            items.append((f"{item.title} ({item.ref_id})", span, statement))
        for title, span, statement in items:
            samples = timed(client, influx, statement, args.runs)
            median = statistics.median(samples)
            rows.append(
                {
                    "query": title,
                    "range": span,
                    "median_ms": round(median * 1000, 1),
                    "max_ms": round(max(samples) * 1000, 1),
                    "over_budget": median > BUDGET_S,
                    "statement": statement,
                }
            )
    report.update(
        floor_ms=round(floor * 1000, 1),
        budget_ms=BUDGET_S * 1000,
        runs=args.runs,
        queries=rows,
        slowest_ms=max(r["median_ms"] for r in rows),
    )
    print(f"\nfloor (SHOW DATABASES) {floor * 1000:.1f} ms; budget {BUDGET_S * 1000:.0f} ms")
    print(f"{'median ms':>9} {'max ms':>8} {'x floor':>8} {'range':>8}  query")
    for r in rows:
        flag = "  OVER BUDGET" if r["over_budget"] else ""
        print(
            f"{r['median_ms']:9.1f} {r['max_ms']:8.1f} {r['median_ms'] / report['floor_ms']:8.1f} "
            f"{r['range']:>8}  {r['query']}{flag}"
        )
    report["load_after"] = uptime()
    print(f"slowest median {report['slowest_ms']:.1f} ms")
    print(f"before the queries: {report['load']}\nafter them: {report['load_after']}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", action="store_true", help="own InfluxDB in a temporary dir")
    parser.add_argument("--influx-url", default="http://127.0.0.1:8086")
    parser.add_argument("--db", default="bench")
    parser.add_argument("--runs", type=int, default=5, help="runs per query (median)")
    parser.add_argument("--days", type=float, default=365, help="days to backfill")
    parser.add_argument("--backfill", action="store_true")
    parser.add_argument("--live", action="store_true", help="write the last minutes of readings")
    parser.add_argument("--json", type=Path, help="also write every figure as JSON")
    args = parser.parse_args()
    report: dict[str, Any] = {"cpus": os.cpu_count()}
    with ExitStack() as stack:
        url = args.influx_url
        if args.server:
            args.backfill = args.live = True
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dq-bench-")))
            url = stack.enter_context(InfluxServer(workdir, cq_interval="1m")).url
        measure(args, url, report)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
