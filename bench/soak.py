"""A chaos soak: the park at its rate through every fault, repeated; then every pair checked.

    .venv/bin/python -m bench.soak --minutes 10      # the full park, every fault twice
    .venv/bin/python -m bench.soak --minutes 1       # 2,000 machines, every fault once (CI)

Starts, on loopback ports in a fresh directory, a real Mosquitto with the shipped configuration
and accounts, a real InfluxDB, ``python -m collector`` (with ``--registry`` and a webhook) and
``python -m simulators run --truth-file``. While the park publishes, a schedule
(:mod:`bench._soak_faults`) kills the collector (``kill -9``) and restarts it, kills the broker
(``kill -9``) and restarts it gracefully, hangs InfluxDB (SIGSTOP) and kills it, fills the
collector's state disk (a tmpfs, when root may mount one), floods the broker with malformed
messages on unique topics at ten times the park's rate, tries to take over the collector's client
id with a gateway's account, and makes the alert webhook slow; the simulator's gateways die
without a DISCONNECT all along. The run ends with time without faults; then the simulator stops
cleanly (its final readings delivered, its truth written), the soak waits for the collector to
catch up, and checks:

* the stored pairs of every machine (``SUM("pairs")`` of raw ``production``) against the truth;
* after ``python -m collector.reroll`` over the run, ``machine_5m``, ``machine_1h``,
  ``enterprise_1h``, ``park_5m`` and ``park_1h`` against raw, at each one's grain.

It reports messages published, stored, rejected by reason and duplicates absorbed; the longest
ingest stall and the largest lag; the collector's peak RSS, file descriptors and threads (from
``/proc``); and per fault its count and effect on ingest lag and time-to-truth (from the fault's
beginning until a reading stamped after its end is stored and the lag is back to normal). Exit
code 0 only when every machine and every rollup is exact and every step worked; the working
directory (logs of every process) is kept when not.
"""

import argparse
import contextlib
import re
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import orjson

from bench import _soak_check as check
from bench._soak_faults import HEAVY, LIGHT, Durations, Executor, Faults, build_schedule
from bench._soak_monitor import (
    Monitor,
    Sample,
    caught_up_at,
    lag_at,
    largest_lag,
    longest_stall,
)
from bench._soak_rig import DATABASE, FLOOD_USER, ParkSize, Rig
from simulators.params import DEFAULT_PARK
from simulators.park import build_park
from simulators.sizes import machines_for_scale
from stack.process import wait_until

SMALL_PARK = ParkSize(machines=2000, interval=2.0)
"""Short runs (under 3 minutes): a park that fits a CI job, reading every 2 s."""


def _say(line: str) -> None:
    sys.stderr.write(f"soak {time.strftime('%H:%M:%S')}: {line}\n")
    sys.stderr.flush()


class SoakInterruptedError(Exception):
    """SIGINT or SIGTERM reached the soak."""


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="publishing time (default 10)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--scale", type=float, help="this share of the 40,000-machine park")
    size.add_argument("--machines", type=int, help="a park of this many machines")
    parser.add_argument(
        "--interval",
        type=float,
        help="seconds between a machine's readings (default 10; 2 for runs under 3 minutes)",
    )
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--rounds", type=int, help="times the schedule repeats (default: 1 under 5 minutes, else 2)"
    )
    parser.add_argument(
        "--influx-hang", type=float, help="seconds InfluxDB stays frozen (default min(60, run/10))"
    )
    parser.add_argument(
        "--order",
        type=lambda text: tuple(text.split(",")),
        default=HEAVY,
        help=f"the heavy faults' order in a round (default {','.join(HEAVY)})",
    )
    parser.add_argument(
        "--webhook-delay", type=float, default=8.0, help="seconds the slow webhook takes to answer"
    )
    parser.add_argument(
        "--caught-up-lag",
        type=float,
        default=5.0,
        help="lag (s) under which the collector counts as caught up (at least twice the "
        "warm-up's median)",
    )
    parser.add_argument(
        "--state-mib",
        type=int,
        help="size of the state tmpfs (default 256 MiB, and 3 GiB per 40,000 machines: the "
        "journal grows by about 30 MB a minute at the full park's rate between checkpoints)",
    )
    parser.add_argument("--dir", type=Path, help="working directory (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.minutes <= 0:
        parser.error("--minutes must be positive")
    if sorted(args.order) != sorted(HEAVY):
        parser.error(f"--order must list each of {', '.join(HEAVY)} once")
    return args


def park_size(args: argparse.Namespace) -> ParkSize:
    small = args.minutes < 3
    if args.machines is not None:
        machines = args.machines
    elif args.scale is not None:
        machines = machines_for_scale(DEFAULT_PARK, args.scale)
    else:
        machines = SMALL_PARK.machines if small else machines_for_scale(DEFAULT_PARK, 1.0)
    interval = args.interval or (SMALL_PARK.interval if small else 10.0)
    return ParkSize(machines=machines, interval=interval, seed=args.seed)


def simulator_faults(enterprises: int) -> list[str]:
    """Reading faults, and a gateway death about every 5 s park-wide (never a reboot: see the
    docs' Soak section)."""
    deaths = min(1.0, 12.0 / max(1, enterprises))
    return [
        "--fault-gateway-death", f"{deaths:.4f}", "--fault-gateway-downtime", "3",
        "--fault-duplicate", "0.01", "--fault-reorder", "0.01", "--fault-drop", "0.01",
        "--fault-malformed", "0.001", "--fault-reboot", "0",
    ]  # fmt: skip


@dataclass
class Outcome:
    failures: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def fail(self, why: str) -> None:
        self.failures.append(why)
        _say(f"FAILED: {why}")


@dataclass
class CollectorExit:
    at: float
    code: int
    tail: str


def _kicked(samples: list[Sample], at: float) -> int:
    """Connections the collector lost in the 5 s after ``at`` (-1: unknown), against the last
    sample of the same process before it."""
    key = "hosiery_collector_mqtt_disconnects_total"
    before = [s for s in samples if s.t <= at and s.metrics is not None and key in s.metrics]
    if not before or before[-1].metrics is None:
        return -1
    base = before[-1]
    assert base.metrics is not None
    after = [
        s.metrics[key]
        for s in samples
        if at < s.t <= at + 5 and s.pid == base.pid and s.metrics is not None and key in s.metrics
    ]
    return int(max(after, default=base.metrics[key]) - base.metrics[key])


def healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def simulator_published(log: Path) -> tuple[int, int]:
    """Readings and messages the simulator says it published (its last line)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    found = re.findall(r"published ([\d,]+) readings \(([\d,]+) messages\)", text)
    if not found:
        return 0, 0
    readings, messages = found[-1]
    return int(readings.replace(",", "")), int(messages.replace(",", ""))


class Soak:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.total_s = args.minutes * 60
        self.park = park_size(args)
        enterprises = len(build_park(seed=self.park.seed, machines=self.park.machines).enterprises)
        self.enterprises = enterprises
        self.rig = Rig(
            workdir,
            self.park,
            sim_faults=simulator_faults(enterprises),
            webhook_delay=args.webhook_delay,
            state_mib=args.state_mib or max(256, self.park.machines * 3072 // 40_000),
        )
        self.monitor = Monitor(self.rig.http_port, self._collector_pid)
        self.faults = Faults(self.rig, _say)
        self.exits: list[CollectorExit] = []
        self.out = Outcome()
        self.t0 = 0.0

    def _collector_pid(self) -> int | None:
        c = self.rig.collector
        return None if c is None else c.pid

    # -- the run --------------------------------------------------------------------------------

    def run(self) -> Outcome:
        rig, out = self.rig, self.out
        rounds = self.args.rounds or (
            1 if self.args.minutes < 5 else max(2, int(self.args.minutes / 5))
        )
        durations = Durations.for_run(self.total_s, self.args.influx_hang)
        _say(
            f"{self.park.machines:,} machines of {self.enterprises:,} enterprises, a reading "
            f"every {self.park.interval:g} s ({self.park.rate:,.0f} readings/s), "
            f"{self.total_s:.0f} s, in {rig.workdir}"
        )
        rig.prepare()
        if rig.disk.skip_reason is not None:
            _say(f"the full-disk fault is skipped: {rig.disk.skip_reason}")
        plan, clean_from = build_schedule(
            self.total_s,
            rounds,
            durations,
            disk=rig.disk.skip_reason is None,
            order=self.args.order,
        )
        rig.start_servers()
        rig.start_collector()
        wait_until(lambda: healthy(rig.http_port), 120, interval=0.2, what="collector healthy")
        self.monitor.start()
        rig.start_simulator()
        self.t0 = time.time()
        _say(f"simulator started; faults from +{plan[0].at:.0f} s, none after +{clean_from:.0f} s")
        executor = Executor(self.faults, plan, self.t0)
        executor.start()
        end = self.t0 + self.total_s
        while time.time() < end:
            self._supervise()
            sim = rig.simulator
            if sim is not None and sim.exited() is not None:
                out.fail(f"the simulator exited with {sim.exited()}:\n{sim.log_tail()}")
                break
            time.sleep(0.5)
        executor.stop.set()
        executor.join(120)
        for thread in self.faults.waiting:
            thread.join(300)
        self._finish()
        return out

    def _supervise(self) -> None:
        """Restart a collector that exited when no fault killed it, and note it."""
        c = self.rig.collector
        if c is None or self.faults.expected_collector_stop.is_set():
            return
        code = c.exited()
        if code is None:
            return
        self.exits.append(CollectorExit(time.time(), code, c.log_tail(5)))
        _say(f"collector exited by itself with {code}; restarting it")
        self.rig.start_collector()

    def _finish(self) -> None:
        rig, out = self.rig, self.out
        sim = rig.simulator
        assert sim is not None
        stopped_at = time.time()
        _say("stopping the simulator")
        code = sim.stop(300)
        if code != 0:
            out.fail(f"the simulator exited with {code}:\n{sim.log_tail()}")
        published_at = time.time()
        try:
            truth, truth_data = check.read_truth(rig.truth_path)
        except (OSError, ValueError) as exc:
            out.fail(f"no truth file: {exc}")
            return
        if not truth_data.get("complete", False):
            out.fail("the simulator's truth is incomplete (final readings not acknowledged)")
        expected = sum(truth.values())
        _say(f"truth: {expected:,} pairs of {len(truth):,} machines; waiting for the collector")
        reached, waited, stored = check.wait_caught_up(
            rig.influx.url,
            DATABASE,
            expected,
            progress=lambda: self.monitor.totals.get("hosiery_collector_readings_written_total", 0),
            deadline_s=max(300.0, self.total_s),
        )
        caught_at = time.time()
        _say(f"stored {stored:,} pairs after {waited:.0f} s of waiting")
        self._supervise()
        c = rig.collector
        assert c is not None
        self.monitor.stop()
        final_code = c.stop(120)
        if final_code != 0:
            out.fail(f"the collector's final stop exited with {final_code}:\n{c.log_tail()}")
        raw = check.sums(rig.influx.url, DATABASE, '"production"', ("enterprise", "machine"))
        exact = check.compare("stored pairs per machine vs truth", raw, truth)
        if not reached or not exact.exact:
            out.fail(exact.describe())
        rerolled = check.reroll(
            rig.influx.url, DATABASE, int((self.t0 - 3600) * 1000), rig.workdir / "reroll.log"
        )
        if rerolled != 0:
            out.fail(f"collector.reroll exited with {rerolled} (see reroll.log)")
        rollups = check.rollups_against_raw(rig.influx.url, DATABASE, raw)
        for diff in rollups:
            if not diff.exact:
                out.fail(diff.describe())
        self._check_faults()
        self._check_flood(raw)
        self._report(
            truth=truth,
            truth_data=truth_data,
            raw=raw,
            exact=exact,
            rollups=rollups,
            stopped_at=stopped_at,
            published_at=published_at,
            caught_at=caught_at,
            waited=waited,
        )

    def _check_flood(self, raw: dict[check.Key, int]) -> None:
        """Every flood message the broker acknowledged is stored as rejected (redeliveries after
        a broker crash may add more); none counts as pairs."""
        acknowledged = self.faults.flood_published
        stored = check.rejected_from(self.rig.influx.url, DATABASE, FLOOD_USER)
        if stored < acknowledged:
            self.out.fail(
                f"the broker acknowledged {acknowledged:,} flood messages, "
                f"only {stored:,} are stored as rejected"
            )
        counted = [key for key in raw if key and key[0] == FLOOD_USER]
        if counted:
            self.out.fail(f"flood messages counted as pairs for {len(counted)} machine(s)")

    def _check_faults(self) -> None:
        """Every fault began and ended; a takeover never cost the collector its connection; the
        collector exited by itself only when refusing to start (code 2)."""
        out, samples = self.out, self.monitor.snapshot()
        for occ in self.faults.occurrences:
            if occ.error is not None:
                out.fail(f"fault {occ.fault} at +{occ.began - self.t0:.0f} s: {occ.error}")
            if occ.fault == "takeover" and (kicked := _kicked(samples, occ.began)) > 0:
                out.fail(f"a client-id takeover cost the collector {kicked} connection(s)")
        for ex in self.exits:
            if ex.code != 2:
                out.fail(f"the collector exited by itself with {ex.code}:\n{ex.tail}")

    # -- the report -------------------------------------------------------------------------------

    def _threshold(self, samples: list[Sample]) -> float:
        first = [lag for s in samples if s.t < self.t0 + 20 and (lag := lag_at(s)) is not None]
        baseline = statistics.median(first) if first else 0.0
        return max(float(self.args.caught_up_lag), 2 * baseline)

    def _effects(
        self, samples: list[Sample], threshold: float, until: float
    ) -> list[dict[str, Any]]:
        out = []
        for occ in self.faults.occurrences:
            began, ended = occ.began, max(occ.ended, occ.began)
            caught = caught_up_at(samples, ended, threshold)
            window_end = caught if caught is not None else until
            before = [lag for s in samples if s.t <= began if (lag := lag_at(s)) is not None]
            if occ.fault == "takeover":
                occ.notes.append(f"the collector's disconnections: {_kicked(samples, began)}")
            out.append(
                {
                    "fault": occ.fault,
                    "at_s": round(began - self.t0, 1),
                    "lasted_s": round(ended - began, 1),
                    "lag_before_s": round(before[-1], 1) if before else None,
                    "max_lag_s": round(largest_lag(samples, began, window_end), 1),
                    "stall_s": round(longest_stall(samples, began, window_end)[0], 1),
                    "time_to_truth_s": None if caught is None else round(caught - began, 1),
                    "notes": occ.notes,
                    "error": occ.error,
                }
            )
        return out

    def _report(
        self,
        *,
        truth: dict[check.Key, int],
        truth_data: dict[str, Any],
        raw: dict[check.Key, int],
        exact: check.Differences,
        rollups: list[check.Differences],
        stopped_at: float,
        published_at: float,
        caught_at: float,
        waited: float,
    ) -> None:
        rig, mon = self.rig, self.monitor
        samples = mon.snapshot()
        threshold = self._threshold(samples)
        effects = self._effects(samples, threshold, caught_at)
        totals = mon.totals
        readings, messages = simulator_published(
            rig.simulator.log_path if rig.simulator else Path()
        )
        stored_readings = check.readings_stored(rig.influx.url, DATABASE)
        rejected = check.rejected_by_reason(rig.influx.url, DATABASE)
        flood_stored = check.rejected_from(rig.influx.url, DATABASE, FLOOD_USER)
        rejected_metrics = {
            k.split("reason=", 1)[1].rstrip("}"): int(v)
            for k, v in totals.items()
            if k.startswith("hosiery_collector_messages_rejected_total{") and v
        }
        webhook = {
            k.split("outcome=", 1)[1].rstrip("}"): int(v)
            for k, v in totals.items()
            if k.startswith("hosiery_collector_webhook_notifications_total{") and v
        }
        stall, stall_at = longest_stall(samples, self.t0, stopped_at)
        lag = largest_lag(samples, self.t0, caught_at)
        per_fault: dict[str, dict[str, Any]] = {}
        for name in (*HEAVY, *LIGHT):
            mine = [e for e in effects if e["fault"] == name]
            if not mine:
                continue
            ttts = [e["time_to_truth_s"] for e in mine if e["time_to_truth_s"] is not None]
            per_fault[name] = {
                "count": len(mine),
                "max_lag_s": max(e["max_lag_s"] for e in mine),
                "longest_stall_s": max(e["stall_s"] for e in mine),
                "time_to_truth_s": ttts,
                "not_caught_up": len(mine) - len(ttts),
            }
        faults = truth_data.get("faults", {})
        figures: dict[str, Any] = {
            "machines": self.park.machines,
            "enterprises": self.enterprises,
            "interval_s": self.park.interval,
            "rate_readings_per_s": round(self.park.rate, 1),
            "minutes": self.args.minutes,
            "simulator_readings": readings,
            "simulator_messages": messages,
            "flood_messages": self.faults.flood_published,
            "flood_rejections_stored": flood_stored,
            "readings_stored": stored_readings,
            "pairs_truth": sum(truth.values()),
            "pairs_stored": sum(raw.values()),
            "machines_exact": len(truth) - len(exact.differ),
            "machines_total": len(truth),
            "rollups_exact": all(d.exact for d in rollups),
            "rejected_stored": rejected,
            "rejected_counted": rejected_metrics,
            "duplicates_absorbed": int(totals.get("hosiery_collector_duplicates_dropped_total", 0)),
            "late_readings_dropped": int(
                totals.get("hosiery_collector_late_readings_dropped_total", 0)
            ),
            "messages_received": int(totals.get("hosiery_collector_messages_received_total", 0)),
            "mqtt_disconnects": int(totals.get("hosiery_collector_mqtt_disconnects_total", 0)),
            "mqtt_sessions_lost": int(totals.get("hosiery_collector_mqtt_sessions_lost_total", 0)),
            "write_retries": int(totals.get("hosiery_collector_write_retries_total", 0)),
            "webhook_notifications": webhook,
            "webhook_requests": rig.webhook.requests,
            "webhook_slow_answers": rig.webhook.slow_answers,
            "simulator_faults": faults,
            "longest_stall_s": round(stall, 1),
            "longest_stall_at_s": round(stall_at - self.t0, 1),
            "largest_lag_s": round(lag, 1),
            "caught_up_lag_s": round(threshold, 1),
            "final_catch_up_s": round(waited, 1),
            "simulator_stop_s": round(published_at - stopped_at, 1),
            "peak_rss_mib": round(mon.peaks.rss_mib, 1),
            "peak_fds": mon.peaks.fds,
            "peak_threads": mon.peaks.threads,
            "collector_starts": rig.collector.starts if rig.collector else 0,
            "collector_exits_unplanned": [(round(e.at - self.t0, 1), e.code) for e in self.exits],
            "disk_fault": rig.disk.skip_reason or "on a tmpfs",
            "per_fault": per_fault,
            "occurrences": effects,
        }
        self.out.figures = figures
        self.out.lines = self._lines(figures, exact, rollups)

    def _lines(
        self, f: dict[str, Any], exact: check.Differences, rollups: list[check.Differences]
    ) -> list[str]:
        def ttt(values: list[float]) -> str:
            if not values:
                return "-"
            return f"{statistics.median(values):.0f} (max {max(values):.0f})"

        rejected = ", ".join(f"{k} {v:,}" for k, v in sorted(f["rejected_stored"].items()))
        injected = ", ".join(f"{k} {v:,}" for k, v in f["simulator_faults"].items() if v)
        lines = [
            (
                f"chaos soak: {f['machines']:,} machines, {f['enterprises']:,} gateways, a "
                f"reading every {f['interval_s']:g} s ({f['rate_readings_per_s']:,.0f}/s), "
                f"{f['minutes']:g} min"
            ),
            "",
            (
                f"published   {f['simulator_messages']:,} simulator messages "
                f"({f['simulator_readings']:,} readings), {f['flood_messages']:,} flood messages"
            ),
            (
                f"received    {f['messages_received']:,} messages (every collector process, "
                "redeliveries included)"
            ),
            (
                f"stored      {f['readings_stored']:,} readings; {f['pairs_stored']:,} pairs, "
                f"truth {f['pairs_truth']:,}"
            ),
            f"rejected    {rejected or 'none'} (stored in the rejected measurement)",
            (
                f"flood       {f['flood_messages']:,} acknowledged by the broker, "
                f"{f['flood_rejections_stored']:,} stored as rejected (more: redelivered after "
                "a collector kill)"
            ),
            (
                f"duplicates  {f['duplicates_absorbed']:,} absorbed; "
                f"{f['late_readings_dropped']:,} late readings dropped (carried by later ones)"
            ),
            f"simulator   {injected}",
            (
                f"stall       longest {f['longest_stall_s']:.1f} s "
                f"(at +{f['longest_stall_at_s']:.0f} s)"
            ),
            (
                f"lag         largest {f['largest_lag_s']:.1f} s; caught up = under "
                f"{f['caught_up_lag_s']:.1f} s; final catch-up {f['final_catch_up_s']:.0f} s"
            ),
            (
                f"collector   peak RSS {f['peak_rss_mib']:.0f} MiB, {f['peak_fds']} fds, "
                f"{f['peak_threads']} threads; {f['collector_starts']} starts; "
                f"{f['mqtt_disconnects']} broker disconnects, {f['mqtt_sessions_lost']} sessions "
                f"lost, {f['write_retries']} write retries"
            ),
            (
                f"webhook     {f['webhook_requests']:,} requests, {f['webhook_slow_answers']:,} "
                f"answered slowly; outcomes {f['webhook_notifications'] or 'none'}"
            ),
            "",
            (
                f"{'fault':<16}{'count':>6}{'max lag s':>11}{'stall s':>9}  "
                "time-to-truth s (median, max)"
            ),
        ]
        for name, row in f["per_fault"].items():
            missed = row["not_caught_up"]
            lines.append(
                f"{name:<16}{row['count']:>6}{row['max_lag_s']:>11.1f}"
                f"{row['longest_stall_s']:>9.1f}  {ttt(row['time_to_truth_s'])}"
                + (f"; {missed} not caught up" if missed else "")
            )
        deaths = f["simulator_faults"].get("gateway_deaths", 0)
        lines.append(f"{'gateway_death':<16}{deaths:>6}  (all through the run, by the simulator)")
        if f["disk_fault"] != "on a tmpfs":
            lines.append(f"disk_full skipped: {f['disk_fault']}")
        lines += ["", exact.describe(), *(d.describe() for d in rollups)]
        return lines


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    workdir = args.dir.resolve() if args.dir else Path(tempfile.mkdtemp(prefix="hosiery-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        raise SoakInterruptedError(signal.Signals(signum).name)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    soak: Soak | None = None
    try:
        soak = Soak(args, workdir)
        outcome = soak.run()
    except SoakInterruptedError as exc:
        _say(f"interrupted ({exc}); stopping everything")
        outcome = Outcome(failures=[f"interrupted by {exc}"])
    except Exception as exc:  # noqa: BLE001 - any failure is reported; the children still stop
        _say(f"failed: {type(exc).__name__}: {exc}")
        outcome = Outcome(failures=[f"{type(exc).__name__}: {exc}"])
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if soak is not None:
            with contextlib.suppress(Exception):
                soak.monitor.stop()
            soak.rig.close()
    for line in outcome.lines:
        print(line)
    if args.json is not None:
        args.json.write_bytes(
            orjson.dumps(
                {**outcome.figures, "failures": outcome.failures}, option=orjson.OPT_INDENT_2
            )
        )
    if outcome.failures:
        print(f"\nFAILED ({len(outcome.failures)}): working directory kept: {workdir}")
        for why in outcome.failures:
            print(f"  - {why.splitlines()[0]}")
        return 1
    print("\nexact: every machine's pairs equal the truth, and every rollup equals raw")
    if not args.keep and args.dir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "soak"
    sys.exit(main())
