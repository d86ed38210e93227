"""Alerting from the collector's settings: files, tracker, store, webhooks, observer.

:func:`load_files` reads the registry and the shift calendar (before anything else starts, so
a bad file stops the collector with one line); :func:`open_alerting` builds the observer once
the state directory is locked. :class:`ConfigFiles` notices when an operator edits either file
and loads it again (keeping the previous version, with an error in the log, if the new one is
invalid).
"""

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
from structlog.typing import FilteringBoundLogger

from collector.alerting.calendar import CalendarFile, ParkCalendar, load_calendar
from collector.alerting.observer import AlertingObserver, ObserverOptions, Publish
from collector.alerting.registry import ParkRegistry, load_registry
from collector.alerting.store import AlertStore
from collector.alerting.tracked import FAULT_AFTER_BY_REASON, IDLE_AFTER_BY_REASON
from collector.alerting.tracker import Tracker, TrackerConfig
from collector.alerting.webhooks import WebhookDispatcher
from collector.errors import AlertingConfigError
from collector.metrics import CollectorMetrics
from collector.settings import CollectorSettings
from contract.calendar import time_zone


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def tracker_config(settings: CollectorSettings) -> TrackerConfig:
    s = settings
    return TrackerConfig(
        idle_after_ms=_ms(s.idle_after),
        idle_after_by_style={k: _ms(v) for k, v in s.idle_after_style.items()},
        fault_after_ms=_ms(s.fault_after),
        idle_after_by_reason={
            **IDLE_AFTER_BY_REASON,
            **{k: _ms(v) for k, v in s.idle_after_reason.items()},
        },
        fault_after_by_reason={
            **FAULT_AFTER_BY_REASON,
            **{k: _ms(v) for k, v in s.fault_after_reason.items()},
        },
        offline_after_ms=None if s.offline_after is None else _ms(s.offline_after),
        resolve_after_ms=_ms(s.resolve_after),
    )


def _stamp(path: Path | None) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


@dataclass(slots=True)
class ConfigFiles:
    """The registry and the shift calendar, as last loaded."""

    registry_path: Path | None
    calendar_path: Path | None
    tz: dt.tzinfo
    registry: ParkRegistry | None = None
    calendar_file: CalendarFile | None = None
    _stamps: tuple[tuple[int, int] | None, tuple[int, int] | None] = (None, None)

    def load(self) -> None:
        """Load both files; raises :class:`~collector.errors.AlertingConfigError`."""
        stamps = (_stamp(self.registry_path), _stamp(self.calendar_path))
        if self.registry_path is not None:
            self.registry = load_registry(self.registry_path, self.tz)
        if self.calendar_path is not None:
            self.calendar_file = load_calendar(self.calendar_path, self.tz)
        self._stamps = stamps

    def calendar(self) -> ParkCalendar:
        registry = self.registry
        return ParkCalendar(
            self.calendar_file,
            registry_patterns=registry.patterns if registry else None,
            registry_holidays=registry.holidays if registry else (),
            registry_country=registry.country if registry else None,
        )

    def reload_if_changed(self, tracker: Tracker, log: FilteringBoundLogger) -> bool:
        """Load the files again if either changed on disk; True if the tracker was updated."""
        stamps = (_stamp(self.registry_path), _stamp(self.calendar_path))
        if stamps == self._stamps:
            return False
        previous = (self.registry, self.calendar_file)
        problem = None
        try:
            self.load()
        except AlertingConfigError as exc:
            problem = str(exc)
        if problem is not None:
            self._stamps = stamps  # report a bad file once, not on every check
            self.registry, self.calendar_file = previous
            log.error("edited alerting file not loaded; keeping the previous one", error=problem)
            return False
        if self.registry is not None:
            tracker.set_registry(self.registry)
        tracker.set_calendar(self.calendar())
        log.info(
            "alerting files loaded again",
            registry=str(self.registry_path),
            calendar=str(self.calendar_path),
            machines_expected=self.registry.machine_count if self.registry else 0,
        )
        return True


def load_files(settings: CollectorSettings) -> ConfigFiles:
    """The registry and calendar of ``settings``; one-line errors for bad files."""
    files = ConfigFiles(settings.registry, settings.shift_calendar, time_zone(settings.timezone))
    files.load()
    return files


def open_alerting(
    settings: CollectorSettings,
    files: ConfigFiles,
    *,
    publish: Publish,
    metrics: CollectorMetrics,
    now_ms: int,
    intake_ok: Callable[[], bool],
    log: FilteringBoundLogger,
    transport: httpx.BaseTransport | None = None,
    missing: Callable[[], Mapping[str, int]] | None = None,
) -> AlertingObserver:
    """The observer, its firing set recovered from ``settings.state_dir`` (locked already)."""
    s = settings
    config = tracker_config(s)
    tracker = Tracker(config, calendar=files.calendar(), registry=files.registry, now_ms=now_ms)
    store = AlertStore(s.state_dir, outbox_limit=s.webhook_queue)
    recovered = store.open()
    dispatcher = None
    if s.alert_webhook:
        webhook_counter = metrics.webhook_notifications
        dispatcher = WebhookDispatcher(
            s.alert_webhook,
            queue_size=s.webhook_queue,
            timeout=s.webhook_timeout,
            give_up=s.webhook_give_up,
            on_done=store.mark_done,
            on_idle=store.save_marks,
            on_outcome=lambda outcome: webhook_counter.labels(outcome).inc(),
            transport=transport,
            log=log,
        )
    window = config.offline_after_ms or int(config.offline_intervals * config.initial_interval_ms)
    options = ObserverOptions(
        summary_topic=s.summary_topic,
        summary_interval_ms=_ms(s.summary_interval),
        summary_grace_ms=window,
        compact_interval_ms=_ms(s.checkpoint_interval),
    )
    observer: AlertingObserver

    def on_summary(_now_ms: int) -> None:
        files.reload_if_changed(observer.tracker, log)

    observer = AlertingObserver(
        tracker,
        store,
        recovered,
        publish=publish,
        metrics=metrics,
        dispatcher=dispatcher,
        options=options,
        intake_ok=intake_ok,
        on_summary=on_summary,
        missing=missing,
        log=log,
    )
    if files.registry is not None:
        metrics.machines_expected.set(files.registry.machine_count)
    return observer
