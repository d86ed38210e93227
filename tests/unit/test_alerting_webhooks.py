"""The webhook dispatcher: retries, give-up, refusal, a full queue, stop; never blocking."""

import threading
from collections import Counter
from collections.abc import Callable

import httpx
import orjson

from collector.alerting.model import Alert, Kind, Status
from collector.alerting.store import Notification
from collector.alerting.webhooks import WebhookDispatcher
from stack.process import wait_until

URL = "http://hooks.example/alerts?token=secret"


def notification(seq: int) -> Notification:
    alert = Alert("E1", f"M{seq}", Kind.IDLE, Status.FIRING, 1000 + seq, 2000 + seq, "x", 1)
    return Notification(seq, alert)


class Receiver:
    """A MockTransport handler that answers from a script, then 200."""

    def __init__(self, script: list[int] | None = None) -> None:
        self.script = list(script or [])
        self.accepted: list[str] = []
        self.attempts = 0
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.attempts += 1
            status = self.script.pop(0) if self.script else 200
            if status == 200:
                body = orjson.loads(request.content)
                assert request.headers["Idempotency-Key"] == body["id"]
                self.accepted.append(body["id"])
        return httpx.Response(status)


def dispatcher(
    handler: Callable[[httpx.Request], httpx.Response], **kwargs: object
) -> tuple[WebhookDispatcher, Counter[str], list[int]]:
    outcomes: Counter[str] = Counter()
    done: list[int] = []
    options: dict[str, object] = {"min_backoff": 0.001, "max_backoff": 0.01}
    options.update(kwargs)
    d = WebhookDispatcher(
        [URL],
        transport=httpx.MockTransport(handler),
        on_outcome=lambda o: outcomes.update([o]),
        on_done=lambda _url, seq: done.append(seq),
        **options,  # type: ignore[arg-type]
    )
    return d, outcomes, done


def test_failures_are_retried_until_delivered_once_each_in_order() -> None:
    receiver = Receiver([500, 503, 429])
    d, outcomes, done = dispatcher(receiver)
    d.start()
    for seq in range(1, 6):
        d.submit(notification(seq))
    wait_until(lambda: len(done) == 5, 10, what="five notifications done")
    assert d.stop() == 0
    assert receiver.accepted == [notification(s).alert.notification_id for s in range(1, 6)]
    assert outcomes == {"delivered": 5, "retried": 3}
    assert done == [1, 2, 3, 4, 5]


def test_connection_errors_are_retried() -> None:
    calls = Counter[str]()

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(204)

    d, outcomes, done = dispatcher(flaky)
    d.start()
    d.submit(notification(1))
    wait_until(lambda: done == [1], 10, what="delivered")
    d.stop()
    assert outcomes == {"delivered": 1, "retried": 2}


def test_a_refusal_is_not_retried() -> None:
    receiver = Receiver([404])
    d, outcomes, done = dispatcher(receiver)
    d.start()
    d.submit(notification(1))
    d.submit(notification(2))
    wait_until(lambda: done == [1, 2], 10, what="both done")
    d.stop()
    assert outcomes == {"rejected": 1, "delivered": 1}
    assert receiver.attempts == 2


def test_gives_up_after_the_give_up_time() -> None:
    receiver = Receiver([500] * 1000)
    ticks = iter(range(10_000))
    d, outcomes, done = dispatcher(receiver, give_up=5.0, clock=lambda: float(next(ticks)))
    d.start()
    d.submit(notification(1))
    wait_until(lambda: done == [1], 10, what="given up")
    d.stop()
    assert outcomes["gave_up"] == 1
    assert receiver.accepted == []


def test_a_full_queue_drops_and_counts_without_blocking() -> None:
    release = threading.Event()

    def stuck(_request: httpx.Request) -> httpx.Response:
        release.wait(10)
        return httpx.Response(200)

    d, outcomes, done = dispatcher(stuck, queue_size=3)
    d.start()
    for seq in range(1, 11):
        d.submit(notification(seq))  # returns at once: the webhook is stuck on the first
    wait_until(lambda: outcomes["dropped"] >= 6, 5, what="drops counted")
    assert outcomes["dropped"] in (6, 7)  # 1 in flight (maybe not yet taken) + 3 queued
    release.set()
    wait_until(lambda: len(done) == 10 - outcomes["dropped"], 10, what="the rest delivered")
    d.stop()


def test_stop_gives_up_on_a_dead_webhook_and_reports_what_is_left() -> None:
    d, _outcomes, done = dispatcher(Receiver([500] * 10_000), max_backoff=0.05)
    d.start()
    for seq in range(1, 4):
        d.submit(notification(seq))
    assert d.stop(timeout=0.2) == 3
    assert done == []


def test_logs_do_not_show_the_url_query() -> None:
    d, _outcomes, _done = dispatcher(Receiver())
    assert d.shown(URL) == "http://hooks.example/alerts"
    d.stop()
