"""What Mosquitto's persistence settings cost at the full park's rate, and what a crash loses.

For each persistence setting, side by side in one run and in turn within each round, a fresh
broker (``stack.MosquittoServer`` with the product's ``config/mosquitto/hosiery.conf``, only its
``autosave_*`` lines replaced) takes the park's rate: QoS 1 readings of 40,000 machines from
several paho-mqtt gateway connections in publisher processes, paced to 4,000 messages a second,
into a persistent QoS 1 session on ``hosiery/v1/#`` (MQTT v5, clean start off, session expiry):

* **keeps-up**: the subscriber is connected and acknowledges every message at once;
* **away**: the session is created and left, so the broker queues every reading (the backlog
  grows to ``rate x seconds``).

Measured per run: the broker's CPU (utime + stime from ``/proc/PID/stat``) over the publishing
time, per second and per 1,000 messages; the saves of the persistence file (a watcher polls the
data directory every millisecond: the ``mosquitto.db.new`` file a save writes and the rename that
ends it; a save's duration is the directory's mtime at the rename minus its mtime when ``.new``
was created); the file's size; the rate the publishers got acknowledged and the longest pause
between two PUBACKs of one connection (the broker does nothing else while it saves).

Then the crash window: for the ``--crash`` settings, the broker is killed (SIGKILL) at a random
moment of the run (the same moment for every setting of a round), restarted on its data, and the
subscriber reconnects to its session and drains it; every message the broker had acknowledged to
a publisher and that never reached the subscriber is lost.

    .venv/bin/python -m bench.broker_persistence              # 3 rounds of 25 s (about 16 min)
    .venv/bin/python -m bench.broker_persistence --quick      # 1 round of 8 s (about 2.5 min)
"""

import argparse
import contextlib
import itertools
import os
import queue
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, NamedTuple

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from bench._harness import BenchError, Children, open_session
from bench.sim_cpu import cpu_seconds
from contract import SUBSCRIPTION
from stack import MosquittoServer

MACHINES_PER_ENTERPRISE = 33
"""About the park's ratio: 40,000 machines in 1,220 enterprises."""
SUBSCRIBER_ID = "bench-collector"
SESSION_EXPIRY_S = 3600
SITUATIONS = ("keeps-up", "away")
MID_SPACE = 65535
"""paho numbers its packets 1..65535 and then starts again at 1."""
KEY_SEQ = 10_000_000
"""A message's key is ``machine * KEY_SEQ + seq``."""
AUTOSAVE_KEYS = ("autosave_interval", "autosave_on_changes")


# ------------------------------------------------------------------------------- settings


class Setting(NamedTuple):
    """One persistence setting: its short name (``60s``, ``20000ch``) and its broker lines."""

    name: str
    label: str
    conf: str


def parse_setting(spec: str) -> Setting:
    """``Ns``: ``autosave_interval N``; ``Nch``: ``autosave_on_changes true`` and ``N``."""
    try:
        if spec.endswith("ch"):
            n = int(spec[:-2])
            return Setting(
                spec, f"every {n:,} changes", f"autosave_on_changes true\nautosave_interval {n}"
            )
        if spec.endswith("s"):
            n = int(spec[:-1])
            return Setting(spec, f"every {n} s", f"autosave_interval {n}")
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{spec!r}: a setting is Ns (seconds) or Nch (changes)")


class Broker(MosquittoServer):
    """The product's broker with its ``autosave_*`` lines replaced by one setting's."""

    def __init__(self, workdir: Path, setting: Setting) -> None:
        super().__init__(workdir, extra_conf="allow_anonymous true")
        self.setting = setting

    def prepare(self) -> None:
        super().prepare()
        lines = self.conf_path.read_text().splitlines()
        if "persistence true" not in lines:
            raise BenchError(f"{self.conf_path}: the product's broker conf lost `persistence true`")
        kept = [line for line in lines if line.split(" ", 1)[0] not in AUTOSAVE_KEYS]
        self.conf_path.write_text("\n".join([*kept, self.setting.conf]) + "\n")

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise BenchError("the broker is not running")
        return self._proc.pid

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"


# ------------------------------------------------------------------------- message identity


def topic_of(machine: int) -> str:
    enterprise, index = divmod(machine, MACHINES_PER_ENTERPRISE)
    return f"hosiery/v1/E{enterprise + 1:04d}/M{index + 1:03d}/counter"


def machine_of(topic: str) -> int:
    parts = topic.split("/")
    return (int(parts[2][1:]) - 1) * MACHINES_PER_ENTERPRISE + int(parts[3][1:]) - 1


class Layout(NamedTuple):
    """Which machine and reading a gateway connection's ``n``-th message is."""

    connections: int
    machines: int

    def machine_seq(self, connection: int, n: int) -> tuple[int, int]:
        per = self.machines // self.connections
        return connection + self.connections * (n % per), n // per + 1

    def key(self, connection: int, n: int) -> int:
        machine, seq = self.machine_seq(connection, n)
        return machine * KEY_SEQ + seq


def to_ranges(values: Iterable[int]) -> list[list[int]]:
    """Sorted distinct values as ``[start, stop)`` ranges."""
    ranges: list[list[int]] = []
    for v in sorted(set(values)):
        if ranges and ranges[-1][1] == v:
            ranges[-1][1] = v + 1
        else:
            ranges.append([v, v + 1])
    return ranges


def resolve_mids(mids: Iterable[int]) -> list[int]:
    """The publish numbers (0, 1, ...) of PUBACKed packet ids, which arrive in order."""
    numbers: list[int] = []
    prev = -1
    for mid in mids:
        base = mid - 1
        turn = max(0, round((prev + 1 - base) / MID_SPACE))
        prev = base + MID_SPACE * turn
        numbers.append(prev)
    return numbers


# --------------------------------------------------------------------- publisher process


class Gateway:
    """One gateway connection (paho, MQTT 3.1.1, QoS 1) and the PUBACKs it got."""

    def __init__(self, index: int, host: str, port: int, layout: Layout) -> None:
        self.index = index
        self.layout = layout
        self.published = 0
        self.acks: deque[tuple[int, float]] = deque()
        self.connected = threading.Event()
        self.lost = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"bench-gw-{index:03d}", protocol=mqtt.MQTTv311
        )
        self.client.max_inflight_messages_set(1000)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.connect(host, port, keepalive=60)
        self.client.loop_start()

    def _on_connect(
        self,
        _c: mqtt.Client,
        _u: object,
        _f: mqtt.ConnectFlags,
        reason: ReasonCode,
        _p: Properties | None,
    ) -> None:
        if not reason.is_failure:
            self.connected.set()

    def _on_disconnect(
        self,
        _c: mqtt.Client,
        _u: object,
        _f: mqtt.DisconnectFlags,
        _r: ReasonCode,
        _p: Properties | None,
    ) -> None:
        self.lost.set()

    def _on_publish(
        self, _c: mqtt.Client, _u: object, mid: int, _r: ReasonCode, _p: Properties | None
    ) -> None:
        # No lock here: paho calls this holding its own message lock.
        self.acks.append((mid, time.monotonic()))

    def publish_next(self) -> int:
        machine, seq = self.layout.machine_seq(self.index, self.published)
        payload = orjson.dumps(
            {
                "ts": time.time_ns() // 1_000_000,
                "seq": seq,
                "boot": f"B{machine:06d}-20250601T060000",
                "pairs_total": 100_000 + seq * (1 + machine % 13),
                "state": "running",
                "style": "crew-12-cotton-black",
                "rpm": 180.0 + machine % 40,
            }
        )
        self.client.publish(topic_of(machine), payload, qos=1)
        self.published += 1
        return len(payload)

    def report(self) -> dict[str, Any]:
        acks = list(self.acks)
        times = [t for _m, t in acks]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        return {
            "connection": self.index,
            "published": self.published,
            "acked": to_ranges(resolve_mids(m for m, _t in acks)),
            "acked_count": len(acks),
            "last_ack": times[-1] if times else None,
            "max_ack_gap_s": max(gaps, default=0.0),
        }


def emit(event: dict[str, Any]) -> None:
    sys.stdout.buffer.write(orjson.dumps(event) + b"\n")
    sys.stdout.flush()


def run_publisher(cfg: dict[str, Any]) -> int:
    """Publisher process: its gateway connections, paced together to ``rate`` messages/s."""
    layout = Layout(cfg["connections"], cfg["machines"])
    gateways = [Gateway(i, cfg["host"], cfg["port"], layout) for i in cfg["indices"]]
    deadline = time.monotonic() + 10
    for gw in gateways:
        if not gw.connected.wait(max(0.0, deadline - time.monotonic())):
            emit({"event": "error", "error": f"gateway {gw.index} did not connect"})
            return 1
    emit({"event": "ready"})
    if sys.stdin.readline().strip() != "go":
        return 1
    rate, seconds = float(cfg["rate"]), float(cfg["seconds"])
    start = time.monotonic()
    sent = 0
    payload_bytes = 0
    while not any(gw.lost.is_set() for gw in gateways):
        elapsed = time.monotonic() - start
        if elapsed >= seconds:
            break
        due = int(elapsed * rate)
        while sent < due:
            payload_bytes += gateways[sent % len(gateways)].publish_next()
            sent += 1
        time.sleep(0.005)
    published_until = time.monotonic()
    # Wait for the last PUBACKs (not after a broker crash: those never come).
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not any(gw.lost.is_set() for gw in gateways):
        if all(len(gw.acks) >= gw.published for gw in gateways):
            break
        time.sleep(0.01)
    # Disconnect every connection first: each loop thread then ends at once (loop_stop alone
    # waits for the thread's next 1-second select timeout, one connection after the other).
    for gw in gateways:
        with contextlib.suppress(OSError):
            gw.client.disconnect()
    for gw in gateways:
        gw.client.loop_stop()
    emit(
        {
            "event": "done",
            "start": start,
            "published_until": published_until,
            "published": sent,
            "payload_bytes": payload_bytes,
            "crashed": any(gw.lost.is_set() for gw in gateways),
            "gateways": [gw.report() for gw in gateways],
        }
    )
    return 0


# -------------------------------------------------------------------- subscriber process


class Subscriber:
    """The collector's stand-in: a persistent MQTT v5 session, QoS 1, acks at once (paho)."""

    def __init__(self, host: str, port: int) -> None:
        self.keys: set[int] = set()
        self.received = 0
        self.duplicates = 0
        self.last_message = time.monotonic()
        self.ready = threading.Event()
        self.connections = 0
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=SUBSCRIBER_ID, protocol=mqtt.MQTTv5
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        self.client.connect(host, port, keepalive=60, clean_start=False, properties=props)
        self.client.loop_start()

    def _on_connect(
        self,
        c: mqtt.Client,
        _u: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _p: Properties | None,
    ) -> None:
        if reason.is_failure:
            return
        self.connections += 1
        if flags.session_present:
            self.ready.set()
        else:
            c.subscribe(SUBSCRIPTION, options=SubscribeOptions(qos=1, noLocal=True))

    def _on_subscribe(
        self, _c: mqtt.Client, _u: object, _mid: int, _codes: list[ReasonCode], _p: object
    ) -> None:
        self.ready.set()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        key = machine_of(msg.topic) * KEY_SEQ + int(orjson.loads(msg.payload)["seq"])
        self.received += 1
        if key in self.keys:
            self.duplicates += 1
        else:
            self.keys.add(key)
        self.last_message = time.monotonic()


def run_subscriber(cfg: dict[str, Any]) -> int:
    """Subscriber process: until ``stop`` on stdin, or ``idle_s`` (> 0) without a message."""
    sub = Subscriber(cfg["host"], cfg["port"])
    if not sub.ready.wait(10):
        emit({"event": "error", "error": "the subscriber did not connect and subscribe"})
        return 1
    emit({"event": "ready"})
    stop = threading.Event()

    def read_stdin() -> None:
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        stop.set()

    threading.Thread(target=read_stdin, daemon=True).start()
    idle_s = float(cfg["idle_s"])
    deadline = time.monotonic() + float(cfg["max_s"])
    while not stop.is_set() and time.monotonic() < deadline:
        if idle_s > 0 and time.monotonic() - sub.last_message > idle_s:
            break
        time.sleep(0.05)
    with contextlib.suppress(OSError):
        sub.client.disconnect()
    sub.client.loop_stop()
    emit(
        {
            "event": "done",
            "received": sub.received,
            "duplicates": sub.duplicates,
            "connections": sub.connections,
            "keys": sorted(sub.keys),
        }
    )
    return 0


# ------------------------------------------------------------------------------ the harness


class Child:
    """A publisher or subscriber process of this module and the JSON events it prints."""

    def __init__(self, children: Children, role: str, cfg: dict[str, Any], log: Path) -> None:
        self.role = role
        self.log = log
        self.proc = children.spawn(
            [
                sys.executable,
                "-m",
                "bench.broker_persistence",
                f"--{role}",
                orjson.dumps(cfg).decode(),
            ],
            log,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream: IO[bytes] | None = self.proc.stdout
        assert stream is not None
        for line in stream:
            with contextlib.suppress(orjson.JSONDecodeError):
                self._events.put(orjson.loads(line))
        self._events.put(None)

    def expect(self, event: str, timeout: float) -> dict[str, Any]:
        try:
            got = self._events.get(timeout=timeout)
        except queue.Empty:
            raise BenchError(
                f"{self.role} sent no {event!r} in {timeout:.0f}s (log {self.log})"
            ) from None
        if got is None or got.get("event") != event:
            raise BenchError(f"{self.role}: {got and got.get('error')} (log {self.log})")
        return got

    def send(self, line: str) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        with contextlib.suppress(BrokenPipeError):
            stdin.write(line.encode() + b"\n")
            stdin.flush()

    def finish(self) -> None:
        Children.stop(self.proc, timeout=10)


class Save(NamedTuple):
    """One completed save of the persistence file."""

    started: float | None
    """Wall-clock seconds when ``mosquitto.db.new`` was created (None: the save was quicker
    than the watcher's poll and its start was not seen)."""
    ended: float
    """Wall-clock seconds of the rename that completed it."""
    size: int


class SaveWatcher(threading.Thread):
    """Polls the broker's data directory every millisecond and records each completed save."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(daemon=True)
        self.data_dir = data_dir
        self.saves: list[Save] = []
        self._stop_event = threading.Event()

    def _stat(self, name: str) -> os.stat_result | None:
        try:
            return (self.data_dir / name).stat()
        except FileNotFoundError:
            return None

    def run(self) -> None:
        last = self._stat("mosquitto.db")
        last_id = (last.st_ino, last.st_mtime_ns) if last else None
        started: float | None = None
        while not self._stop_event.is_set():
            if started is None and self._stat("mosquitto.db.new") is not None:
                started = self.data_dir.stat().st_mtime_ns / 1e9
            db = self._stat("mosquitto.db")
            if db is not None and (db.st_ino, db.st_mtime_ns) != last_id:
                last_id = (db.st_ino, db.st_mtime_ns)
                ended = self.data_dir.stat().st_mtime_ns / 1e9
                self.saves.append(Save(started, ended, db.st_size))
                started = None
            time.sleep(0.001)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(5)


class Run(NamedTuple):
    setting: str
    situation: str
    round: int
    figures: dict[str, Any]


def spawn_publishers(
    children: Children, args: argparse.Namespace, broker: Broker, log_dir: Path, seconds: float
) -> list[Child]:
    pubs = []
    for p in range(args.publishers):
        cfg = {
            "host": broker.host,
            "port": broker.port,
            "connections": args.connections,
            "machines": args.machines,
            "indices": list(range(p, args.connections, args.publishers)),
            "rate": args.rate * len(range(p, args.connections, args.publishers)) / args.connections,
            "seconds": seconds,
        }
        pubs.append(Child(children, "publisher", cfg, log_dir / f"publisher-{p}.log"))
    for pub in pubs:
        pub.expect("ready", 30)
    return pubs


def start_subscriber(
    children: Children, broker: Broker, log: Path, *, idle_s: float, max_s: float
) -> Child:
    cfg = {"host": broker.host, "port": broker.port, "idle_s": idle_s, "max_s": max_s}
    sub = Child(children, "subscriber", cfg, log)
    sub.expect("ready", 30)
    return sub


def acked_keys(results: list[dict[str, Any]], layout: Layout) -> set[int]:
    keys: set[int] = set()
    for result in results:
        for gw in result["gateways"]:
            for start, stop in gw["acked"]:
                keys.update(layout.key(gw["connection"], n) for n in range(start, stop))
    return keys


def publish_figures(results: list[dict[str, Any]], go: float) -> dict[str, Any]:
    gws = [gw for r in results for gw in r["gateways"]]
    acked = sum(gw["acked_count"] for gw in gws)
    last_ack = max((gw["last_ack"] for gw in gws if gw["last_ack"] is not None), default=go)
    published = sum(r["published"] for r in results)
    return {
        "published": published,
        "acked": acked,
        "acked_rate": acked / max(1e-9, last_ack - go),
        "max_ack_gap_ms": 1000 * max((gw["max_ack_gap_s"] for gw in gws), default=0.0),
        "payload_bytes": sum(r["payload_bytes"] for r in results) / max(1, published),
    }


def save_figures(saves: list[Save]) -> dict[str, Any]:
    seen = [1000 * (s.ended - s.started) for s in saves if s.started is not None]
    return {
        "saves": len(saves),
        "saves_timed": len(seen),
        # A save whose start the watcher missed took less than its poll (about 1 ms).
        "save_ms": [round(ms, 1) for ms in seen] + [0.0] * (len(saves) - len(seen)),
        "timed_saves": [
            (s.ended, s.size, s.ended - s.started) for s in saves if s.started is not None
        ],
        "db_bytes": saves[-1].size if saves else 0,
    }


def steady_run(
    children: Children, args: argparse.Namespace, setting: Setting, situation: str, work: Path
) -> dict[str, Any]:
    broker = Broker(work / "mosquitto", setting)
    broker.start()
    sub: Child | None = None
    watcher = SaveWatcher(broker.data_dir)
    try:
        if situation == "keeps-up":
            sub = start_subscriber(children, broker, work / "subscriber.log", idle_s=0, max_s=600)
        else:
            open_session(broker, SUBSCRIBER_ID, SESSION_EXPIRY_S)
        pubs = spawn_publishers(children, args, broker, work, args.seconds)
        watcher.start()
        u0, s0 = cpu_seconds(broker.pid)
        go, go_wall = time.monotonic(), time.time()
        for pub in pubs:
            pub.send("go")
        time.sleep(max(0.0, go + args.seconds - time.monotonic()))
        u1, s1 = cpu_seconds(broker.pid)
        cpu_window = time.monotonic() - go
        results = [pub.expect("done", 60) for pub in pubs]
        watcher.stop()
        figures = publish_figures(results, go)
        cpu = (u1 - u0) + (s1 - s0)
        figures |= {
            "cpu_share": cpu / cpu_window,
            "cpu_ms_per_1000": 1e6 * cpu / max(1, figures["acked"]),
            "go_wall": go_wall,
            **save_figures(watcher.saves),
        }
        if sub is not None:
            sub.send("stop")
            got = sub.expect("done", 60)
            figures["delivered"] = got["received"] - got["duplicates"]
        return figures
    finally:
        watcher.stop()
        broker.stop()


def crash_run(
    children: Children,
    args: argparse.Namespace,
    setting: Setting,
    situation: str,
    kill_after: float,
    work: Path,
) -> dict[str, Any]:
    broker = Broker(work / "mosquitto", setting)
    broker.start()
    watcher = SaveWatcher(broker.data_dir)
    layout = Layout(args.connections, args.machines)
    received: set[int] = set()
    try:
        live: Child | None = None
        if situation == "keeps-up":
            live = start_subscriber(children, broker, work / "subscriber.log", idle_s=0, max_s=600)
        else:
            open_session(broker, SUBSCRIBER_ID, SESSION_EXPIRY_S)
        pubs = spawn_publishers(children, args, broker, work, args.seconds)
        watcher.start()
        go = time.monotonic()
        for pub in pubs:
            pub.send("go")
        time.sleep(max(0.0, go + kill_after - time.monotonic()))
        killed_at = time.time()
        broker.stop(kill=True)
        results = [pub.expect("done", 60) for pub in pubs]
        watcher.stop()
        if live is not None:
            live.send("stop")
            received.update(live.expect("done", 60)["keys"])
        restart = time.monotonic()
        broker.start()
        restart_s = time.monotonic() - restart
        drain = start_subscriber(
            children, broker, work / "drain.log", idle_s=args.drain_idle, max_s=600
        )
        drained = drain.expect("done", 660)
        received.update(drained["keys"])
        acked = acked_keys(results, layout)
        lost = len(acked - received)
        rate = publish_figures(results, go)["acked_rate"]
        saved = [s for s in watcher.saves if s.ended <= killed_at]
        last_snapshot = (saved[-1].started or saved[-1].ended) if saved else None
        return {
            "kill_after_s": kill_after,
            "acked": len(acked),
            "lost": lost,
            "lost_s": lost / rate,
            "since_last_save_s": None if last_snapshot is None else killed_at - last_snapshot,
            "saves_before_kill": len(saved),
            "restart_s": restart_s,
            "redelivered_after_restart": drained["received"],
        }
    finally:
        watcher.stop()
        broker.stop()


# ------------------------------------------------------------------------------ reporting


def med(values: Iterable[float]) -> float:
    vals = list(values)
    return statistics.median(vals) if vals else float("nan")


def extrapolate_saves(steady: list[Run], summary: dict[str, Any]) -> None:
    """With the subscriber away, a save writes the whole queue: its cost per queued reading."""
    bytes_per_msg: list[float] = []
    ms_per_100k: list[float] = []
    for run in steady:
        f = run.figures
        if run.situation != "away":
            continue
        for ended, size, seconds in f["timed_saves"]:
            queued = f["acked_rate"] * (ended - f["go_wall"])
            if size > 1_000_000 and queued > 0:
                bytes_per_msg.append(size / queued)
                ms_per_100k.append(1000 * seconds / queued * 100_000)
    if not ms_per_100k:
        return
    per_100k = med(ms_per_100k)
    summary["away_save"] = {
        "bytes_per_queued_reading": med(bytes_per_msg),
        "ms_per_100k_queued": per_100k,
        "timed_saves": len(ms_per_100k),
    }
    print(
        f"\naway: a save writes {med(bytes_per_msg):.0f} bytes per queued reading and takes "
        f"{per_100k:.0f} ms per 100,000 queued readings (median of {len(ms_per_100k)} saves); "
        f"at the 2,000,000-reading queue limit that is {per_100k * 20 / 1000:.1f} s per save"
    )


def report(
    args: argparse.Namespace,
    settings: list[Setting],
    steady: list[Run],
    crashes: list[Run],
    load: tuple[float, float],
) -> dict[str, Any]:
    base = settings[0].name
    target = args.rate
    print(
        f"\nbroker persistence at {target:,.0f} msg/s QoS 1, {args.connections} connections, "
        f"{args.seconds:g} s per run, {args.rounds} round(s); Mosquitto data on "
        f"{args.workdir or tempfile.gettempdir()}"
    )
    print(f"load average (1 min) {load[0]:.2f} before, {load[1]:.2f} after; {os.cpu_count()} CPUs")
    summary: dict[str, Any] = {}
    header = (
        f"\n{'situation':<9} {'setting':<20} {'broker CPU':>10} {'ms/1k msg':>9} "
        f"{'x base':>7} {'saves':>5} {'save ms med/max':>15} {'db MB':>6} "
        f"{'acked msg/s':>11} {'held':>5} {'PUBACK pause ms':>15}"
    )
    print(header)
    for situation in SITUATIONS:
        by_round_base = {
            r.round: r.figures for r in steady if r.setting == base and r.situation == situation
        }
        for setting in settings:
            runs = [r for r in steady if r.setting == setting.name and r.situation == situation]
            if not runs:
                continue
            figs = [r.figures for r in runs]
            ratios = [
                r.figures["cpu_ms_per_1000"] / by_round_base[r.round]["cpu_ms_per_1000"]
                for r in runs
                if r.round in by_round_base
            ]
            save_ms = [ms for f in figs for ms in f["save_ms"]]
            held = sum(f["acked_rate"] >= 0.97 * target for f in figs)
            row: dict[str, Any] = {
                "cpu_share": med(f["cpu_share"] for f in figs),
                "cpu_ms_per_1000": med(f["cpu_ms_per_1000"] for f in figs),
                "ratio_to_base": med(ratios),
                "saves": med(f["saves"] for f in figs),
                "save_ms_median": med(save_ms),
                "save_ms_max": max(save_ms, default=float("nan")),
                "db_mb": med(f["db_bytes"] for f in figs) / 1e6,
                "acked_rate": med(f["acked_rate"] for f in figs),
                "held": f"{held}/{len(figs)}",
                "max_ack_gap_ms": med(f["max_ack_gap_ms"] for f in figs),
            }
            summary[f"{situation}/{setting.name}"] = row
            print(
                f"{situation:<9} {setting.label:<20} {100 * row['cpu_share']:>9.1f}% "
                f"{row['cpu_ms_per_1000']:>9.1f} {row['ratio_to_base']:>6.2f}x "
                f"{row['saves']:>5.0f} {row['save_ms_median']:>7.1f}/{row['save_ms_max']:<7.1f} "
                f"{row['db_mb']:>6.1f} {row['acked_rate']:>11,.0f} {row['held']:>5} "
                f"{row['max_ack_gap_ms']:>15.0f}"
            )
    extrapolate_saves(steady, summary)
    if crashes:
        print(
            f"\n{'crash in':<9} {'setting':<20} {'killed at s':>11} {'acked':>8} "
            f"{'lost (median; each round)':>34} {'lost s':>6} {'since save s':>12}"
        )
    for situation in SITUATIONS:
        for setting in settings:
            runs = [r for r in crashes if r.setting == setting.name and r.situation == situation]
            if not runs:
                continue
            figs = [r.figures for r in runs]
            since = [f["since_last_save_s"] for f in figs if f["since_last_save_s"] is not None]
            row = {
                "lost": med(f["lost"] for f in figs),
                "lost_each": [f["lost"] for f in figs],
                "lost_s": med(f["lost_s"] for f in figs),
                "since_last_save_s": med(since) if since else None,
                "kill_after_s": med(f["kill_after_s"] for f in figs),
                "acked": med(f["acked"] for f in figs),
            }
            summary[f"crash/{situation}/{setting.name}"] = row
            each = " ".join(f"{n:,}" for n in row["lost_each"])
            since_txt = (
                "no save"
                if row["since_last_save_s"] is None
                else (f"{row['since_last_save_s']:.1f}")
            )
            print(
                f"{situation:<9} {setting.label:<20} {row['kill_after_s']:>11.1f} "
                f"{row['acked']:>8,.0f} {row['lost']:>10,.0f}; {each:<22} "
                f"{row['lost_s']:>6.1f} {since_txt:>12}"
            )
    return summary


def run_rounds(
    children: Children,
    args: argparse.Namespace,
    settings: list[Setting],
    crash: list[Setting],
    crash_in: list[str],
    tmp: Path,
) -> tuple[list[Run], list[Run]]:
    """Every round: each situation with each setting (in turn), then the crash runs."""
    rng = random.Random(args.seed)
    steady: list[Run] = []
    crashes: list[Run] = []
    began = time.monotonic()
    for rnd in range(args.rounds):
        order = settings[rnd % len(settings) :] + settings[: rnd % len(settings)]
        for situation in SITUATIONS:
            for setting in order:
                work = tmp / f"r{rnd}-{situation}-{setting.name}"
                figures = steady_run(children, args, setting, situation, work)
                shutil.rmtree(work, ignore_errors=True)
                steady.append(Run(setting.name, situation, rnd, figures))
                print(
                    f"[{time.monotonic() - began:5.0f}s] round {rnd + 1} {situation} "
                    f"{setting.label}: CPU {100 * figures['cpu_share']:.1f}%, "
                    f"{figures['saves']} saves, acked {figures['acked_rate']:,.0f}/s",
                    file=sys.stderr,
                )
        # The same moment for every crash run of a round: the settings are compared paired.
        kill_after = rng.uniform(0.4, 0.9) * args.seconds
        for situation in crash_in:
            for setting in crash:
                work = tmp / f"r{rnd}-crash-{situation}-{setting.name}"
                figures = crash_run(children, args, setting, situation, kill_after, work)
                shutil.rmtree(work, ignore_errors=True)
                crashes.append(Run(setting.name, situation, rnd, figures))
                print(
                    f"[{time.monotonic() - began:5.0f}s] round {rnd + 1} crash {situation} "
                    f"{setting.label} at {kill_after:.1f}s: lost {figures['lost']:,} "
                    f"of {figures['acked']:,}",
                    file=sys.stderr,
                )
    return steady, crashes


# ----------------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="bench.broker_persistence", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=25.0, help="publishing per run (25)")
    parser.add_argument("--rate", type=float, default=4000.0, help="messages/s (4,000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (3); figures are medians")
    parser.add_argument("--connections", type=int, default=16, help="gateway connections (16)")
    parser.add_argument("--publishers", type=int, default=2, help="publisher processes (2)")
    parser.add_argument("--machines", type=int, default=40_000, help="machines (40,000)")
    parser.add_argument(
        "--settings",
        default="60s,5s,1s,20000ch",
        help="settings, the first being the base of the ratios: Ns = autosave_interval N; "
        "Nch = autosave_on_changes true, autosave_interval N (default 60s,5s,1s,20000ch)",
    )
    parser.add_argument(
        "--crash", default="60s,5s", help="settings whose crash window is measured (60s,5s)"
    )
    parser.add_argument(
        "--crash-in",
        default="away,keeps-up",
        help="situations of the crash runs (away,keeps-up)",
    )
    parser.add_argument("--drain-idle", type=float, default=3.0, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=10, help="seed of the kill moments")
    parser.add_argument("--workdir", type=Path, help="where the brokers keep their data")
    parser.add_argument("--quick", action="store_true", help="1 round of 8 s")
    parser.add_argument("--json", type=Path, help="also write every figure as JSON")
    parser.add_argument("--publisher", help=argparse.SUPPRESS)
    parser.add_argument("--subscriber", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publisher:
        return run_publisher(orjson.loads(args.publisher))
    if args.subscriber:
        return run_subscriber(orjson.loads(args.subscriber))
    if args.quick:
        args.rounds, args.seconds = 1, 8.0
    settings = [parse_setting(s) for s in args.settings.split(",")]
    crash = [parse_setting(s) for s in args.crash.split(",") if s]
    crash_in = [s for s in args.crash_in.split(",") if s]
    if args.machines % args.connections or not set(crash_in) <= set(SITUATIONS):
        parser.error("--machines must be a multiple of --connections; situations: away, keeps-up")
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)

    load_before = os.getloadavg()[0]
    began = time.monotonic()
    children = Children()
    tmp = Path(tempfile.mkdtemp(prefix="broker-persistence-", dir=args.workdir))
    try:
        steady, crashes = run_rounds(children, args, settings, crash, crash_in, tmp)
    except (BenchError, OSError) as exc:
        print(f"broker_persistence: {exc}", file=sys.stderr)
        return 1
    finally:
        children.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    summary = report(args, settings, steady, crashes, (load_before, os.getloadavg()[0]))
    print(f"\ntook {time.monotonic() - began:.0f} s")
    if args.json:
        args.json.write_bytes(
            orjson.dumps(
                {
                    "summary": summary,
                    "steady": [r._asdict() for r in steady],
                    "crash": [r._asdict() for r in crashes],
                },
                option=orjson.OPT_INDENT_2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
