"""The intake between the MQTT network thread and the pipeline worker."""

import threading

import pytest

from collector.intake import Intake
from stack.process import wait_until


def test_drain_returns_items_oldest_first_in_batches_of_at_most_max_items() -> None:
    intake: Intake[int] = Intake(100)
    for i in range(10):
        intake.put(i)
    assert len(intake) == 10
    assert intake.drain(4, timeout=0) == [0, 1, 2, 3]
    assert intake.drain(4, timeout=0) == [4, 5, 6, 7]
    assert intake.drain(4, timeout=0) == [8, 9]
    assert intake.drain(4, timeout=0) == []
    assert len(intake) == 0


def test_drain_returns_what_is_there_without_waiting_for_a_full_batch() -> None:
    intake: Intake[str] = Intake(10)
    intake.put("a")
    # A long timeout must not matter once an item is there.
    assert intake.drain(1000, timeout=3600) == ["a"]


def test_drain_gives_up_after_its_timeout_when_nothing_arrives() -> None:
    intake: Intake[int] = Intake(10)
    assert intake.drain(10, timeout=0.01) == []
    assert not intake.consumer_waiting


def test_a_waiting_consumer_is_woken_by_put() -> None:
    intake: Intake[int] = Intake(10)
    got: list[list[int]] = []
    consumer = threading.Thread(target=lambda: got.append(intake.drain(10, timeout=60)))
    consumer.start()
    wait_until(lambda: intake.consumer_waiting, 10, what="consumer waiting")
    intake.put(7)
    consumer.join(10)
    assert not consumer.is_alive()
    assert got == [[7]]


def test_put_blocks_while_full_and_resumes_when_the_consumer_makes_room() -> None:
    intake: Intake[int] = Intake(3)
    for i in range(3):
        intake.put(i)
    producer = threading.Thread(target=intake.put, args=(3,))
    producer.start()
    wait_until(lambda: intake.blocked_puts == 1, 10, what="producer blocked")
    # Blocked, not appended beyond the capacity.
    assert len(intake) == 3
    assert producer.is_alive()
    assert intake.drain(1, timeout=0) == [0]
    producer.join(10)
    assert not producer.is_alive()
    assert intake.drain(10, timeout=0) == [1, 2, 3]


def test_close_releases_a_blocked_producer_and_a_waiting_consumer() -> None:
    intake: Intake[int] = Intake(1)
    intake.put(0)
    producer = threading.Thread(target=intake.put, args=(1,))
    producer.start()
    wait_until(lambda: intake.blocked_puts == 1, 10, what="producer blocked")
    empty: Intake[int] = Intake(1)
    got: list[list[int]] = []
    consumer = threading.Thread(target=lambda: got.append(empty.drain(1, timeout=60)))
    consumer.start()
    wait_until(lambda: empty.consumer_waiting, 10, what="consumer waiting")

    intake.close()
    empty.close()

    producer.join(10)
    consumer.join(10)
    assert not producer.is_alive()
    assert not consumer.is_alive()
    assert got == [[]]
    # Nothing that arrives during shutdown is dropped, and put no longer blocks.
    intake.put(2)
    assert intake.drain(10, timeout=0) == [0, 1, 2]
    assert intake.closed


def test_a_fast_producer_and_a_slow_consumer_lose_and_reorder_nothing() -> None:
    n = 20_000
    intake: Intake[int] = Intake(64)

    def produce() -> None:
        for i in range(n):
            intake.put(i)

    producer = threading.Thread(target=produce)
    producer.start()
    received: list[int] = []

    def drained_all() -> bool:
        received.extend(intake.drain(50, timeout=0.5))
        return len(received) >= n

    wait_until(drained_all, 60, interval=0, what="all items drained")
    producer.join(10)
    assert received == list(range(n))


@pytest.mark.parametrize("capacity", [0, -1])
def test_capacity_must_be_positive(capacity: int) -> None:
    with pytest.raises(ValueError, match="capacity"):
        Intake(capacity)


def test_max_items_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_items"):
        Intake[int](1).drain(0, timeout=0)


def test_put_blocks_once_the_items_held_weigh_max_bytes() -> None:
    intake: Intake[bytes] = Intake(1000, max_bytes=100, weigh=len)
    intake.put(b"x" * 60)
    intake.put(b"y" * 30)
    assert intake.bytes == 90
    # 90 + 20 bytes would pass the bound: the producer waits, nothing is dropped.
    producer = threading.Thread(target=intake.put, args=(b"z" * 20,))
    producer.start()
    wait_until(lambda: intake.blocked_puts == 1, 10, what="producer blocked by bytes")
    assert len(intake) == 2
    assert intake.drain(1, timeout=0) == [b"x" * 60]
    producer.join(10)
    assert not producer.is_alive()
    assert intake.drain(10, timeout=0) == [b"y" * 30, b"z" * 20]
    assert intake.bytes == 0


def test_one_item_heavier_than_max_bytes_still_passes_an_empty_intake() -> None:
    intake: Intake[bytes] = Intake(10, max_bytes=10, weigh=len)
    intake.put(b"q" * 1000)
    assert intake.drain(10, timeout=0) == [b"q" * 1000]
    assert intake.blocked_puts == 0


def test_max_bytes_and_weigh_go_together() -> None:
    with pytest.raises(ValueError, match="go together"):
        Intake(10, max_bytes=10)
