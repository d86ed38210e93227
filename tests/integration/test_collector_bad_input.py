"""Bad input never stops the collector and is never silently lost.

Each kind of bad message is published, followed by a good reading: the bad one shows up on
``hosiery/v1/_rejected`` with its reason and original topic, in the ``rejected`` measurement and
in the rejection metric, and the good one is still stored.
"""

import time
from collections.abc import Iterator

import orjson
import pytest

from collector.service import Collector
from contract import REJECTED_TOPIC
from stack import InfluxServer, MosquittoServer
from stack.process import wait_until
from tests.support.collector import metric, running_collector, settings_for
from tests.support.influx import pairs_by_machine, query
from tests.support.mqtt import Recorder, publisher, recorder

pytestmark = pytest.mark.integration

GOOD_TOPIC = "hosiery/v1/E0001/M001/counter"


def reading(**overrides: object) -> bytes:
    body: dict[str, object] = {
        "ts": int(time.time() * 1000),
        "seq": 1,
        "boot": "b1",
        "pairs_total": 10,
        "state": "running",
    }
    body.update(overrides)
    return orjson.dumps({k: v for k, v in body.items() if v is not ...})


@pytest.fixture(scope="module")
def setup(
    mosquitto: MosquittoServer, influx: InfluxServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Collector, Recorder]]:
    settings = settings_for(mosquitto, influx, tmp_path_factory.mktemp("state"))
    with recorder(mosquitto, REJECTED_TOPIC) as rejected, running_collector(settings) as collector:
        yield collector, rejected


BAD_INPUT = [
    ("malformed_json", GOOD_TOPIC, b'{"ts": 1, "seq"'),
    ("malformed_json", GOOD_TOPIC, b"\xff\xfe\x00binary"),
    ("wrong_type", GOOD_TOPIC, reading(pairs_total="12")),
    ("missing_field", GOOD_TOPIC, reading(boot=...)),
    ("invalid_id", "hosiery/v1/E 0001/M001/counter", reading()),
    ("invalid_id", "hosiery/v1/E0001/" + "M" * 65 + "/counter", reading()),
    ("invalid_value", GOOD_TOPIC, reading(boot='b1",x=1 2')),
    ("out_of_range", GOOD_TOPIC, reading(pairs_total=-5)),
    ("out_of_range", GOOD_TOPIC, reading(pairs_total=10**15)),
    ("ts_in_future", GOOD_TOPIC, reading(ts=int(time.time() * 1000) + 86_400_000)),
    ("ts_too_old", GOOD_TOPIC, reading(ts=int(time.time() * 1000) - 30 * 86_400_000)),
    ("oversized", GOOD_TOPIC, reading(padding="x" * 10_000)),
    # Close to the largest payload the product's broker accepts (message_size_limit 65536):
    # it still reaches the collector, whose Maximum Packet Size is above the broker's limit.
    ("oversized", GOOD_TOPIC, reading(padding="x" * 65_000)),
    ("unknown_topic", "hosiery/v1/E0001/M001/temperature", b"21.5"),
    ("implausible_count", "hosiery/v1/E0003/M001/counter", reading(pairs_total=10**9)),
    ("unknown_stop_reason", GOOD_TOPIC, reading(state="idle", reason="coffee_break")),
    ("invalid_value", GOOD_TOPIC, reading(state="running", reason="yarn_break")),
]


@pytest.mark.parametrize(("reason", "topic", "payload"), BAD_INPUT)
def test_bad_input_is_rejected_counted_and_stored(
    setup: tuple[Collector, Recorder],
    mosquitto: MosquittoServer,
    influx: InfluxServer,
    reason: str,
    topic: str,
    payload: bytes,
) -> None:
    collector, rejected = setup
    db = collector.settings.influx_db
    before = metric(collector, "hosiery_collector_messages_rejected_total", {"reason": reason})
    notices_before = len(rejected.payloads(REJECTED_TOPIC))
    machine = f"M{abs(hash((reason, topic, payload))) % 10**6:06d}"
    with publisher(mosquitto) as pub:
        pub.publish(topic, payload, qos=1).wait_for_publish(5)
        good = reading(pairs_total=7)
        pub.publish(f"hosiery/v1/E0001/{machine}/counter", good, qos=1).wait_for_publish(5)

    wait_until(
        lambda: pairs_by_machine(influx.url, db).get(("E0001", machine)) == 7,
        15,
        what="the good reading after the bad one",
    )
    wait_until(
        lambda: len(rejected.payloads(REJECTED_TOPIC)) > notices_before,
        10,
        what="a notice on hosiery/v1/_rejected",
    )
    notice = orjson.loads(rejected.payloads(REJECTED_TOPIC)[notices_before])
    assert notice["reason"] == reason
    assert notice["topic"] == topic
    assert notice["detail"]
    assert notice["payload_size"] == len(payload)
    wait_until(
        lambda: (
            metric(collector, "hosiery_collector_messages_rejected_total", {"reason": reason})
            == before + 1
        ),
        10,
        what=f"rejection counted under {reason}",
    )
    stored = query(
        influx.url,
        db,
        f'SELECT "topic", "payload_size" FROM "rejected" WHERE "reason" = \'{reason}\'',
    )
    assert any(row[1] == topic and row[2] == len(payload) for row in stored[0]["values"])


def test_an_implausible_new_boot_is_rejected_and_the_next_reading_counts(
    setup: tuple[Collector, Recorder], mosquitto: MosquittoServer, influx: InfluxServer
) -> None:
    collector, rejected = setup
    db = collector.settings.influx_db
    topic = "hosiery/v1/E0002/M001/counter"
    now = int(time.time() * 1000)  # distinct stamps: an equal (ts, seq) is one point
    with publisher(mosquitto) as pub:
        first = reading(ts=now - 2, seq=1, pairs_total=50)
        pub.publish(topic, first, qos=1).wait_for_publish(5)
        bogus = reading(ts=now - 1, boot="b2", seq=0, pairs_total=10**9)
        pub.publish(topic, bogus, qos=1).wait_for_publish(5)
        after = reading(ts=now, boot="b2", seq=1, pairs_total=3)
        pub.publish(topic, after, qos=1).wait_for_publish(5)
    stored: dict[tuple[str, str], int] = {}

    def counted() -> bool:
        stored.update(pairs_by_machine(influx.url, db))
        return stored.get(("E0002", "M001")) == 53

    try:
        wait_until(counted, 15, what="the readings around the implausible one")
    except TimeoutError:
        raise AssertionError(f"stored {stored.get(('E0002', 'M001'))}, not 53") from None
    wait_until(
        lambda: any(
            orjson.loads(p)["topic"] == topic and orjson.loads(p)["reason"] == "implausible_count"
            for p in rejected.payloads(REJECTED_TOPIC)
        ),
        10,
        what="the implausible reading on hosiery/v1/_rejected",
    )


def test_health_stays_ok_after_bad_input(setup: tuple[Collector, Recorder]) -> None:
    collector, _ = setup
    ok, details = collector.health()
    assert ok, details
