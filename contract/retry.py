"""The one retry policy of the repository: capped, jittered exponential backoff until success.

Writers make one attempt and raise; their caller runs them through a :class:`Retrier`, as
Telegraf's running output retries its outputs.
"""

import random
import threading
import time
from collections.abc import Callable
from typing import NamedTuple, TypeVar

T = TypeVar("T")


class RetryAbortedError(Exception):
    """Stop was requested while an action was being retried: it counts as not done."""


class Backoff(NamedTuple):
    """Delays between attempts: ``initial * multiplier**(n-1)``, capped, then jittered.

    The jitter takes the delay down by up to ``jitter`` of itself, so writers that failed
    together do not retry together. A server's ``Retry-After`` is honoured up to
    ``max_retry_after`` seconds.
    """

    initial: float = 0.1
    maximum: float = 10.0
    multiplier: float = 2.0
    jitter: float = 0.5
    max_retry_after: float = 60.0

    def delay(self, failures: int, rand: float) -> float:
        """Seconds to wait after the ``failures``-th failure in a row; ``rand`` is in [0, 1)."""
        base = min(self.maximum, self.initial * self.multiplier ** min(failures - 1, 64))
        return base * (1.0 - self.jitter * rand)


class Failure(NamedTuple):
    """One failed attempt, reported before waiting ``delay`` seconds."""

    attempt: int
    delay: float
    error: Exception
    since: float
    """Monotonic time at which the first failed attempt in a row started."""


class Retrier:
    """Runs an action until it returns, retrying on ``retry_on`` exceptions.

    ``abandon`` ends the waiting: :attr:`aborted` (a :class:`RetryAbortedError` unless a subclass
    says otherwise) is raised and the action counts as not done. ``on_failure`` sees every failed
    attempt (logs, metrics, health).
    """

    aborted: Callable[[str], Exception] = RetryAbortedError

    def __init__(
        self,
        *,
        retry_on: tuple[type[Exception], ...],
        backoff: Backoff | None = None,
        abandon: threading.Event | None = None,
        on_failure: Callable[[Failure], None] | None = None,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], bool] | None = None,
    ) -> None:
        self.retry_on = retry_on
        self.backoff = backoff or Backoff()
        self.abandon = abandon or threading.Event()
        self.on_failure = on_failure
        self._rand = rand
        self._clock = clock
        self._sleep = sleep or self.abandon.wait
        """Waits; True when ``abandon`` was set meanwhile."""

    def run(self, action: Callable[[], T], what: str = "write") -> T:
        """``action()``'s result once it succeeds; raises :attr:`aborted` if abandoned."""
        failures = 0
        since = 0.0
        while True:
            if self.abandon.is_set():
                raise self.aborted(f"stopped before the {what} succeeded")
            started = self._clock()
            try:
                return action()
            except self.retry_on as exc:
                failures += 1
                since = since or started
                delay = self.backoff.delay(failures, self._rand())
                retry_after = getattr(exc, "retry_after", None)
                if retry_after is not None:
                    delay = max(delay, min(float(retry_after), self.backoff.max_retry_after))
                if self.on_failure is not None:
                    self.on_failure(Failure(failures, delay, exc, since))
                if self._sleep(delay) or self.abandon.is_set():
                    raise self.aborted(f"stopped while retrying the {what}: {exc}") from exc
