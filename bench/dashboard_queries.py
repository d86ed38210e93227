"""Park overview queries over a backfilled year of the full park, timed against real InfluxDB.

    python -m bench.dashboard_queries --influx-url http://127.0.0.1:8086 --db bench [--backfill]

``--backfill`` first writes 365 days of the full park (40,000 machines) with
``hosiery-sim backfill``'s library. Every query of the park overview (variables first) is then
expanded as Grafana would (dashboard time range: this year; panel overrides) and run ``--runs``
times; the report gives each query's median, against the 1-second budget and against a trivial
query (``SHOW DATABASES``) timed in the same run as the floor of an HTTP round trip.
"""

import argparse
import statistics
import time

import httpx

from collector.sink import InfluxConfig
from dashboards import macros
from dashboards.build import ROOT
from simulators.backfill import Backfill, BackfillConfig, describe

BUDGET_S = 1.0


def timed(client: httpx.Client, url: str, db: str, statement: str, runs: int) -> float:
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        resp = client.post(f"{url}/query", params={"db": db, "epoch": "ms"}, data={"q": statement})
        samples.append(time.perf_counter() - began)
        result = resp.json()["results"][0]
        assert "error" not in result, f"{result['error']}: {statement}"
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--influx-url", default="http://127.0.0.1:8086")
    parser.add_argument("--db", default="bench")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--backfill", action="store_true")
    args = parser.parse_args()
    if args.backfill:
        config = BackfillConfig(
            influx=InfluxConfig(url=args.influx_url, database=args.db, timeout=300), days=365
        )
        print(describe(Backfill(config, progress=print).run()))
    import json  # noqa: PLC0415 - only the benchmark reads the file

    from tests.support.dashboards import Grafana  # noqa: PLC0415 - variables as Grafana does

    dashboard = json.loads((ROOT / "json/Park/park-overview.json").read_text())
    now = int(time.time() * 1000)
    grafana = Grafana(args.influx_url, args.db, dashboard, now)
    with httpx.Client(timeout=120) as client:
        floor = timed(client, args.influx_url, args.db, "SHOW DATABASES", args.runs)
        print(f"floor (SHOW DATABASES): {floor * 1000:.1f} ms")
        print(f"{'median ms':>10} {'x budget':>9}  query")
        worst = 0.0
        for item in macros.panel_queries("park", dashboard):
            statement = grafana.expand(item.query, item.time_from, item.interval)
            median = timed(client, args.influx_url, args.db, statement, args.runs)
            worst = max(worst, median)
            print(f"{median * 1000:10.1f} {median / BUDGET_S:9.3f}  {item.title} ({item.ref_id})")
    print(f"slowest: {worst * 1000:.1f} ms; budget {BUDGET_S * 1000:.0f} ms per query")


if __name__ == "__main__":
    main()
