"""The soak's faults and their schedule.

Each fault has a beginning and an end (the end of ``collector_kill`` restarts the collector, of
``influx_hang`` resumes InfluxDB, ...). The schedule repeats the *heavy* faults, which stop
ingest, one after another with a recovery gap after each, in rounds; the *light* faults (flood,
client-id takeover, slow webhook) run between and across them. Gateway deaths without a
DISCONNECT are injected by the simulator all through the run (``--fault-gateway-death``).

The last part of the run has no fault at all: after a broker crash the readings it had
acknowledged since its last save are gone, and only each machine's next reading brings their
pairs back (counters are cumulative), so the run ends with enough clean time for every machine to
report again several times and for the collector to catch up.
"""

import contextlib
import heapq
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from bench._soak_rig import FLOOD_PASSWORD, FLOOD_USER, Rig
from stack.accounts import COLLECTOR_USER

HEAVY = (
    "broker_kill",
    "broker_restart",
    "collector_kill",
    "influx_kill",
    "disk_full",
    "influx_hang",
)
"""The heavy faults in their default order. Any order must end exact: a collector killed
after an InfluxDB write and a broker crash before the broker's next save (so that the batch's
messages are never redelivered) is covered by the journal written ahead of the write
(``--order collector_kill,broker_kill,...`` exercises it; docs/architecture.md, Write-ahead
journal)."""
LIGHT = ("flood", "takeover", "slow_webhook")


@dataclass(frozen=True)
class Planned:
    at: float
    """Seconds after the simulator started."""
    fault: str
    duration: float


@dataclass
class Durations:
    collector_down: float
    broker_down: float
    influx_down: float
    influx_hang: float
    disk_full: float
    flood: float

    @classmethod
    def for_run(cls, total_s: float, influx_hang: float | None) -> "Durations":
        return cls(
            collector_down=2.0,
            broker_down=1.0,
            influx_down=1.0,
            influx_hang=influx_hang if influx_hang is not None else min(60.0, total_s / 10),
            disk_full=min(20.0, total_s * 0.06),
            flood=min(10.0, max(2.0, total_s / 60)),
        )

    def of(self, fault: str) -> float:
        return {
            "collector_kill": self.collector_down,
            "broker_kill": self.broker_down,
            "broker_restart": 0.0,
            "influx_kill": self.influx_down,
            "disk_full": self.disk_full,
            "influx_hang": self.influx_hang,
        }[fault]


def build_schedule(
    total_s: float,
    rounds: int,
    durations: Durations,
    *,
    disk: bool,
    order: tuple[str, ...] = HEAVY,
) -> tuple[list[Planned], float]:
    """The faults of a run of ``total_s`` seconds, and when the clean tail begins."""
    warmup = min(20.0, max(5.0, total_s * 0.08))
    tail = max(22.0, total_s * 0.25)
    heavy = [f for f in order if disk or f != "disk_full"]
    per_round = (total_s - warmup - tail) / rounds
    busy = sum(durations.of(f) for f in heavy)
    gap = (per_round - busy) / len(heavy)
    if gap < 2.0:
        raise ValueError(
            f"{total_s:.0f} s leave {gap:.1f} s between faults: run longer, or fewer rounds"
        )
    plan: list[Planned] = []
    t = warmup
    for _ in range(rounds):
        round_start = t
        ends: list[float] = []
        for fault in heavy:
            length = durations.of(fault)
            plan.append(Planned(t, fault, length))
            t += length + gap
            ends.append(t - gap)
        # Light faults in the calm after the second and the fourth heavy fault, and a slow
        # webhook through the whole round.
        plan.append(Planned(ends[1] + gap * 2 / 3, "takeover", 0.0))
        plan.append(Planned(ends[3] + gap / 3, "flood", min(durations.flood, gap / 2)))
        plan.append(Planned(round_start, "slow_webhook", t - round_start - gap))
    plan.sort(key=lambda p: p.at)
    return plan, t


@dataclass
class Occurrence:
    fault: str
    planned: Planned
    began: float = 0.0
    """Wall-clock seconds."""
    ended: float = 0.0
    notes: list[str] = field(default_factory=list)
    error: str | None = None


class Faults:
    """Begins and ends faults on a :class:`Rig`; records what happened."""

    def __init__(self, rig: Rig, log: Callable[[str], None]) -> None:
        self.rig = rig
        self.log = log
        self.occurrences: list[Occurrence] = []
        self.flood_published = 0
        self.expected_collector_stop = threading.Event()
        self._flood: subprocess.Popen[bytes] | None = None
        self.waiting: list[threading.Thread] = []
        """Threads collecting the results of flood publishers."""

    # -- the heavy faults -------------------------------------------------------------------

    def begin(self, occ: Occurrence) -> None:
        rig, name = self.rig, occ.fault
        if name == "collector_kill":
            self.expected_collector_stop.set()
            assert rig.collector is not None
            rig.collector.kill()
        elif name == "broker_kill":
            rig.mosquitto.stop(kill=True)
        elif name == "broker_restart":
            rig.mosquitto.stop()
        elif name == "influx_kill":
            rig.influx.stop(kill=True)
        elif name == "influx_hang":
            rig.influx.pause()
        elif name == "disk_full":
            written = rig.disk.fill()
            occ.notes.append(f"{written / 2**20:.0f} MiB filler")
        elif name == "flood":
            self._begin_flood(occ)
        elif name == "takeover":
            occ.notes.append(self._takeover())
        elif name == "slow_webhook":
            rig.webhook.slow.set()
        else:
            raise ValueError(f"no fault {name!r}")

    def end(self, occ: Occurrence) -> None:
        rig, name = self.rig, occ.fault
        if name == "collector_kill":
            rig.start_collector()
            self.expected_collector_stop.clear()
        elif name in ("broker_kill", "broker_restart"):
            rig.mosquitto.start()
        elif name == "influx_kill":
            rig.influx.start()
        elif name == "influx_hang":
            rig.influx.resume()
        elif name == "disk_full":
            rig.disk.free()
        elif name == "flood":
            # The publisher stops by itself; its PUBACKs may take a while under load, so its
            # result is collected by a thread of its own and the schedule goes on.
            proc, self._flood = self._flood, None
            if proc is not None:
                thread = threading.Thread(target=self._flood_result, args=(proc, occ), daemon=True)
                thread.start()
                self.waiting.append(thread)
        elif name == "slow_webhook":
            rig.webhook.slow.clear()

    # -- the light faults -------------------------------------------------------------------

    def _begin_flood(self, occ: Occurrence) -> None:
        rig = self.rig
        rate = 10 * rig.rate
        occ.notes.append(f"target {rate:,.0f} msg/s")
        argv = [
            sys.executable, "-m", "bench._soak_flood", rig.mosquitto.host, str(rig.mosquitto.port),
            FLOOD_USER, str(rate), str(occ.planned.duration), str(len(self.occurrences)),
        ]  # fmt: skip
        self._flood = rig.start_helper("flood", argv, FLOOD_PASSWORD.encode())

    def _flood_result(self, proc: "subprocess.Popen[bytes]", occ: Occurrence) -> None:
        try:
            assert proc.stdout is not None
            out = proc.stdout.read()
            proc.wait(300)
        except Exception as exc:  # noqa: BLE001 - recorded, the soak goes on
            occ.error = f"flood publisher: {exc}"
            with contextlib.suppress(Exception):
                proc.kill()
            return
        try:
            result = orjson.loads(out.splitlines()[-1])
        except (orjson.JSONDecodeError, IndexError):
            occ.error = f"flood publisher exited {proc.returncode} without a result"
            return
        self.flood_published += int(result["acknowledged"])
        occ.notes.append(
            f"{result['published']:,} messages in {result['seconds']:.1f} s "
            f"({result['rate']:,.0f} msg/s), {result['acknowledged']:,} acknowledged by the "
            f"broker after {result['acked_after_s']:.1f} s"
        )
        if result.get("disconnects"):
            occ.notes.append(f"the broker dropped the publisher {result['disconnects']} time(s)")
        unacked = result["published"] - result["acknowledged"]
        if unacked:
            # The broker may or may not have passed these on: they are not counted; every
            # acknowledged one must be stored as rejected (checked at the end of the run).
            occ.notes.append(f"{unacked:,} never acknowledged (not counted)")
        if not result["acknowledged"]:
            occ.error = "the broker acknowledged no flood message"

    def _takeover(self) -> str:
        """A gateway account logs in with the collector's client id and a clean start."""
        rig = self.rig
        enterprise, password = rig.gateway_accounts()[0]
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=COLLECTOR_USER, protocol=mqtt.MQTTv5
        )
        client.username_pw_set(enterprise, password)
        codes: list[ReasonCode] = []
        client.on_connect = lambda _c, _u, _f, rc, _p: codes.append(rc)
        try:
            client.connect(rig.mosquitto.host, rig.mosquitto.port, clean_start=True)
            client.loop_start()
            deadline = time.monotonic() + 10
            while not codes and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            with contextlib.suppress(Exception):
                client.disconnect()
            client.loop_stop()
        answer = str(codes[0]) if codes else "no CONNACK"
        return f"as {enterprise} with client id {COLLECTOR_USER!r}: {answer}"


class Executor:
    """Runs a schedule from one thread: each fault's beginning, then its end ``duration`` later.

    ``stop`` ends the schedule: no fault begins any more, and those begun end at once.
    """

    def __init__(self, faults: Faults, plan: list[Planned], t0: float) -> None:
        self.faults = faults
        self.plan = plan
        self.t0 = t0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="soak-faults", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _wait(self, at: float) -> bool:
        return not self.stop.wait(max(0.0, self.t0 + at - time.time()))

    def _run(self) -> None:
        # (time, order, occurrence, "begin" | "end"); at the same moment, ends go first. A
        # fault's end is due its duration after it actually began, however late that was.
        due: list[tuple[float, int, int, str, Occurrence]] = []
        for i, planned in enumerate(self.plan):
            heapq.heappush(due, (planned.at, 1, i, "begin", Occurrence(planned.fault, planned)))
        while due:
            at, _, i, kind, occ = heapq.heappop(due)
            if not self._wait(at) and kind == "begin":
                continue  # stopping: no new fault, but every one begun ends
            try:
                if kind == "begin":
                    occ.began = time.time()
                    self.faults.occurrences.append(occ)
                    self.faults.log(f"fault {occ.fault} begins")
                    self.faults.begin(occ)
                    # (a fault of no duration ends right after it began)
                    ends = occ.began - self.t0 + max(occ.planned.duration, 1e-3)
                    heapq.heappush(due, (ends, 0, i, "end", occ))
                else:
                    self.faults.end(occ)
                    occ.ended = time.time()
                    self.faults.log(f"fault {occ.fault} ends")
            except Exception as exc:  # noqa: BLE001 - recorded; the soak fails on it
                occ.error = f"{kind}: {type(exc).__name__}: {exc}"
                occ.ended = occ.ended or time.time()
                self.faults.log(f"fault {occ.fault} {kind} failed: {exc}")
                if kind == "begin":
                    heapq.heappush(due, (occ.began - self.t0, 0, i, "end", occ))

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)
