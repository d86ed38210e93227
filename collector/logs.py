"""Structured logging, configured once by the command line; and a rate limit for noisy events.

The product logs through structlog. Libraries log through the standard library (httpx, paho,
urllib3...): their records go through structlog's ``ProcessorFormatter`` with the same
processors and renderer, so a container's log is JSON lines throughout, each with its
``logger`` name. httpx and httpcore log every request at INFO; they are kept to warnings.
"""

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


QUIET_LIBRARIES = ("httpx", "httpcore")
"""Loggers that say every request at INFO: warnings and errors only."""


class _StdlibHandler(logging.StreamHandler):  # type: ignore[type-arg] # generic in typeshed only
    """The root logger's handler installed by :func:`configure_logging` (replaced on a call)."""


def configure_logging(fmt: str = "console", level: str = "info") -> None:
    """JSON lines (containers) or readable console lines, to stderr, for structlog's loggers
    and the standard library's alike."""
    renderers: list[Any] = (
        [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]
        if fmt == "json"
        else [structlog.dev.ConsoleRenderer(colors=False)]
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, *renderers],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = _StdlibHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                *shared,
                structlog.stdlib.add_logger_name,
            ],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderers],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StdlibHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(_LEVELS[level])
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(_LEVELS[level], logging.WARNING))


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
