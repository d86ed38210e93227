"""Webhook delivery: one thread and one bounded queue per URL, retries with backoff.

``docs/architecture.md`` (Webhooks) gives the retry rules and idempotency.
"""

import queue
import threading
import time
from collections.abc import Callable, Sequence

import httpx
import structlog
from structlog.typing import FilteringBoundLogger

from collector.alerting.notify import webhook_body
from collector.alerting.store import Notification
from collector.logs import RateLimit

RETRY_STATUS = frozenset({408, 425, 429})
USER_AGENT = "hosiery-collector"

Outcome = str
"""``delivered``, ``retried``, ``dropped``, ``gave_up`` or ``rejected``."""


class _Worker:
    def __init__(self, url: str, dispatcher: "WebhookDispatcher") -> None:
        self.url = url
        self.dispatcher = dispatcher
        self.queue: queue.Queue[Notification] = queue.Queue(maxsize=dispatcher.queue_size)
        self.client = httpx.Client(
            timeout=dispatcher.timeout,
            transport=dispatcher.transport,
            headers={"User-Agent": USER_AGENT, "Content-Type": "application/json"},
        )
        self.thread = threading.Thread(target=self.run, name="webhook", daemon=True)
        self.busy = False
        self.abandoned = 0

    def run(self) -> None:
        d = self.dispatcher
        while True:
            try:
                notification = self.queue.get(timeout=0.2)
            except queue.Empty:
                if d.closing.is_set():
                    return
                continue
            self.busy = True
            try:
                if not self.deliver(notification):
                    self.abandoned += 1
                    return  # the store keeps it for the next start
                d.on_done(self.url, notification.seq)
                if self.queue.empty():
                    d.on_idle()
            finally:
                self.busy = False
                self.queue.task_done()

    def deliver(self, notification: Notification) -> bool:
        """Try until delivered, rejected or given up (True), or abandoned (False)."""
        d = self.dispatcher
        body = webhook_body(notification)
        headers = {"Idempotency-Key": notification.alert.notification_id}
        first = d.clock()
        attempt = 0
        while True:
            try:
                response = self.client.post(self.url, content=body, headers=headers)
                status = response.status_code
                error = f"HTTP {status}"
            except httpx.HTTPError as exc:
                status = 0
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if 200 <= status < 300:
                d.count("delivered")
                return True
            if status and status < 500 and status not in RETRY_STATUS:
                d.count("rejected")
                d.log.error(
                    "webhook refused a notification; not retrying",
                    url=d.shown(self.url),
                    notification=notification.alert.notification_id,
                    error=error,
                )
                return True
            d.count("retried")
            if d.clock() - first >= d.give_up:
                d.count("gave_up")
                d.log.error(
                    "webhook notification given up",
                    url=d.shown(self.url),
                    notification=notification.alert.notification_id,
                    error=error,
                    after_s=round(d.clock() - first, 1),
                )
                return True
            allowed, suppressed = d.retry_log.allow(self.url, d.clock())
            if allowed:
                d.log.warning(
                    "webhook failed; retrying",
                    url=d.shown(self.url),
                    error=error,
                    queued=self.queue.qsize(),
                    suppressed_since_last=suppressed,
                )
            delay = min(d.max_backoff, d.min_backoff * 2**attempt)
            attempt += 1
            if d.abandon.wait(delay):
                return False


class WebhookDispatcher:
    """POSTs notifications to ``urls``; ``start``, ``submit``..., ``stop``."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        queue_size: int = 10_000,
        timeout: float = 5.0,
        give_up: float = 3600.0,
        min_backoff: float = 0.5,
        max_backoff: float = 60.0,
        on_done: Callable[[str, int], None] = lambda _url, _seq: None,
        on_idle: Callable[[], None] = lambda: None,
        on_outcome: Callable[[Outcome], None] = lambda _outcome: None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        log: FilteringBoundLogger | None = None,
    ) -> None:
        if queue_size < 1 or timeout <= 0 or give_up < 0 or not 0 < min_backoff <= max_backoff:
            raise ValueError("webhook queue, timeout, give-up and backoff must be positive")
        self.queue_size = queue_size
        self.timeout = timeout
        self.give_up = give_up
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.on_done = on_done
        self.on_idle = on_idle
        self.on_outcome = on_outcome
        self.transport = transport
        self.clock = clock
        self.log: FilteringBoundLogger = log or structlog.get_logger("collector.webhooks")
        self.closing = threading.Event()
        self.abandon = threading.Event()
        self.retry_log = RateLimit(burst=3, period=60.0)
        self._drop_log = RateLimit(burst=3, period=60.0)
        self._workers = [_Worker(url, self) for url in dict.fromkeys(urls)]

    @property
    def urls(self) -> list[str]:
        return [w.url for w in self._workers]

    def shown(self, url: str) -> str:
        """The URL for logs: scheme, host and path only (no credentials, no query)."""
        parts = httpx.URL(url)
        return f"{parts.scheme}://{parts.host}{f':{parts.port}' if parts.port else ''}{parts.path}"

    def count(self, outcome: Outcome) -> None:
        self.on_outcome(outcome)

    def start(self) -> None:
        for worker in self._workers:
            worker.thread.start()

    def submit(self, notification: Notification, url: str | None = None) -> None:
        """Queue ``notification`` for every URL (or one); never blocks."""
        for worker in self._workers:
            if url is not None and worker.url != url:
                continue
            try:
                worker.queue.put_nowait(notification)
                continue
            except queue.Full:
                self.count("dropped")
            allowed, suppressed = self._drop_log.allow(worker.url, self.clock())
            if allowed:
                self.log.error(
                    "webhook queue full; notification dropped",
                    url=self.shown(worker.url),
                    notification=notification.alert.notification_id,
                    queue=self.queue_size,
                    suppressed_since_last=suppressed,
                )

    def backlog(self) -> int:
        """Notifications queued or being delivered."""
        return sum(w.queue.qsize() + w.busy + w.abandoned for w in self._workers)

    def stop(self, timeout: float = 5.0) -> int:
        """Deliver what is queued for up to ``timeout`` s, then give up; return how many
        notifications were left undelivered (the store sends them on the next start)."""
        self.closing.set()
        deadline = self.clock() + timeout
        for worker in self._workers:
            if worker.thread.is_alive():
                worker.thread.join(max(0.0, deadline - self.clock()))
        self.abandon.set()
        for worker in self._workers:
            if worker.thread.is_alive():
                worker.thread.join(max(2.0, self.timeout + 1))
        left = self.backlog()
        for worker in self._workers:
            worker.client.close()
        return left
