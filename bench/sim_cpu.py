"""CPU of the fleet simulator publishing the full park in real time.

Starts a Mosquitto (``stack.MosquittoServer``, the product's broker configuration) in a temporary
directory, runs ``python -m simulators run`` (40,000 machines, 1,220 gateway connections, a
reading per machine every 10 s: 4,000 messages a second) as a child process, and samples the
child's CPU time (user + system, from ``/proc/PID/stat``) over windows after a warm-up. The
broker's own counter (``$SYS/broker/publish/messages/received``) gives the message rate.

Then, in the same run, a reference: one paho-mqtt client in its own process publishing the same
messages at the same rate at QoS 1 (nothing else: no park model, one connection). The ratio of
the simulator's CPU per message to the reference's shows what the whole simulator costs next to
a general-purpose client alone on the same machine, whatever the machine's speed.

Budget: the simulator must stay under half a core (median over windows).

    .venv/bin/python -m bench.sim_cpu                 # 20 s warm-up, 60 s measured
    .venv/bin/python -m bench.sim_cpu --quick         # 4,000 machines, 10 s + 20 s
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from stack import MosquittoServer

REPO_ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BUDGET_CORES = 0.5
SYS_RECEIVED = "$SYS/broker/publish/messages/received"


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSIERY_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    return env


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


def measure(
    pid: int, warmup: float, seconds: float, window: float, started: float
) -> list[tuple[float, float, float, float]]:
    """CPU share of a core per window: ``(start, end, user share, system share)``."""
    time.sleep(max(0.0, started + warmup - time.monotonic()))
    windows = []
    t0 = time.monotonic()
    u0, s0 = cpu_seconds(pid)
    while t0 < started + warmup + seconds - 1e-6:
        time.sleep(max(0.0, t0 + window - time.monotonic()))
        t1 = time.monotonic()
        u1, s1 = cpu_seconds(pid)
        windows.append((t0, t1, (u1 - u0) / (t1 - t0), (s1 - s0) / (t1 - t0)))
        t0, u0, s0 = t1, u1, s1
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


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.sim_cpu", description=__doc__.split("\n")[0])
    parser.add_argument("--machines", type=int, default=40_000)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds")
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--reference-seconds", type=float, default=20.0)
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

    # 1,220 connections: the broker (a child, inheriting the limit) and the simulator need fds.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))

    with tempfile.TemporaryDirectory(prefix="sim-cpu-") as tmp:
        work = Path(tmp)
        broker = MosquittoServer(
            work / "mosquitto", extra_conf="allow_anonymous true\nsys_interval 2"
        )
        broker.start()
        counter = BrokerCounter(broker)
        try:
            return _bench(args, broker, counter, work)
        finally:
            counter.close()
            broker.stop()


def reference(
    args: argparse.Namespace, broker: MosquittoServer, counter: BrokerCounter, rate: float
) -> tuple[float, float]:
    """CPU share and message rate of the reference publisher."""
    print("reference: one paho client publishing the same rate at QoS 1")
    ref_argv = [
        sys.executable, "-m", "bench.sim_cpu", "--reference", broker.url,
        "--rate", str(rate), "--reference-seconds", str(args.reference_seconds + 3),
    ]  # fmt: skip
    ref = subprocess.Popen(ref_argv, env=child_env(), cwd=REPO_ROOT)
    try:
        started = time.monotonic()
        windows = measure(ref.pid, 3.0, args.reference_seconds, args.reference_seconds, started)
        ref.wait(timeout=60)
    finally:
        if ref.poll() is None:
            ref.kill()
            ref.wait()
    share = statistics.median(u + s for _t0, _t1, u, s in windows)
    return share, counter.rate(windows[0][0], windows[-1][1])


def _bench(
    args: argparse.Namespace, broker: MosquittoServer, counter: BrokerCounter, work: Path
) -> int:
    duration = args.warmup + args.seconds + 2.0
    truth_file = work / "truth.json"
    argv = [
        sys.executable, "-m", "simulators", "run", "--mqtt-url", broker.url,
        "--machines", str(args.machines), "--interval", str(args.interval),
        "--duration", str(duration), "--truth-file", str(truth_file),
    ]  # fmt: skip
    log = work / "simulator.log"
    print(f"simulator: {args.machines:,} machines, a reading each every {args.interval:g} s; "
          f"warm-up {args.warmup:g} s, measuring {args.seconds:g} s")  # fmt: skip
    with log.open("wb") as out:
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=out, env=child_env(), cwd=REPO_ROOT)
    try:
        windows = measure(proc.pid, args.warmup, args.seconds, args.window, started)
        code = proc.wait(timeout=duration + 120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if code != 0:
        print(f"simulator exited with {code}:\n{log.read_text()[-2000:]}")
        return 2
    truth = orjson.loads(truth_file.read_bytes())
    shares = [u + s for _t0, _t1, u, s in windows]
    median = statistics.median(shares)
    rate = counter.rate(windows[0][0], windows[-1][1])
    machines_rate = args.machines / args.interval
    per_message_us = median / rate * 1e6

    ref_share, ref_rate = reference(args, broker, counter, machines_rate)
    ref_us = ref_share / ref_rate * 1e6

    figures: dict[str, Any] = {
        "machines": args.machines,
        "gateways": len({m["enterprise"] for m in truth["machines"]}),
        "interval_s": args.interval,
        "windows_cpu_share": [round(x, 4) for x in shares],
        "median_cpu_share": round(median, 4),
        "median_user_share": round(statistics.median(u for *_, u, _s in windows), 4),
        "median_system_share": round(statistics.median(s for *_, s in windows), 4),
        "messages_per_s": round(rate, 1),
        "cpu_us_per_message": round(per_message_us, 1),
        "reference_cpu_share": round(ref_share, 4),
        "reference_messages_per_s": round(ref_rate, 1),
        "reference_cpu_us_per_message": round(ref_us, 1),
        "ratio_to_reference": round(per_message_us / ref_us, 3),
        "budget_cores": BUDGET_CORES,
        "ratio_to_budget": round(median / BUDGET_CORES, 3),
        "truth_complete": truth["complete"],
        "readings": truth["readings"],
    }
    print(f"  windows (share of a core): {', '.join(f'{x:.3f}' for x in shares)}")
    print(f"simulator CPU, median     : {median:.3f} core "
          f"(user {figures['median_user_share']:.3f}, system {figures['median_system_share']:.3f})"
          f" = {median / BUDGET_CORES:.0%} of the {BUDGET_CORES} core budget")  # fmt: skip
    print(f"messages received / s     : {rate:,.0f} (expected {machines_rate:,.0f})")
    print(f"simulator CPU per message : {per_message_us:.1f} us")
    print(
        f"reference CPU per message : {ref_us:.1f} us ({ref_share:.3f} core at {ref_rate:,.0f}/s)"
    )
    print(f"ratio to reference        : {per_message_us / ref_us:.2f}")
    if args.json:
        args.json.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    if not truth["complete"]:
        print("FAIL: the simulator's final readings were not all acknowledged")
        return 1
    if median >= BUDGET_CORES:
        print(f"FAIL: {median:.3f} core is over the budget of {BUDGET_CORES}")
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
