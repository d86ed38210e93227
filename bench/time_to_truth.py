"""Time to truth: how long after a collector outage raw and the dashboards equal the truth.

    .venv/bin/python -m bench.time_to_truth --outage 5m                  # the full park
    .venv/bin/python -m bench.time_to_truth --outage 30m --machines 2000 # past the CQ windows
    .venv/bin/python -m bench.time_to_truth --quick                      # 200 machines, 20 s

Starts, on loopback ports in a fresh directory (:mod:`bench._soak_rig`), a real Mosquitto with
the shipped configuration and accounts, a real InfluxDB, ``python -m collector`` (with
``--registry``) and ``python -m simulators run --truth-file`` at the park's real rate (a reading
of every machine every 10 s, no faults). After a warm-up the collector is stopped (SIGTERM) for
the outage while the park goes on publishing into its session; at the end of the outage the
simulator stops cleanly (every machine's final reading acknowledged by the broker, every gateway
marked offline, the truth written) and the collector is started again at the same moment. From
that restart the benchmark polls, until both are true or the deadline passes:

(a) raw equals the truth for every machine (``SUM("pairs")`` of ``production`` per machine);
(b) every headline dashboard number equals the truth, read through the panels' own queries as
    Grafana expands them (:mod:`tests.support.dashboards`): the park's "Pairs today" and "Pairs
    year to date", the enterprise dashboard's "Pairs today" for every enterprise, and the park's
    "Machines now" (after the park's clean stop: every machine offline, none in a state).

A figure is the time from the restart to the start of the first poll that found it true (an
upper bound by one poll). Exit status 0 when both became true and still hold at a last check,
1 otherwise, 2 for bad options. Every process stops whatever happens (``Rig.close``).
"""

import argparse
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson

from bench import _soak_check as check
from bench._soak_monitor import parse_metrics
from bench._soak_rig import DATABASE, ParkSize, Rig
from contract.durations import parse_duration
from dashboards.grafana import TIMEZONE
from influx.config import InfluxConfig, make_client
from influx.errors import InfluxError
from influx.query import query
from simulators.params import DEFAULT_PARK
from simulators.park import build_park
from simulators.sizes import machines_for_scale
from stack.process import wait_until
from tests.support.dashboards import Grafana, first_value, load

PARK = "json/Park/park-overview.json"
ENTERPRISE = "json/Enterprises/enterprise.json"
QUICK = {"machines": 200, "interval": 2.0, "outage": 20.0, "warmup": 10.0}
ITEMS = (
    "park pairs today",
    "per-enterprise pairs today",
    "machines by state",
    "pairs year to date",
)
CQ_EVERY_S = 300
"""``RESAMPLE EVERY`` of the rollups' continuous queries (:mod:`influx.rollups`)."""
WRITTEN = "hosiery_collector_readings_written_total"
REROLLED = "hosiery_collector_reroll_hours_total"
OWED = "hosiery_collector_reroll_hours_owed"


def _say(line: str) -> None:
    sys.stderr.write(f"time-to-truth {time.strftime('%H:%M:%S')}: {line}\n")
    sys.stderr.flush()


class InterruptedRunError(Exception):
    """SIGINT or SIGTERM reached the benchmark."""


class RunError(Exception):
    """A step of the run failed (a process exited, a wait timed out)."""


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.time_to_truth",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--quick", action="store_true", help="200 machines, 20 s outage")
    parser.add_argument("--outage", type=_duration, help="collector outage (default 5m)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--machines", type=int, help="a park of this many machines (default 40,000)")
    size.add_argument("--scale", type=float, help="this share of the 40,000-machine park")
    parser.add_argument(
        "--interval", type=float, help="seconds between a machine's readings (default 10)"
    )
    parser.add_argument(
        "--warmup", type=_duration, help="publishing before the outage (default 60s)"
    )
    parser.add_argument(
        "--deadline",
        type=_duration,
        default=1200.0,
        help="give up this long after the restart (default 20m)",
    )
    parser.add_argument(
        "--poll", type=_duration, default=2.0, help="least time between polls (default 2s)"
    )
    parser.add_argument(
        "--reroll-after",
        type=_duration,
        help="the collector's --reroll-after (default: the collector's, 5 min)",
    )
    parser.add_argument(
        "--summary-interval",
        type=_duration,
        help="the collector's --summary-interval (default: the collector's, 60 s)",
    )
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--dir", type=Path, help="working directory (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    quick = QUICK if args.quick else {}
    if args.machines is None and args.scale is None:
        args.machines = quick.get("machines")
    args.interval = args.interval or quick.get("interval", 10.0)
    args.outage = args.outage if args.outage is not None else quick.get("outage", 300.0)
    args.warmup = args.warmup if args.warmup is not None else quick.get("warmup", 60.0)
    if args.machines is not None and args.machines < 1:
        parser.error("--machines must be at least 1")
    if args.interval <= 0 or args.poll <= 0 or args.deadline <= 0:
        parser.error("--interval, --poll and --deadline must be positive")
    return args


def park_size(args: argparse.Namespace) -> ParkSize:
    if args.machines is not None:
        machines = int(args.machines)
    else:
        machines = machines_for_scale(DEFAULT_PARK, args.scale if args.scale else 1.0)
    return ParkSize(machines=machines, interval=args.interval, seed=args.seed)


def next_cq_run(at_s: float) -> float:
    """The continuous queries' next run after ``at_s`` (epoch s): every 5 minutes on the clock."""
    return (at_s // CQ_EVERY_S + 1) * CQ_EVERY_S


def load_average() -> float:
    return os.getloadavg()[0]


@dataclass
class Truth:
    """The simulator's truth: pairs per machine, per enterprise, in all."""

    machines: dict[check.Key, int]
    complete: bool

    @property
    def enterprises(self) -> dict[str, int]:
        return {k[0]: v for k, v in check.by(self.machines, 1).items()}

    @property
    def total(self) -> int:
        return sum(self.machines.values())


class Judge:
    """Reads raw and the panels back, and says what differs from the truth (None: equal)."""

    def __init__(self, url: str, truth: Truth, machines: int, since_s: float) -> None:
        self.url = url
        self.truth = truth
        self.machines = machines
        self.config = InfluxConfig(url=url, database=DATABASE, timeout=120)
        self.client = make_client(self.config)
        tz = ZoneInfo(TIMEZONE)
        self.first_day = dt.datetime.fromtimestamp(since_s, tz).date()
        self.park = load(PARK)
        self.enterprise = load(ENTERPRISE)

    def close(self) -> None:
        self.client.close()

    def _run(self, statement: str) -> dict[str, Any]:
        try:
            result: dict[str, Any] = query(self.client, self.config, statement, database=DATABASE)[
                0
            ]
        except InfluxError as exc:
            raise RunError(f"InfluxDB: {exc}: {statement}") from exc
        return result

    def raw(self) -> str | None:
        total = check.total_pairs(self.url, DATABASE)
        if total != self.truth.total:
            return f"raw holds {total:,} pairs of {self.truth.total:,}"
        stored = check.sums(self.url, DATABASE, '"production"', ("enterprise", "machine"))
        differences = check.compare("raw pairs per machine", stored, self.truth.machines)
        return None if differences.exact else differences.describe(3)

    def same_day(self, now_ms: int) -> bool:
        """Whether the whole run is in today's park-local day (else "today" is not all of it)."""
        today = dt.datetime.fromtimestamp(now_ms / 1000, ZoneInfo(TIMEZONE)).date()
        return today == self.first_day

    def dashboards(self, now_ms: int) -> dict[str, str | None]:
        """Each headline item: None when it equals the truth, else what it shows."""
        if not self.same_day(now_ms):
            raise RunError("the run crossed park-local midnight: 'today' is not the whole run")
        park = Grafana(self.url, DATABASE, self.park, now_ms)
        panels = {(i.title, i.ref_id): i for i in park.queries("park")}

        def number(title: str, ref: str = "A") -> Any:
            item = panels[title, ref]
            return first_value(self._run(park.expand(item.query, item.time_from, item.interval)))

        out: dict[str, str | None] = {}
        today = number("Pairs today")
        out["park pairs today"] = None if today == self.truth.total else f"{today}"
        year = number("Pairs year to date")
        out["pairs year to date"] = None if year == self.truth.total else f"{year}"
        shown = {ref: number("Machines now", ref) for ref in "ABCDEFG"}
        want = {"A": 0, "B": 0, "C": 0, "D": 0, "E": self.machines, "F": 0, "G": self.machines}
        out["machines by state"] = None if shown == want else f"{shown}"
        out["per-enterprise pairs today"] = self._per_enterprise(now_ms)
        return out

    def _per_enterprise(self, now_ms: int) -> str | None:
        """Cheap check of enterprise_1h first; when it agrees, every enterprise's panel."""
        grafana = Grafana(self.url, DATABASE, self.enterprise, now_ms, {"enterprise": "E0001"})
        [item] = [i for i in grafana.queries("enterprise") if i.title == "Pairs today"]
        lo, _hi = grafana.window(item.time_from)
        rows = self._run(
            'SELECT SUM("pairs") FROM "rollup_long"."enterprise_1h" '  # noqa: S608 - own names
            f'WHERE time >= {lo}ms GROUP BY "enterprise"'
        ).get("series", [])
        rolled = {s["tags"]["enterprise"]: int(s["values"][0][1] or 0) for s in rows}
        want = self.truth.enterprises
        differ = [e for e in sorted(set(want) | set(rolled)) if rolled.get(e, 0) != want.get(e, 0)]
        if differ:
            return f"{len(differ):,} of {len(want):,} enterprises differ (enterprise_1h)"
        for enterprise, pairs in sorted(want.items()):
            grafana.variables["enterprise"] = enterprise
            shown = first_value(
                self._run(grafana.expand(item.query, item.time_from, item.interval))
            )
            if (shown or 0) != pairs or (pairs and shown is None):
                return f"{enterprise}: the panel shows {shown}, the truth is {pairs:,}"
        return None


@dataclass
class Outcome:
    failures: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def fail(self, why: str) -> None:
        self.failures.append(why)
        _say(f"FAILED: {why}")


class Run:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.park = park_size(args)
        self.enterprises = len(
            build_park(seed=self.park.seed, machines=self.park.machines).enterprises
        )
        options: list[str] = []
        if args.reroll_after is not None:
            options += ["--reroll-after", f"{args.reroll_after:g}"]
        if args.summary_interval is not None:
            options += ["--summary-interval", f"{args.summary_interval:g}"]
        self.rig = Rig(
            workdir,
            self.park,
            sim_faults=[],
            webhook_delay=0.0,
            state_mib=0,
            state_tmpfs=False,
            collector_options=tuple(options),
        )
        self.out = Outcome()
        self.metrics: dict[str, float] = {}

    def _metrics(self) -> dict[str, float]:
        try:
            text = httpx.get(f"http://127.0.0.1:{self.rig.http_port}/metrics", timeout=5).text
        except httpx.HTTPError:
            return self.metrics
        self.metrics = parse_metrics(text)
        return self.metrics

    def _healthy(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.rig.http_port}/healthz"
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def _hold(self, seconds: float, what: str) -> None:
        """Let the park run for ``seconds`` (part of the experiment), watching the simulator."""
        end = time.monotonic() + seconds
        tick = threading.Event()
        while (left := end - time.monotonic()) > 0:
            sim = self.rig.simulator
            if sim is not None and sim.exited() is not None:
                raise RunError(f"the simulator exited with {sim.exited()} during {what}")
            tick.wait(min(1.0, left))

    def _warm_up(self) -> float:
        """Servers, collector, park; at least ``--warmup`` and until every machine's first
        reading is written. The time the park started."""
        rig = self.rig
        rig.prepare()
        rig.start_servers()
        rig.start_collector()
        wait_until(self._healthy, 120, interval=0.2, what="the collector healthy")
        rig.start_simulator()
        began = time.time()
        self._hold(self.args.warmup, "the warm-up")
        wait_until(
            lambda: self._metrics().get(WRITTEN, 0) >= self.park.machines,
            max(120.0, 4 * self.park.interval),
            interval=0.5,
            what="a reading of every machine written",
        )
        return began

    def run(self) -> Outcome:
        rig, out, park, args = self.rig, self.out, self.park, self.args
        _say(
            f"{park.machines:,} machines of {self.enterprises:,} enterprises, a reading every "
            f"{park.interval:g} s ({park.rate:,.0f} readings/s); warm-up {args.warmup:g} s, "
            f"outage {args.outage:g} s; in {rig.workdir}"
        )
        f = out.figures
        f.update(
            machines=park.machines,
            enterprises=self.enterprises,
            interval_s=park.interval,
            readings_per_s=park.rate,
            outage_s=args.outage,
            warmup_s=args.warmup,
            collector_options=list(rig.collector_options),
            cpus=os.cpu_count(),
            load={"start": load_average()},
        )
        began = self._warm_up()
        collector = rig.collector
        assert collector is not None
        f["written_before_outage"] = int(self._metrics().get(WRITTEN, 0))
        f["load"]["before_outage"] = load_average()
        _say(f"stopping the collector for {args.outage:g} s")
        code = collector.stop(120)
        if code != 0:
            out.fail(f"the collector's stop exited with {code}:\n{collector.log_tail()}")
        self._hold(args.outage, "the outage")
        sim = rig.simulator
        assert sim is not None
        assert sim.proc is not None
        # The park stops cleanly (its truth fixed) as the collector comes back.
        sim.proc.send_signal(signal.SIGTERM)
        restart = time.monotonic()
        restart_wall = time.time()
        rig.start_collector()
        f["load"]["restart"] = load_average()
        _say("collector restarted; the simulator is stopping")
        truth = self._truth(restart)
        judge = Judge(rig.influx.url, truth, park.machines, began)
        try:
            self._poll(judge, restart)
            raw_at = out.figures["raw_equal_after_s"]
            if raw_at is not None:
                out.figures["next_cq_after_raw_s"] = (
                    next_cq_run(restart_wall + raw_at) - restart_wall
                )
            self._last_check(judge)
        finally:
            judge.close()
        f["load"]["end"] = load_average()
        code = collector.stop(120)
        if code != 0:
            out.fail(f"the collector's last stop exited with {code}:\n{collector.log_tail()}")
        out.lines = self._report()
        return out

    def _truth(self, restart: float) -> Truth:
        """Wait for the park's clean stop; its truth."""
        rig, out, f = self.rig, self.out, self.out.figures
        sim = rig.simulator
        assert sim is not None
        assert sim.proc is not None
        try:
            sim_code = sim.proc.wait(300)
        except subprocess.TimeoutExpired:
            raise RunError("the simulator did not stop within 300 s") from None
        if sim_code != 0:
            out.fail(f"the simulator exited with {sim_code}:\n{sim.log_tail()}")
        machines, data = check.read_truth(rig.truth_path)
        truth = Truth(machines, bool(data.get("complete", False)))
        if not truth.complete:
            out.fail("the simulator's truth is incomplete (final readings not acknowledged)")
        f["truth_known_after_s"] = time.monotonic() - restart
        f["truth_pairs"] = truth.total
        f["published_readings"] = int(data.get("readings", 0))
        _say(
            f"truth: {truth.total:,} pairs of {len(machines):,} machines, known "
            f"{f['truth_known_after_s']:.1f} s after the restart"
        )
        return truth

    def _poll(self, judge: Judge, restart: float) -> None:
        f, args = self.out.figures, self.args
        deadline = restart + args.deadline
        raw_at: float | None = None
        item_at: dict[str, float] = {}
        all_at: float | None = None
        last: dict[str, str | None] = {}
        raw_last: str | None = "not polled"
        rerolled_at: float | None = None
        polls = 0
        loads: list[float] = []
        tick = threading.Event()
        while True:
            started = time.monotonic()
            since = started - restart
            polls += 1
            loads.append(load_average())
            metrics = self._metrics()
            if rerolled_at is None and metrics.get(REROLLED, 0) > 0:
                rerolled_at = since
                _say(f"the collector re-rolled its first late hours by +{since:.0f} s")
            if raw_at is None:
                raw_last = judge.raw()
                if raw_last is None:
                    raw_at = since
                    _say(f"(a) raw equals the truth for every machine at +{since:.1f} s")
            if all_at is None:
                last = judge.dashboards(int(time.time() * 1000))
                for name, differs in last.items():
                    if differs is None and name not in item_at:
                        item_at[name] = since
                        _say(f"    {name} equals the truth at +{since:.1f} s")
                if all(v is None for v in last.values()):
                    all_at = since
                    _say(f"(b) every headline number equals the truth at +{since:.1f} s")
            if raw_at is not None and all_at is not None:
                break
            if time.monotonic() > deadline:
                if raw_at is None:
                    self.out.fail(f"(a) not within {args.deadline:g} s: {raw_last}")
                if all_at is None:
                    shown = "; ".join(f"{k}: {v}" for k, v in last.items() if v is not None)
                    self.out.fail(f"(b) not within {args.deadline:g} s: {shown}")
                break
            tick.wait(max(0.0, started + args.poll - time.monotonic()))
        metrics = self._metrics()
        f.update(
            raw_equal_after_s=raw_at,
            dashboards_equal_after_s=all_at,
            items_equal_after_s=item_at,
            first_reroll_seen_after_s=rerolled_at,
            rerolled_hours=int(metrics.get(REROLLED, 0)),
            hours_owed_at_end=int(metrics.get(OWED, 0)),
            written_after_restart=int(metrics.get(WRITTEN, 0)),
            polls=polls,
        )
        f["load"]["while_polling_mean"] = sum(loads) / len(loads) if loads else None
        f["load"]["while_polling_max"] = max(loads, default=None)

    def _last_check(self, judge: Judge) -> None:
        """Once reached, both must still hold (nothing rewrote them wrongly since)."""
        if self.out.failures:
            return
        differs = judge.raw()
        if differs is not None:
            self.out.fail(f"raw no longer equals the truth: {differs}")
        for name, shown in judge.dashboards(int(time.time() * 1000)).items():
            if shown is not None:
                self.out.fail(f"{name} no longer equals the truth: {shown}")

    def _report(self) -> list[str]:
        f = self.out.figures
        load = f["load"]

        def at(value: float | None) -> str:
            return f"{value:>8.1f}" if value is not None else "     n/a"

        options = " ".join(f["collector_options"]) or "none (the collector's defaults)"
        polling = (
            f"{load.get('while_polling_mean') or 0:.2f} mean while polling "
            f"(max {load.get('while_polling_max') or 0:.2f})"
        )
        title = (
            f"time to truth after a {f['outage_s']:g} s collector outage: {f['machines']:,} "
            f"machines of {f['enterprises']:,} enterprises, a reading every "
            f"{f['interval_s']:g} s ({f['readings_per_s']:,.0f} readings/s)"
        )
        lines = [
            title,
            (
                f"load average (1 min): {load['start']:.2f} at the start, {load['restart']:.2f} at "
                f"the restart, {polling}, {load['end']:.2f} at the end; {f['cpus']} CPUs"
            ),
            f"collector options: {options}",
            (
                f"published {f['published_readings']:,} readings, {f['truth_pairs']:,} pairs in "
                f"all; the truth known {f['truth_known_after_s']:.1f} s after the restart"
            ),
            (
                f"the restarted collector wrote {f['written_after_restart']:,} readings (the "
                "backlog and the park's final readings)"
            ),
            "",
            "after the restart                                      seconds",
            f"(a) raw = truth for every machine                     {at(f['raw_equal_after_s'])}",
            (
                f"(b) every headline number = truth                     "
                f"{at(f['dashboards_equal_after_s'])}"
            ),
        ]
        lines += [f"    {n:<49} {at(f['items_equal_after_s'].get(n))}" for n in ITEMS]
        reroll = f["first_reroll_seen_after_s"]
        cq = f.get("next_cq_after_raw_s")
        if cq is not None:
            lines.append(
                f"    (the continuous queries' first run after (a): +{cq:.1f} s; the panels'"
                " pairs cannot be true before it or the re-roll)"
            )
        seen = f", the first seen at +{reroll:.0f} s" if reroll is not None else ""
        lines += [
            "",
            (
                f"re-roll: {f['rerolled_hours']} hour(s) rolled up again{seen}; "
                f"{f['hours_owed_at_end']} still owed at the end"
            ),
            (
                f"{f['polls']} polls, at least {self.args.poll:g} s apart: a figure is the "
                "start of the first poll that found it true"
            ),
        ]
        return lines


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    workdir = args.dir.resolve() if args.dir else Path(tempfile.mkdtemp(prefix="hosiery-ttt-"))
    workdir.mkdir(parents=True, exist_ok=True)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        raise InterruptedRunError(signal.Signals(signum).name)

    previous: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {
        s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)
    }
    run: Run | None = None
    try:
        run = Run(args, workdir)
        outcome = run.run()
    except InterruptedRunError as exc:
        _say(f"interrupted ({exc}); stopping everything")
        outcome = Outcome(failures=[f"interrupted by {exc}"])
    except Exception as exc:  # noqa: BLE001 - any failure is reported; the children still stop
        _say(f"failed: {type(exc).__name__}: {exc}")
        outcome = Outcome(failures=[f"{type(exc).__name__}: {exc}"])
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if run is not None:
            run.rig.close()
    for line in outcome.lines:
        print(line)
    if args.json is not None:
        figures = {**outcome.figures, "failures": outcome.failures}
        args.json.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    if outcome.failures:
        print(f"\nFAILED ({len(outcome.failures)}): working directory kept: {workdir}")
        for why in outcome.failures:
            print(f"  - {why.splitlines()[0]}")
        return 1
    if not args.keep and args.dir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
