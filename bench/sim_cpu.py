"""CPU of the fleet simulator publishing the full park in real time, next to its baseline.

Starts two Mosquittos (``stack.MosquittoServer``, the product's broker configuration) in a
temporary directory and, at the same time, two ``python -m simulators run`` child processes
(40,000 machines, 1,220 gateway connections, a reading per machine every 10 s: 4,000 messages a
second each), one per broker: the simulator of this tree and the one of a **baseline** revision
(``git archive`` of it into the temporary directory, run with the same interpreter). Both
children's CPU time (user + system, from ``/proc/PID/stat``) is sampled over the same windows
after a warm-up, so both see the same load on the machine; each broker's own counter
(``$SYS/broker/publish/messages/received``) gives its message rate. The figure of merit is the
ratio of this tree's CPU to the baseline's (median of the per-window ratios).

Then, in the same run, a reference: one paho-mqtt client in its own process publishing the same
messages at the same rate at QoS 1 (nothing else: no park model, one connection). The ratio of
the simulator's CPU per message to the reference's shows what the whole simulator costs next to
a general-purpose client alone on the same machine.

Budget: the simulator must stay under half a core (median over windows), and within
``--max-ratio`` of the baseline.

    .venv/bin/python -m bench.sim_cpu                 # 20 s warm-up, 60 s measured
    .venv/bin/python -m bench.sim_cpu --quick         # 4,000 machines, 10 s + 20 s
    .venv/bin/python -m bench.sim_cpu --baseline main

The default baseline is the last revision whose gateways had their own MQTT 3.1.1 encoder
(the parent of the commit that removed ``simulators/mqtt_wire.py``).
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from stack import MosquittoServer

REPO_ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BUDGET_CORES = 0.5
MAX_RATIO = 1.10
SYS_RECEIVED = "$SYS/broker/publish/messages/received"
REMOVED_ENCODER = "simulators/mqtt_wire.py"


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def child_env(root: Path = REPO_ROOT) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSIERY_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
    return env


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO_ROOT, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def default_baseline() -> str:
    """The parent of the commit that removed the gateways' own MQTT 3.1.1 encoder."""
    removed = git("log", "-1", "--format=%H", "--diff-filter=D", "--", REMOVED_ENCODER)
    if not removed:
        raise SystemExit(f"no commit removed {REMOVED_ENCODER}: give --baseline REV")
    return git("rev-parse", f"{removed}^")


def export_tree(revision: str, dest: Path) -> None:
    """The files of ``revision`` (``git archive``) in ``dest``."""
    dest.mkdir(parents=True)
    with subprocess.Popen(
        ["git", "archive", "--format=tar", revision], cwd=REPO_ROOT, stdout=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            tar.extractall(dest, filter="data")
    if proc.returncode != 0:
        raise SystemExit(f"git archive {revision} failed")


class BrokerCounter:
    """The broker's count of PUBLISH packets received, as it reports it (every few seconds)."""

    def __init__(self, broker: MosquittoServer) -> None:
        self.samples: list[tuple[float, int]] = []
        self._lock = threading.Lock()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self._client.on_connect = lambda c, *_a: c.subscribe(SYS_RECEIVED, 0)
        self._client.on_message = self._on_message
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.samples.append((time.monotonic(), int(msg.payload)))

    def rate(self, start: float, end: float) -> float:
        """Messages a second between the first and last reports within ``[start, end]``."""
        with self._lock:
            inside = [(t, n) for t, n in self.samples if start <= t <= end]
        if len(inside) < 2:
            return float("nan")
        (t0, n0), (t1, n1) = inside[0], inside[-1]
        return (n1 - n0) / (t1 - t0)

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


Window = tuple[float, float, float, float]
"""``(start, end, user share, system share)`` of a core."""


def measure(
    pids: list[int], warmup: float, seconds: float, window: float, started: float
) -> list[list[Window]]:
    """CPU share of a core per window, for each process, over the same windows."""
    time.sleep(max(0.0, started + warmup - time.monotonic()))
    windows: list[list[Window]] = [[] for _ in pids]
    t0 = time.monotonic()
    last = [cpu_seconds(pid) for pid in pids]
    while t0 < started + warmup + seconds - 1e-6:
        time.sleep(max(0.0, t0 + window - time.monotonic()))
        t1 = time.monotonic()
        now = [cpu_seconds(pid) for pid in pids]
        for k, ((u0, s0), (u1, s1)) in enumerate(zip(last, now, strict=True)):
            windows[k].append((t0, t1, (u1 - u0) / (t1 - t0), (s1 - s0) / (t1 - t0)))
        t0, last = t1, now
    return windows


def run_reference(url: str, rate: float, seconds: float) -> None:
    """The reference publisher (child process): paho, one connection, QoS 1, paced batches."""
    host, port = url.removeprefix("mqtt://").rsplit(":", 1)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-reference",
                         protocol=mqtt.MQTTv311)  # fmt: skip
    client.max_inflight_messages_set(1000)
    client.connect(host, int(port))
    client.loop_start()
    topics = [f"hosiery/v1/E{e:04d}/M{m:03d}/counter" for e in range(1, 41) for m in range(1, 101)]
    period = 0.02
    sent = 0.0
    seq = 0
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        due = (time.monotonic() - start) * rate
        while sent < due:
            payload = orjson.dumps(
                {
                    "ts": time.time_ns() // 1_000_000,
                    "seq": seq,
                    "boot": "ref-1",
                    "pairs_total": seq // 4000,
                    "state": "running",
                    "style": "terry-sport",
                    "rpm": 240.0,
                }
            )
            client.publish(topics[seq % len(topics)], payload, qos=1)
            seq += 1
            sent += 1
        time.sleep(max(0.0, period - (time.monotonic() - start - sent / rate)))
    client.loop_stop()
    client.disconnect()


@dataclass
class Subject:
    """One simulator under measurement: its tree, broker and figures."""

    name: str
    root: Path
    broker: MosquittoServer
    counter: BrokerCounter
    truth_file: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    windows: list[Window] | None = None

    def start(self, args: argparse.Namespace, duration: float) -> None:
        argv = [
            sys.executable, "-m", "simulators", "run", "--mqtt-url", self.broker.url,
            "--machines", str(args.machines), "--interval", str(args.interval),
            "--duration", str(duration), "--truth-file", str(self.truth_file),
        ]  # fmt: skip
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=out, env=child_env(self.root), cwd=self.root
            )

    def shares(self) -> list[float]:
        return [u + s for _t0, _t1, u, s in self.windows or []]

    def figures(self) -> dict[str, Any]:
        windows = self.windows or []
        shares = self.shares()
        median = statistics.median(shares)
        rate = self.counter.rate(windows[0][0], windows[-1][1])
        truth = orjson.loads(self.truth_file.read_bytes())
        return {
            "windows_cpu_share": [round(x, 4) for x in shares],
            "median_cpu_share": round(median, 4),
            "median_user_share": round(statistics.median(u for *_, u, _s in windows), 4),
            "median_system_share": round(statistics.median(s for *_, s in windows), 4),
            "messages_per_s": round(rate, 1),
            "cpu_us_per_message": round(median / rate * 1e6, 1),
            "gateways": len({m["enterprise"] for m in truth["machines"]}),
            "truth_complete": truth["complete"],
            "readings": truth["readings"],
        }


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.sim_cpu", description=__doc__.split("\n")[0])
    parser.add_argument("--machines", type=int, default=40_000)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds")
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--reference-seconds", type=float, default=20.0)
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="git revision to compare with (default: the last one with the gateways' own "
        "MQTT 3.1.1 encoder)",
    )
    parser.add_argument(
        "--max-ratio", type=float, default=MAX_RATIO, help="largest CPU ratio to the baseline"
    )
    parser.add_argument("--quick", action="store_true", help="4,000 machines, 10 s + 20 s")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--reference", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=4000.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference:
        run_reference(args.reference, args.rate, args.reference_seconds)
        return 0
    if args.quick:
        args.machines, args.warmup, args.seconds = 4000, 10.0, 20.0
        args.reference_seconds = 10.0
    baseline = git("rev-parse", args.baseline) if args.baseline else default_baseline()

    # 2 x 1,220 connections: the brokers (children, inheriting the limit) and simulators need fds.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))

    with tempfile.TemporaryDirectory(prefix="sim-cpu-") as tmp:
        work = Path(tmp)
        export_tree(baseline, work / "baseline")
        subjects: list[Subject] = []
        try:
            for name, root in (("current", REPO_ROOT), ("baseline", work / "baseline")):
                broker = MosquittoServer(
                    work / f"mosquitto-{name}", extra_conf="allow_anonymous true\nsys_interval 2"
                )
                broker.start()
                subjects.append(
                    Subject(
                        name,
                        root,
                        broker,
                        BrokerCounter(broker),
                        work / f"truth-{name}.json",
                        work / f"simulator-{name}.log",
                    )
                )
            return _bench(args, subjects, baseline)
        finally:
            for subject in subjects:
                subject.counter.close()
                subject.broker.stop()


def reference(args: argparse.Namespace, subject: Subject, rate: float) -> tuple[float, float]:
    """CPU share and message rate of the reference publisher."""
    print("reference: one paho client publishing the same rate at QoS 1")
    ref_argv = [
        sys.executable, "-m", "bench.sim_cpu", "--reference", subject.broker.url,
        "--rate", str(rate), "--reference-seconds", str(args.reference_seconds + 3),
    ]  # fmt: skip
    ref = subprocess.Popen(ref_argv, env=child_env(), cwd=REPO_ROOT)
    try:
        started = time.monotonic()
        windows = measure([ref.pid], 3.0, args.reference_seconds, args.reference_seconds, started)[
            0
        ]
        ref.wait(timeout=60)
    finally:
        if ref.poll() is None:
            ref.kill()
            ref.wait()
    share = statistics.median(u + s for _t0, _t1, u, s in windows)
    return share, subject.counter.rate(windows[0][0], windows[-1][1])


def _run_simulators(args: argparse.Namespace, subjects: list[Subject]) -> bool:
    """Both simulators at once, measured over the same windows; False if one failed."""
    duration = args.warmup + args.seconds + 2.0
    started = time.monotonic()
    for subject in subjects:
        subject.start(args, duration)
    procs = [s.proc for s in subjects if s.proc is not None]
    try:
        windows = measure([p.pid for p in procs], args.warmup, args.seconds, args.window, started)
        codes = [p.wait(timeout=duration + 120) for p in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    ok = True
    for subject, subject_windows, code in zip(subjects, windows, codes, strict=True):
        subject.windows = subject_windows
        if code != 0:
            print(
                f"{subject.name} simulator exited with {code}:\n{subject.log.read_text()[-2000:]}"
            )
            ok = False
    return ok


def _bench(args: argparse.Namespace, subjects: list[Subject], baseline: str) -> int:
    load_before = os.getloadavg()
    print(f"simulators: this tree and baseline {baseline[:12]}, side by side, each "
          f"{args.machines:,} machines reading every {args.interval:g} s to its own broker; "
          f"warm-up {args.warmup:g} s, measuring {args.seconds:g} s")  # fmt: skip
    if not _run_simulators(args, subjects):
        return 2
    current, base = subjects
    figures: dict[str, Any] = {
        "machines": args.machines,
        "interval_s": args.interval,
        "baseline_revision": baseline,
        "current": current.figures(),
        "baseline": base.figures(),
    }
    paired = [c / b for c, b in zip(current.shares(), base.shares(), strict=True) if b > 0]
    ratio = statistics.median(paired)
    figures["ratio_to_baseline"] = round(ratio, 3)
    figures["ratio_of_medians"] = round(
        figures["current"]["median_cpu_share"] / figures["baseline"]["median_cpu_share"], 3
    )
    machines_rate = args.machines / args.interval
    ref_share, ref_rate = reference(args, current, machines_rate)
    ref_us = ref_share / ref_rate * 1e6
    load_after = os.getloadavg()
    figures.update(
        reference_cpu_share=round(ref_share, 4),
        reference_messages_per_s=round(ref_rate, 1),
        reference_cpu_us_per_message=round(ref_us, 1),
        ratio_to_reference=round(figures["current"]["cpu_us_per_message"] / ref_us, 3),
        budget_cores=BUDGET_CORES,
        load_average_before=[round(x, 2) for x in load_before],
        load_average_after=[round(x, 2) for x in load_after],
        cpus=os.cpu_count(),
    )
    for subject in subjects:
        f = figures[subject.name]
        print(f"{subject.name:>8}: windows (share of a core) "
              f"{', '.join(f'{x:.3f}' for x in f['windows_cpu_share'])}")  # fmt: skip
        print(f"{'':>8}  median {f['median_cpu_share']:.3f} core (user "
              f"{f['median_user_share']:.3f}, system {f['median_system_share']:.3f}), "
              f"{f['messages_per_s']:,.0f} msg/s (expected {machines_rate:,.0f}), "
              f"{f['cpu_us_per_message']:.1f} us/message")  # fmt: skip
    print(f"ratio to the baseline     : {ratio:.3f} (median of per-window ratios; ratio of "
          f"medians {figures['ratio_of_medians']:.3f})")  # fmt: skip
    print(
        f"reference CPU per message : {ref_us:.1f} us ({ref_share:.3f} core at {ref_rate:,.0f}/s)"
    )
    print(f"ratio to reference        : {figures['ratio_to_reference']:.2f}")
    print(f"load average (1, 5, 15 min): {load_before[0]:.2f} {load_before[1]:.2f} "
          f"{load_before[2]:.2f} before, {load_after[0]:.2f} {load_after[1]:.2f} "
          f"{load_after[2]:.2f} after; {os.cpu_count()} CPUs")  # fmt: skip
    if args.json:
        args.json.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    failed = False
    for subject in subjects:
        if not figures[subject.name]["truth_complete"]:
            print(f"FAIL: the {subject.name} simulator's final readings were not all acknowledged")
            failed = True
    median = figures["current"]["median_cpu_share"]
    if median >= BUDGET_CORES:
        print(f"FAIL: {median:.3f} core is over the budget of {BUDGET_CORES}")
        failed = True
    if ratio > args.max_ratio:
        print(f"FAIL: {ratio:.3f} times the baseline's CPU is over {args.max_ratio}")
        failed = True
    if failed:
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
