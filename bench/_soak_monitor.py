"""What the soak watches: the collector's ``/metrics`` and ``/proc`` entry, twice a second.

Every sample keeps the wall-clock time, the counters the soak reports, the consumer lag and the
process's memory, file descriptors and threads. The collector is killed and restarted during the
soak, so its counters start again from zero: :class:`Monitor` adds up each process's last values.

Two figures are derived from the samples:

* **ingest progress**: ``readings_written`` changed since the previous sample. A *stall* is the
  time between two samples with progress (a killed collector makes none).
* **newest stored reading**: when a sample shows progress, the newest reading of the last batch
  was stamped ``now - consumer_lag``; the *lag* at any time is the time since that stamp, so it
  keeps growing while nothing is written (the gauge alone would stay at its last value).
"""

import contextlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')

COUNTERS = (
    "hosiery_collector_messages_received_total",
    "hosiery_collector_readings_written_total",
    "hosiery_collector_duplicates_dropped_total",
    "hosiery_collector_late_readings_dropped_total",
    "hosiery_collector_mqtt_disconnects_total",
    "hosiery_collector_mqtt_sessions_lost_total",
    "hosiery_collector_write_retries_total",
)
LABELLED = (
    "hosiery_collector_messages_rejected_total",
    "hosiery_collector_webhook_notifications_total",
)
PROGRESS = "hosiery_collector_readings_written_total"


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text: ``name`` or ``name{label=value}`` (one label, as written) -> value."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        name, labels, raw = match.groups()
        key = name
        if labels:
            pairs = _LABEL.findall(labels)
            key = name + "{" + ",".join(f"{k}={v}" for k, v in pairs) + "}"
        with contextlib.suppress(ValueError):
            values[key] = float(raw)
    return values


def proc_figures(pid: int) -> tuple[float, float, int, int] | None:
    """RSS and peak RSS (MiB), open file descriptors and threads of ``pid`` (None: gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)

    def kib(name: str) -> float:
        return int(fields.get(name, "0 kB").split()[0]) / 1024

    return kib("VmRSS"), kib("VmHWM"), fds, int(fields.get("Threads", "0"))


@dataclass
class Sample:
    t: float
    """Wall-clock seconds."""
    pid: int | None
    metrics: dict[str, float] | None
    """None when ``/metrics`` did not answer."""
    progress: bool = False
    newest_ts: float | None = None
    """The newest stored reading's stamp (wall-clock seconds) known at this sample."""


@dataclass
class Peaks:
    rss_mib: float = 0.0
    fds: int = 0
    threads: int = 0


@dataclass
class Monitor:
    """Samples ``/metrics`` of the collector on ``port`` and ``/proc`` of ``pid()``."""

    port: int
    pid: Callable[[], int | None]
    interval: float = 0.5
    samples: list[Sample] = field(default_factory=list)
    peaks: Peaks = field(default_factory=Peaks)
    totals: dict[str, float] = field(default_factory=dict)
    """Counters summed over the collector processes so far (the current one included)."""
    _banked: dict[str, float] = field(default_factory=dict)
    _current: dict[str, float] = field(default_factory=dict)
    _current_pid: int | None = None
    _last_progress_value: float | None = None
    _newest_ts: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="soak-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        with httpx.Client(timeout=2.0) as http:
            while not self._stop.is_set():
                began = time.monotonic()
                self.sample(http)
                self._stop.wait(max(0.0, self.interval - (time.monotonic() - began)))

    def sample(self, http: httpx.Client) -> Sample:
        pid = self.pid()
        metrics: dict[str, float] | None = None
        with contextlib.suppress(httpx.HTTPError):
            response = http.get(f"http://127.0.0.1:{self.port}/metrics")
            if response.status_code == 200:
                metrics = parse_metrics(response.text)
        now = time.time()
        if pid is not None:
            figures = proc_figures(pid)
            if figures is not None:
                _rss, peak, fds, threads = figures
                self.peaks.rss_mib = max(self.peaks.rss_mib, peak)
                self.peaks.fds = max(self.peaks.fds, fds)
                self.peaks.threads = max(self.peaks.threads, threads)
        with self._lock:
            sample = Sample(now, pid, metrics)
            if pid != self._current_pid:
                self._bank()
                self._current_pid = pid
                self._last_progress_value = None
            if metrics is not None:
                self._count(metrics)
                value = metrics.get(PROGRESS)
                if value is not None and value != self._last_progress_value:
                    sample.progress = self._last_progress_value is not None or value > 0
                    self._last_progress_value = value
                lag = metrics.get("hosiery_collector_consumer_lag_seconds")
                if sample.progress and lag is not None:
                    stamp = now - lag
                    self._newest_ts = max(self._newest_ts or stamp, stamp)
            sample.newest_ts = self._newest_ts
            self.samples.append(sample)
        return sample

    def _bank(self) -> None:
        for key, value in self._current.items():
            self._banked[key] = self._banked.get(key, 0.0) + value
        self._current = {}

    def _count(self, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            if key in COUNTERS or key.split("{", 1)[0] in LABELLED:
                self._current[key] = value
        self.totals = {
            key: self._banked.get(key, 0.0) + self._current.get(key, 0.0)
            for key in {*self._banked, *self._current}
        }

    def snapshot(self) -> list[Sample]:
        with self._lock:
            return list(self.samples)

    def newest_ts(self) -> float | None:
        with self._lock:
            return self._newest_ts


def lag_at(sample: Sample) -> float | None:
    """Seconds since the newest stored reading's stamp, at ``sample``."""
    return None if sample.newest_ts is None else max(0.0, sample.t - sample.newest_ts)


def longest_stall(samples: list[Sample], start: float, end: float) -> tuple[float, float]:
    """The longest time without ingest progress within ``[start, end]``, and when it began."""
    last = start
    worst, worst_at = 0.0, start
    for sample in samples:
        if sample.t < start or sample.t > end:
            continue
        if sample.progress:
            if sample.t - last > worst:
                worst, worst_at = sample.t - last, last
            last = sample.t
    if end - last > worst:
        worst, worst_at = end - last, last
    return worst, worst_at


def largest_lag(samples: list[Sample], start: float, end: float) -> float:
    lags = [lag for s in samples if start <= s.t <= end if (lag := lag_at(s)) is not None]
    return max(lags, default=0.0)


def caught_up_at(samples: list[Sample], since: float, threshold: float) -> float | None:
    """The first sample time at which a reading stamped at or after ``since`` was stored and
    the lag was at most ``threshold`` seconds (None: not within the samples)."""
    for sample in samples:
        if sample.t < since or sample.newest_ts is None:
            continue
        if sample.newest_ts >= since and sample.t - sample.newest_ts <= threshold:
            return sample.t
    return None
