"""Sustained throughput of the collector at QoS 1, with zero loss checked in InfluxDB.

``python -m bench.collector_throughput [--quick] [--rounds N] [--readings N] [--machines N]
[--json PATH]``, from the repository root. ``bench/README.md`` explains the output.

Two modes, each measured against a ceiling in the same run:

* **catch-up**: a backlog of readings is queued in the collector's persistent session while it
  is stopped; the collector is started and drains it. The rate runs from the first batch the
  collector reports (``/metrics``, polled every 0.1 s) to the last, so its start-up is excluded.
* **live**: publishers run while the collector drains; the rate is messages over the time from
  the first publish to the collector's last write.

Three ceilings, each in its own process, measured in the same run:

* **paho**: a plain paho subscriber (MQTT v5, QoS 1, automatic acks, the collector's Receive
  Maximum) that only counts messages, on the same backlog (its own persistent session, filled by
  the same publish) or the same live stream;
* **mqtt5**: the same count-only subscriber on the product's own client (:mod:`mqtt.client`),
  the receive limit of the collector's transport;
* **write** (catch-up only): the same readings' line protocol posted to InfluxDB in the
  collector's batches by the collector's sink, with no MQTT: the write limit.

Zero loss: after each collector round, InfluxDB's ``count("pairs")`` must equal the readings
published and ``sum("pairs")`` the pairs they carry, with nothing rejected.
"""

import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, Literal, NamedTuple

import orjson
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, CliApp, SettingsConfigDict, SettingsError

from bench._harness import (
    BenchError,
    Children,
    CollectorProcess,
    Counters,
    Worker,
    drop_database,
    drop_session,
    open_session,
    stored,
    wait_for,
)
from bench._workers import CountConfig, PublishConfig, WriteConfig
from bench._workload import MAX_SPAN_MS, Workload
from collector.settings import CollectorSettings
from stack import InfluxServer, MosquittoServer, ServerError

CATCH_UP = "catch-up"
LIVE = "live"
COLLECTOR = "collector"
CEILING = "ceiling"
"""paho's count-only subscriber (the name the JSON has always used)."""
RECEIVE = "mqtt5"
"""The product's client, count-only: the receive limit."""
WRITE = "write"
"""InfluxDB writes of the same lines, no MQTT: the write limit (catch-up only)."""
CEILINGS = (CEILING, RECEIVE, WRITE)
SUBJECTS = (*CEILINGS, COLLECTOR)
TARGET_VS_PAHO = 4.0
TARGET_VS_WRITE = 0.5
POLL_S = 0.1
STUCK_S = 10.0
SESSION_EXPIRY = 86_400
FULL = {"rounds": 3, "readings": 300_000, "machines": 40_000}
QUICK = {"rounds": 1, "readings": 20_000, "machines": 4_000}


class BenchSettings(BaseSettings):
    """Throughput of the collector (catch-up and live) against three ceilings."""

    model_config = SettingsConfigDict(
        env_prefix="HOSIERY_BENCH_",
        cli_kebab_case=True,
        cli_prog_name="python -m bench.collector_throughput",
        cli_implicit_flags=True,
        frozen=True,
        extra="forbid",
        populate_by_name=True,
    )

    quick: bool = Field(
        default=False, description="smoke run: 20,000 readings of 4,000 machines, 1 round"
    )
    rounds: int | None = Field(None, ge=1, le=50, description="rounds per mode (default 3)")
    readings: int | None = Field(
        None, ge=1000, le=MAX_SPAN_MS, description="readings per round (default 300,000)"
    )
    machines: int | None = Field(None, ge=1, description="machines (default 40,000)")
    mode: Literal["both", "catch-up", "live"] = Field("both", description="which modes to run")
    publishers: int = Field(2, ge=1, le=16, description="publisher processes")
    publish_window: int = Field(
        10_000, ge=1, le=65_535, description="PUBLISHes a publisher keeps unacknowledged"
    )
    receive_maximum: int = Field(
        20_000, ge=1, le=65_535, description="Receive Maximum of the collector and the ceilings"
    )
    ceiling_ack_batch: int = Field(
        0,
        ge=0,
        le=65_535,
        description="0: the ceiling lets paho acknowledge each message (automatic acks); "
        "N: it acknowledges every N messages in arrival order, as the collector does per batch",
    )
    json_path: Path | None = Field(None, alias="json", description="also write results as JSON")
    keep: bool = Field(
        default=False, description="keep the working directory (logs, data) after the run"
    )

    @property
    def plan(self) -> dict[str, int]:
        base = QUICK if self.quick else FULL
        return {
            "rounds": self.rounds or base["rounds"],
            "readings": self.readings or base["readings"],
            "machines": self.machines or base["machines"],
        }


@dataclass
class Measurement:
    """One subject measured in one round of one mode."""

    mode: str
    subject: str
    round: int
    messages: int
    rate: float | None = None
    """Messages per second; None when the round failed."""
    zero_loss: bool = False
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class Published(NamedTuple):
    started: float
    finished: float
    messages: int


class Sample(NamedTuple):
    t: float
    counters: Counters


class Bench:
    """The servers, the child processes and the rounds of one benchmark run."""

    def __init__(
        self,
        settings: BenchSettings,
        workdir: Path,
        mosquitto: MosquittoServer,
        influx: InfluxServer,
        children: Children,
    ) -> None:
        self.settings = settings
        self.plan = settings.plan
        self.workdir = workdir
        self.mosquitto = mosquitto
        self.influx = influx
        self.children = children
        self.run_id = uuid.uuid4().hex[:6]
        self.anomalies = False
        """Set when a round shows something to look into: the logs are then kept."""
        self._streams = 0
        readings = self.plan["readings"]
        self.drain_timeout = 60.0 + readings / 2_000
        self.publish_timeout = 60.0 + readings / 1_000

    # ------------------------------------------------------------------ building blocks

    def workload(self) -> Workload:
        """A fresh stream: its tag names its boots, client ids and database."""
        self._streams += 1
        now_ms = time.time_ns() // 1_000_000
        readings = self.plan["readings"]
        return Workload(
            readings=readings,
            machines=self.plan["machines"],
            tag=f"{self.run_id}s{self._streams}",
            base_ms=now_ms - readings - 60_000,
        )

    def log(self, name: str) -> Path:
        return self.workdir / "logs" / f"{name}.log"

    def start_publishers(self, w: Workload, name: str) -> list[Worker]:
        parts = self.settings.publishers
        workers = []
        for part in range(parts):
            config = PublishConfig(
                host=self.mosquitto.host,
                port=self.mosquitto.port,
                client_id=f"bench-{w.tag}-publisher-{part}",
                workload=w,
                part=part,
                parts=parts,
                window=self.settings.publish_window,
                timeout=self.publish_timeout,
            )
            workers.append(
                Worker(
                    self.children, "publish", config.model_dump_json(), self.log(f"{name}-{part}")
                )
            )
        try:
            for worker in workers:
                worker.expect("ready", 120)
        except BenchError:
            for worker in workers:
                worker.finish()
            raise
        return workers

    def finish_publishers(self, workers: list[Worker], w: Workload) -> Published:
        try:
            done = [worker.expect("done", self.publish_timeout + 30) for worker in workers]
        finally:
            for worker in workers:
                worker.finish()
        acked = sum(int(d["acked"]) for d in done)
        failed = sum(int(d["failed"]) for d in done)
        if acked != w.readings or failed:
            raise BenchError(f"publishers: {acked} of {w.readings} acknowledged, {failed} refused")
        return Published(
            min(float(d["started"]) for d in done), max(float(d["finished"]) for d in done), acked
        )

    def publish(self, w: Workload, name: str) -> Published:
        workers = self.start_publishers(w, name)
        for worker in workers:
            worker.go()
        return self.finish_publishers(workers, w)

    def collector_evidence(
        self, m: Measurement, collector: CollectorProcess, client_id: str
    ) -> None:
        """What the collector logged as warnings; the broker's side is read at the end."""
        m.detail["client_id"] = client_id
        m.detail["collector_warnings"] = collector.log_events("warning", "error", "critical")
        if m.detail["collector_warnings"]:
            self.anomalies = True

    def broker_evidence(self, measurements: list[Measurement]) -> None:
        """The broker's log lines about each collector round's client id (read once the broker
        has stopped: it writes its log through a buffer).

        The collector connects once per round (``c0, k120``: clean start off, its keep-alive;
        the benchmark's own session set-up uses ``k17``); a reconnection makes the broker send
        every unacknowledged message again, which the collector counts as duplicates.
        """
        connect = f"(p5, c0, k{CollectorSettings.model_fields['mqtt_keepalive'].default:g})"
        try:
            text = self.mosquitto.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return
        lines = text.splitlines()
        for m in measurements:
            client_id = m.detail.get("client_id")
            if m.subject != COLLECTOR or not client_id:
                continue
            mine = [line.partition(": ")[2] for line in lines if f" {client_id} " in f"{line} "]
            m.detail["broker_log"] = mine[:20]
            m.detail["connections"] = sum(f"as {client_id} {connect}" in line for line in mine)
            if m.detail["connections"] != 1:
                self.anomalies = True

    def forget(self, client_id: str) -> None:
        """Discard a session, so it queues nothing more; a failure is reported, not raised."""
        try:
            drop_session(self.mosquitto, client_id)
        except BenchError as exc:
            _progress(f"could not discard the session {client_id}: {exc}")

    def collector(self, client_id: str, database: str, name: str) -> CollectorProcess:
        state_dir = self.workdir / "state" / name
        state_dir.mkdir(parents=True)
        return CollectorProcess(
            self.children,
            mosquitto=self.mosquitto,
            influx=self.influx,
            client_id=client_id,
            database=database,
            state_dir=state_dir,
            log_path=self.log(name),
            receive_maximum=self.settings.receive_maximum,
        )

    def first_message(self, collector: CollectorProcess) -> tuple[Sample, int]:
        """Poll every 20 ms until the collector holds a message: its counters then, and how
        many messages it held (``/healthz`` ``buffered``: received and not yet written)."""
        deadline = time.monotonic() + 120
        while True:
            collector.check_alive()
            before = time.monotonic()
            health = collector.health()
            counters = collector.counters() if health is not None else None
            now = time.monotonic()
            held = int(health.get("buffered", 0)) if health is not None else 0
            if counters is not None and (held > 0 or counters.received > 0):
                return Sample((before + now) / 2, counters), held
            if now > deadline:
                raise BenchError(
                    f"the collector received nothing within 120s (log {collector.log_path})"
                )
            time.sleep(0.02)

    def poll(self, collector: CollectorProcess, expect: int) -> list[Sample]:
        """Read the collector's counters every 0.1 s until it has written ``expect`` readings.

        Gives up after the drain timeout, or once it has received ``expect`` messages and its
        counters stood still for ``STUCK_S`` (some readings will never be written).
        """
        samples: list[Sample] = []
        deadline = time.monotonic() + self.drain_timeout
        tick = time.monotonic()
        moved = tick
        while True:
            collector.check_alive()
            before = time.monotonic()
            counters = collector.counters()
            now = time.monotonic()
            if counters is not None:
                if not samples or samples[-1].counters != counters:
                    moved = now
                samples.append(Sample((before + now) / 2, counters))
                if counters.written >= expect:
                    return samples
                if counters.received >= expect and now - moved > STUCK_S:
                    return samples
            if now > deadline:
                return samples
            tick += POLL_S
            time.sleep(max(0.0, tick - time.monotonic()))

    def check_stored(
        self, m: Measurement, w: Workload, database: str, final: Counters | None, exit_code: int
    ) -> None:
        """Zero loss: what InfluxDB holds, and what the collector says it did.

        InfluxDB 1.6 was seen answering a count 5,000 points (one batch) short right after a
        cache snapshot, for a round whose every batch it had acknowledged with 204; a short
        count is therefore asked again (up to 5 times, 1 s apart) and the first answer kept in
        the JSON (``stored_points_first_query``) and listed under "look into".
        """
        s = stored(self.influx, database)
        first = s
        for _ in range(5):
            if s.points == w.readings and s.pairs == w.expected_pairs:
                break
            time.sleep(1.0)
            s = stored(self.influx, database)
        if first != s:
            m.detail["stored_points_first_query"] = first.points
            self.anomalies = True
        m.detail.update(
            stored_points=s.points,
            stored_pairs=s.pairs,
            expected_pairs=w.expected_pairs,
            stored_rejections=s.rejected,
            collector_exit_code=exit_code,
        )
        if final is not None:
            m.detail["counters"] = final._asdict()
        problems = []
        if s.points != w.readings:
            problems.append(f"InfluxDB holds {s.points} of {w.readings} readings")
        if s.pairs != w.expected_pairs:
            problems.append(f"InfluxDB sums {s.pairs} pairs, expected {w.expected_pairs}")
        if s.rejected:
            problems.append(f"{s.rejected} messages rejected")
        if final is None or final.written != w.readings:
            written = final.written if final else "?"
            problems.append(f"collector reports {written} of {w.readings} readings written")
        if exit_code != 0:
            problems.append(f"collector exited with {exit_code}")
        m.zero_loss = not problems
        if problems or (final is not None and final.duplicates):
            self.anomalies = True
        if problems and m.error is None:
            m.error = "; ".join(problems)
        if not self.settings.keep:
            drop_database(self.influx, database)

    # ------------------------------------------------------------------ catch-up

    def catch_up(self, rnd: int) -> list[Measurement]:
        w = self.workload()
        results: list[Measurement] = []
        # The write ceiling first: it needs no backlog, and InfluxDB then settles (compaction
        # of what it wrote, dropping it) while the backlog is published.
        m = Measurement(CATCH_UP, WRITE, rnd, w.readings)
        try:
            self.write_ceiling(m, w)
        except BenchError as exc:
            m.error = str(exc)
        _report(m)
        results.append(m)
        ids = {s: f"bench-{w.tag}-{s}" for s in (COLLECTOR, CEILING, RECEIVE)}
        order = [COLLECTOR, CEILING, RECEIVE] if rnd % 2 == 0 else [CEILING, RECEIVE, COLLECTOR]
        try:
            for client_id in ids.values():
                open_session(self.mosquitto, client_id, SESSION_EXPIRY)
            published = self.publish(w, f"catch-up-{rnd}-publisher")
            _progress(
                f"catch-up round {rnd + 1}: backlog of {w.readings:,} readings queued in "
                f"{published.finished - published.started:.1f}s"
            )
            for subject in order:
                m = Measurement(CATCH_UP, subject, rnd, w.readings)
                try:
                    if subject == COLLECTOR:
                        self.collector_catch_up(m, w, ids[subject])
                    else:
                        self.ceiling_catch_up(m, w, ids[subject], subject)
                except BenchError as exc:
                    m.error = str(exc)
                finally:
                    self.forget(ids[subject])
                _report(m)
                results.append(m)
        except BenchError as exc:
            results.extend(
                Measurement(CATCH_UP, s, rnd, w.readings, error=str(exc))
                for s in order
                if s not in {r.subject for r in results}
            )
            for client_id in ids.values():
                self.forget(client_id)
        return results

    def write_ceiling(self, m: Measurement, w: Workload) -> None:
        """The same readings' lines, written in the collector's batches: the write limit."""
        database = f"bench_{w.tag}_write"
        config = WriteConfig(
            url=self.influx.url,
            database=database,
            workload=w,
            batch_size=CollectorSettings.model_fields["batch_size"].default,
        )
        worker = Worker(
            self.children, "write", config.model_dump_json(), self.log(f"catch-up-{m.round}-write")
        )
        try:
            worker.expect("ready", 300)
            done = worker.expect("done", self.drain_timeout + 30)
        finally:
            worker.finish()
        seconds = float(done["last"]) - float(done["first"])
        m.rate = int(done["count"]) / seconds if seconds > 0 else None
        s = stored(self.influx, database)
        m.zero_loss = s.points == w.readings and s.pairs == w.expected_pairs
        if not m.zero_loss:
            m.error = f"InfluxDB holds {s.points} of {w.readings} points, {s.pairs} pairs"
        m.detail.update(seconds=round(seconds, 3), cpu_us_per_message=_cpu_us(done))
        if not self.settings.keep:
            drop_database(self.influx, database)

    def collector_catch_up(self, m: Measurement, w: Workload, client_id: str) -> None:
        database = f"bench_{w.tag}_collector"
        collector = self.collector(client_id, database, f"catch-up-{m.round}-collector")
        spawned = time.monotonic()
        collector.start()
        try:
            first, held = self.first_message(collector)
            pid = collector.proc.pid if collector.proc is not None else 0
            cpu_first = _process_cpu_s(pid)
            samples = [first, *self.poll(collector, w.readings)]
            cpu_last = _process_cpu_s(pid)
            final = collector.counters()
        except KeyboardInterrupt:
            collector.stop(timeout=5)  # interrupted: do not wait for its shutdown
            raise
        finally:
            exit_code = collector.stop()
        last = samples[-1]
        connected = collector.connected_at()
        if last.counters.written < w.readings:
            m.error = f"collector wrote {last.counters.written:.0f} of {w.readings} readings"
        elif connected is None:
            m.error = f"no 'mqtt connected' line in {collector.log_path}"
        else:
            # The broker sends the backlog from the connection on, while the collector is still
            # starting (its /healthz answers later), so the drain is timed from the connection.
            seconds = last.t - connected
            m.rate = w.readings / seconds if seconds > 0 else None
            m.detail.update(
                seconds=round(seconds, 3),
                connected_after_start_s=round(connected - spawned, 3),
                monitoring_up_after_connect_s=round(first.t - connected, 3),
                held_when_monitoring_up=held,
                longest_pause_s=round(_longest_pause(samples), 3),
                timeline=_timeline(samples, connected),
            )
            drained = last.counters.received - first.counters.received + held
            if cpu_first is not None and cpu_last is not None and drained > 0:
                # From the first message it held to the last write: its own CPU, all threads.
                m.detail["cpu_us_per_message"] = round((cpu_last - cpu_first) * 1e6 / drained, 1)
        self.collector_evidence(m, collector, client_id)
        self.check_stored(m, w, database, final, exit_code)

    def count_config(
        self, w: Workload, client_id: str, timeout: float, subject: str
    ) -> CountConfig:
        """A ceiling subscriber of a round: the collector's session settings."""
        return CountConfig(
            host=self.mosquitto.host,
            port=self.mosquitto.port,
            client_id=client_id,
            expect=w.readings,
            receive_maximum=self.settings.receive_maximum,
            session_expiry=SESSION_EXPIRY,
            ack_batch=self.settings.ceiling_ack_batch,
            timeout=timeout,
            client="mqtt5" if subject == RECEIVE else "paho",
        )

    def ceiling_catch_up(self, m: Measurement, w: Workload, client_id: str, subject: str) -> None:
        config = self.count_config(w, client_id, self.drain_timeout, subject)
        worker = Worker(
            self.children,
            "count",
            config.model_dump_json(),
            self.log(f"catch-up-{m.round}-{subject}"),
        )
        try:
            worker.expect("ready", 60)
            done = worker.expect("done", self.drain_timeout + 30)
        finally:
            worker.finish()
        seconds = float(done["last"]) - float(done["first"])
        m.rate = (int(done["count"]) - 1) / seconds if seconds > 0 else None
        m.zero_loss = int(done["count"]) == w.readings
        m.detail.update(
            seconds=round(seconds, 3),
            first_message_after_start_s=round(float(done["first"]) - float(done["started"]), 3),
            redelivered=int(done["dup"]),
            cpu_us_per_message=_cpu_us(done),
        )

    # ------------------------------------------------------------------ live

    def live(self, rnd: int) -> list[Measurement]:
        order = [CEILING, RECEIVE, COLLECTOR] if rnd % 2 == 0 else [COLLECTOR, CEILING, RECEIVE]
        results = []
        for subject in order:
            w = self.workload()
            client_id = f"bench-{w.tag}-{subject}-live"
            m = Measurement(LIVE, subject, rnd, w.readings)
            try:
                if subject == COLLECTOR:
                    self.collector_live(m, w, client_id)
                else:
                    self.ceiling_live(m, w, client_id, subject)
            except BenchError as exc:
                m.error = str(exc)
            finally:
                self.forget(client_id)
            _report(m)
            results.append(m)
        return results

    def collector_live(self, m: Measurement, w: Workload, client_id: str) -> None:
        database = f"bench_{w.tag}_collector"
        collector = self.collector(client_id, database, f"live-{m.round}-collector")
        collector.start()
        samples: list[Sample] = []
        publishers: list[Worker] = []
        final = None
        try:
            wait_for(collector.healthy, 60, "the collector to report healthy")
            publishers = self.start_publishers(w, f"live-{m.round}-collector-publisher")
            for worker in publishers:
                worker.go()
            samples = self.poll(collector, w.readings)
            published = self.finish_publishers(publishers, w)
            final = collector.counters()
        except KeyboardInterrupt:
            collector.stop(timeout=5)  # interrupted: do not wait for its shutdown
            raise
        finally:
            for worker in publishers:
                worker.finish()
            exit_code = collector.stop()
        if not samples or samples[-1].counters.written < w.readings:
            got = samples[-1].counters.written if samples else 0
            m.error = f"collector wrote {got:.0f} of {w.readings} readings"
        else:
            end = samples[-1].t
            seconds = end - published.started
            m.rate = w.readings / seconds if seconds > 0 else None
            after = next((s for s in samples if s.t >= published.finished), samples[-1])
            m.detail.update(
                seconds=round(seconds, 3),
                publish_rate=round(w.readings / (published.finished - published.started), 1),
                behind_when_publishing_ended=int(w.readings - after.counters.received),
                longest_pause_s=round(
                    _longest_pause([s for s in samples if s.counters.received > 0]), 3
                ),
                timeline=_timeline(samples, published.started),
            )
        self.collector_evidence(m, collector, client_id)
        self.check_stored(m, w, database, final, exit_code)

    def ceiling_live(self, m: Measurement, w: Workload, client_id: str, subject: str) -> None:
        timeout = self.publish_timeout + self.drain_timeout
        config = self.count_config(w, client_id, timeout, subject)
        worker = Worker(
            self.children,
            "count",
            config.model_dump_json(),
            self.log(f"live-{m.round}-{subject}"),
        )
        publishers: list[Worker] = []
        try:
            worker.expect("ready", 60)
            publishers = self.start_publishers(w, f"live-{m.round}-{subject}-publisher")
            for pub in publishers:
                pub.go()
            done = worker.expect("done", timeout + 30)
            published = self.finish_publishers(publishers, w)
        finally:
            for pub in publishers:
                pub.finish()
            worker.finish()
        seconds = float(done["last"]) - published.started
        m.rate = w.readings / seconds if seconds > 0 else None
        m.zero_loss = int(done["count"]) == w.readings
        m.detail.update(
            seconds=round(seconds, 3),
            publish_rate=round(w.readings / (published.finished - published.started), 1),
            redelivered=int(done["dup"]),
            cpu_us_per_message=_cpu_us(done),
        )


def _process_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system, all threads) a process has used so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_us(done: dict[str, Any]) -> float | None:
    """The ceiling's CPU time per message received, in microseconds."""
    count = int(done["count"])
    return round(float(done["cpu_s"]) * 1e6 / count, 1) if count else None


def _longest_pause(samples: list[Sample]) -> float:
    """The longest time the received counter stood still between two of the samples."""
    longest = 0.0
    if not samples:
        return longest
    last_change, last_value = samples[0].t, samples[0].counters.received
    for s in samples[1:]:
        if s.counters.received != last_value:
            longest = max(longest, s.t - last_change)
            last_change, last_value = s.t, s.counters.received
    return longest


def _timeline(samples: list[Sample], origin: float) -> list[tuple[float, int]]:
    """(seconds since ``origin``, messages received) at each change of the counter."""
    points: list[tuple[float, int]] = []
    for s in samples:
        received = int(s.counters.received)
        if not points or points[-1][1] != received:
            points.append((round(s.t - origin, 2), received))
    return points


def _progress(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def _report(m: Measurement) -> None:
    rate = f"{m.rate:,.0f} msg/s" if m.rate is not None else "no rate"
    loss = "zero loss" if m.zero_loss else f"FAILED: {m.error}"
    _progress(f"{m.mode} round {m.round + 1} {m.subject}: {rate}, {loss}")


# ---------------------------------------------------------------------- summary and report


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(measurements: list[Measurement], modes: list[str]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for mode in modes:
        entry: dict[str, Any] = {}
        rates: dict[str, dict[int, float]] = {}
        for subject in SUBJECTS:
            ms = [m for m in measurements if m.mode == mode and m.subject == subject]
            if not ms:
                continue
            rates[subject] = {m.round: m.rate for m in ms if m.rate is not None}
            entry[subject] = {
                "median_msgs_per_s": _median(list(rates[subject].values())),
                "rounds": [asdict(m) for m in ms],
                "zero_loss_rounds": sum(m.zero_loss for m in ms),
                "cpu_us_per_message": _median(
                    [
                        m.detail["cpu_us_per_message"]
                        for m in ms
                        if m.detail.get("cpu_us_per_message")
                    ]
                ),
                "median_seconds": _median(
                    [m.detail["seconds"] for m in ms if "seconds" in m.detail]
                ),
            }
        against: dict[str, Any] = {}
        for ceiling in CEILINGS:
            if ceiling not in rates or COLLECTOR not in rates:
                continue
            ratios = [
                rates[COLLECTOR][r] / rates[ceiling][r]
                for r in sorted(rates[COLLECTOR])
                if r in rates[ceiling]
            ]
            against[ceiling] = {"ratios": ratios, "median_ratio": _median(ratios)}
        entry["against"] = against
        # Kept for readers of earlier JSON: the collector against paho's ceiling.
        entry["ratios"] = against.get(CEILING, {}).get("ratios", [])
        entry["median_ratio"] = against.get(CEILING, {}).get("median_ratio")
        entry["ceiling_cpu_us_per_message"] = entry.get(CEILING, {}).get("cpu_us_per_message")
        summary[mode] = entry
    return summary


def targets(summary: dict[str, Any]) -> list[dict[str, Any]]:
    if CATCH_UP not in summary:
        return []
    against = summary[CATCH_UP]["against"]
    result = []
    for ceiling, threshold in ((CEILING, TARGET_VS_PAHO), (WRITE, TARGET_VS_WRITE)):
        value = against.get(ceiling, {}).get("median_ratio")
        result.append(
            {
                "name": f"catch-up collector / {_LABELS[ceiling]}",
                "value": value,
                "threshold": threshold,
                "met": value is not None and value >= threshold,
            }
        )
    return result


_LABELS = {
    CEILING: "paho ceiling",
    RECEIVE: "mqtt5 ceiling",
    WRITE: "write ceiling",
    COLLECTOR: "collector",
}


def _fmt_rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _notes(measurements: list[dict[str, Any]]) -> list[str]:
    """Lines about collector rounds that showed something to look into."""
    notes = []
    for m in measurements:
        if m["subject"] != COLLECTOR:
            continue
        detail = m["detail"]
        counters = detail.get("counters") or {}
        bits = []
        if counters.get("duplicates"):
            bits.append(
                f"{counters['duplicates']:,.0f} duplicates dropped (messages delivered twice)"
            )
        if "stored_points_first_query" in detail:
            bits.append(
                f"InfluxDB first counted {detail['stored_points_first_query']:,} points, "
                f"then {detail.get('stored_points', 0):,}"
            )
        if detail.get("connections", 1) != 1:
            bits.append(f"{detail['connections']} connections to the broker (1 expected)")
        warnings = detail.get("collector_warnings") or {}
        if warnings:
            bits.append("logged " + ", ".join(f"{k!r} x{v}" for k, v in warnings.items()))
        if bits:
            notes.append(f"  {m['mode']} round {m['round'] + 1} collector: " + "; ".join(bits))
    return notes


def _mode_lines(mode: str, entry: dict[str, Any], plan: dict[str, int]) -> list[str]:
    """The table rows of one mode: subjects, ratios, CPU per message, drain time."""
    lines: list[str] = []
    for subject in SUBJECTS:
        if subject not in entry:
            continue
        e = entry[subject]
        per_round = " ".join(_fmt_rate(r["rate"]) for r in e["rounds"])
        ok = f"{e['zero_loss_rounds']}/{len(e['rounds'])}"
        lines.append(
            f"{mode:<9} {_LABELS[subject]:<16} {_fmt_rate(e['median_msgs_per_s']):>12}  "
            f"{per_round:<30} {ok}"
        )
    for ceiling, a in entry["against"].items():
        per_round = " ".join(_fmt_ratio(r) for r in a["ratios"])
        label = f"vs {_LABELS[ceiling]}"
        lines.append(f"{mode:<9} {label:<16} {_fmt_ratio(a['median_ratio']):>12}  {per_round:<30}")
    for subject in SUBJECTS:
        cpu = entry.get(subject, {}).get("cpu_us_per_message")
        if cpu is not None:
            lines.append(
                f"{mode:<9} {'':<16} CPU per message of the {_LABELS[subject]}: "
                f"{cpu:,.1f} µs, so at most {1e6 / cpu:,.0f} msg/s on one core"
            )
    drained = entry.get(COLLECTOR, {}).get("median_seconds")
    if mode == CATCH_UP and drained is not None:
        lines.append(
            f"{mode:<9} {'':<16} the collector drained {plan['readings']:,} readings in "
            f"{drained:,.1f} s (median)"
        )
    return lines


def render(result: dict[str, Any]) -> str:
    plan, summary = result["plan"], result["modes"]
    header = (
        f"collector throughput, QoS 1: {plan['readings']:,} readings of {plan['machines']:,} "
        f"machines, {plan['rounds']} round(s), receive maximum {result['receive_maximum']:,}; "
        f"ceiling acks: {result['ceiling_acks']}"
    )
    load = (
        f"load average (1 min) {result['load_before'][0]:.2f} before, "
        f"{result['load_after'][0]:.2f} after; {result['cpus']} CPUs"
    )
    lines = [
        header,
        load,
        "",
        f"{'mode':<9} {'subject':<16} {'median msg/s':>12}  {'rounds':<30} zero loss",
    ]
    for mode, entry in summary.items():
        lines += _mode_lines(mode, entry, plan)
    if result["targets"]:
        lines += ["", "targets"]
        for t in result["targets"]:
            verdict = "met" if t["met"] else "MISSED"
            want = f">= {t['threshold']:.2f}x"
            lines.append(f"  {t['name']:<34} {_fmt_ratio(t['value']):>8}  {want:<10} {verdict}")
    lines.append("")
    failures = [m for m in result["measurements"] if not m["zero_loss"]]
    if failures:
        lines.append("LOSS OR FAILURE:")
        lines += [
            f"  {m['mode']} round {m['round'] + 1} {m['subject']}: {m['error']}" for m in failures
        ]
    else:
        lines.append(
            "zero loss in every round: InfluxDB count(pairs) = readings, sum(pairs) = expected, "
            "nothing rejected; the ceilings received (wrote) every message"
        )
    notes = _notes(result["measurements"])
    if notes:
        lines += ["", "look into (logs kept):", *notes]
    if result["broker_drop_lines"]:
        lines.append(f"broker log mentions dropped messages {result['broker_drop_lines']} time(s)")
    return "\n".join(lines)


# ---------------------------------------------------------------------- main


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


class _Workdir:
    """The run's temporary directory; removed at the end unless ``keep`` is set by then."""

    def __init__(self, *, keep: bool) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="hosiery-bench-"))
        (self.path / "logs").mkdir()
        self.keep = keep


@contextmanager
def _workdir(*, keep: bool) -> Iterator[_Workdir]:
    wd = _Workdir(keep=keep)
    ok = False
    try:
        yield wd
        ok = True
    finally:
        if wd.keep or not ok:
            print(f"working directory kept: {wd.path}", file=sys.stderr)
        else:
            shutil.rmtree(wd.path, ignore_errors=True)


def run(settings: BenchSettings) -> int:
    plan = settings.plan
    modes: list[str] = [CATCH_UP, LIVE] if settings.mode == "both" else [settings.mode]
    Workload(readings=plan["readings"], machines=plan["machines"], tag="check", base_ms=0)
    load_before = os.getloadavg()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    measurements: list[Measurement] = []
    with ExitStack() as stack:
        wd = stack.enter_context(_workdir(keep=settings.keep))
        workdir = wd.path
        mosquitto = stack.enter_context(MosquittoServer(workdir / "mosquitto"))
        influx = stack.enter_context(InfluxServer(workdir / "influxdb"))
        children = Children()
        stack.callback(children.stop_all)  # before the servers stop
        bench = Bench(settings, workdir, mosquitto, influx, children)
        print(
            f"collector throughput: {', '.join(modes)}; {plan['rounds']} round(s) of "
            f"{plan['readings']:,} readings, {plan['machines']:,} machines; logs in {workdir}",
            file=sys.stderr,
        )
        for rnd in range(plan["rounds"]):
            if CATCH_UP in modes:
                measurements += bench.catch_up(rnd)
            if LIVE in modes:
                measurements += bench.live(rnd)
        mosquitto.stop()
        bench.broker_evidence(measurements)
        wd.keep = wd.keep or bench.anomalies
        broker_log = mosquitto.log_path.read_text(errors="replace")
        drop_lines = sum("dropped" in line.lower() for line in broker_log.splitlines())
    summary = summarize(measurements, modes)
    result: dict[str, Any] = {
        "benchmark": "collector_throughput",
        "started_at": started_at,
        "plan": plan,
        "publishers": settings.publishers,
        "receive_maximum": settings.receive_maximum,
        "ceiling_acks": (
            f"every {settings.ceiling_ack_batch:,} messages"
            if settings.ceiling_ack_batch
            else "automatic"
        ),
        "cpus": os.cpu_count(),
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "modes": summary,
        "targets": targets(summary),
        "measurements": [asdict(m) for m in measurements],
        "broker_drop_lines": drop_lines,
        "zero_loss": all(m.zero_loss for m in measurements),
    }
    print(render(result))
    if settings.json_path is not None:
        settings.json_path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    return 0 if result["zero_loss"] else 1


def main(argv: list[str] | None = None) -> int:
    try:
        settings = CliApp.run(BenchSettings, cli_args=list(sys.argv[1:] if argv is None else argv))
    except (ValidationError, SettingsError) as exc:
        print(f"collector_throughput: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return run(settings)
    except KeyboardInterrupt:
        print("collector_throughput: interrupted; servers and workers stopped", file=sys.stderr)
        return 130
    except (BenchError, ServerError, OSError, ValueError) as exc:
        print(f"collector_throughput: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
