"""Structured logging, configured once by the command line; and a rate limit for noisy events."""

import logging
import sys
from typing import Any

import structlog

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def configure_logging(fmt: str = "console", level: str = "info") -> None:
    """JSON lines (containers) or readable console lines, to stderr."""
    renderers: list[Any] = (
        [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]
        if fmt == "json"
        else [structlog.dev.ConsoleRenderer(colors=False)]
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *renderers,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


class RateLimit:
    """Allow ``burst`` events per ``period`` seconds per key; count what was suppressed.

    ``now`` is passed in, so it is tested without a clock.
    """

    def __init__(self, burst: int = 10, period: float = 60.0) -> None:
        self.burst = burst
        self.period = period
        self._windows: dict[str, tuple[float, int, int]] = {}

    def allow(self, key: str, now: float) -> tuple[bool, int]:
        """Return whether to log this event and how many were suppressed since the last one."""
        start, count, suppressed = self._windows.get(key, (now, 0, 0))
        if now - start >= self.period:
            start, count = now, 0
        if count < self.burst:
            self._windows[key] = (start, count + 1, 0)
            return True, suppressed
        self._windows[key] = (start, count, suppressed + 1)
        return False, 0
