"""Running the collector in tests: in-process (to read its metrics) or as a process (to kill it)."""

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry

from collector.logs import configure_logging
from collector.service import Collector
from collector.settings import CollectorSettings
from stack import InfluxServer, MosquittoServer
from stack.process import free_port, log_tail, wait_until


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def settings_for(
    mosquitto: MosquittoServer, influx: InfluxServer, state_dir: Path, **overrides: object
) -> CollectorSettings:
    values: dict[str, object] = {
        "mqtt_url": mosquitto.url,
        "influx_url": influx.url,
        "influx_db": unique("t"),
        "mqtt_client_id": unique("collector"),
        "state_dir": state_dir,
        "http_port": 0,
        "flush_interval": 0.2,
    }
    values.update(overrides)
    return CollectorSettings(**values)  # type: ignore[arg-type]


@contextmanager
def running_collector(settings: CollectorSettings) -> Iterator[Collector]:
    configure_logging("console", "warning")
    collector = Collector(settings, registry=CollectorRegistry())
    collector.start()
    try:
        yield collector
    finally:
        collector.stop()


def metric(collector: Collector, name: str, labels: dict[str, str] | None = None) -> float:
    value = collector.registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else value


class CollectorProcess:
    """``python -m collector`` as a child process, started and stopped (or killed) by the test."""

    def __init__(
        self, settings: CollectorSettings, log_path: Path, extra: tuple[str, ...] = ()
    ) -> None:
        self.settings = settings
        self.log_path = log_path
        self.extra = extra
        """More command-line options."""
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        s = self.settings
        return [
            sys.executable, "-m", "collector",
            "--mqtt-url", s.mqtt_url,
            "--mqtt-client-id", s.mqtt_client_id or "hosiery-collector",
            "--influx-url", s.influx_url,
            "--influx-db", s.influx_db,
            "--state-dir", str(s.state_dir),
            "--http-port", str(self.port),
            "--flush-interval", str(s.flush_interval),
            "--batch-size", str(s.batch_size),
            "--checkpoint-interval", str(s.checkpoint_interval),
            "--log-level", "info",
            *self.extra,
        ]  # fmt: skip

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOSIERY_")}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT, env=env)
        wait_until(self.healthy, 30, interval=0.1, what="collector healthy")

    def healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"collector exited {self.proc.returncode}:\n{self.log_tail()}")
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text

    def metric(self, name: str) -> float:
        """The value of the sample line that starts with ``name`` (0 when there is none)."""
        for line in self.metrics().splitlines():
            if line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def peak_rss_mb(self) -> float:
        """The process's peak resident memory (VmHWM), MiB."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmHWM in /proc/PID/status")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)
