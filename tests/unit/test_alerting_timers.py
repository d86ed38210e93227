"""Timers: a heap with lazy deletion, checked against a plain dictionary."""

from hypothesis import example, given, settings
from hypothesis import strategies as st

from collector.alerting.timers import Timers


def test_expired_returns_due_keys_earliest_first_and_removes_them() -> None:
    timers: Timers[str] = Timers()
    timers.schedule("b", 20)
    timers.schedule("a", 10)
    timers.schedule("c", 30)
    assert timers.expired(25) == ["a", "b"]
    assert "a" not in timers
    assert timers.expired(25) == []
    assert timers.expired(30) == ["c"]
    assert len(timers) == 0


def test_postponing_costs_no_heap_entry_until_the_old_one_surfaces() -> None:
    timers: Timers[str] = Timers()
    timers.schedule("m", 100)
    for due in range(101, 1_000):
        timers.schedule("m", due)  # a reading per tick moves the deadline
    assert timers.heap_size == 1
    assert timers.expired(500) == []  # the entry at 100 surfaced and was pushed again at 999
    assert timers.heap_size == 1
    assert timers.expired(999) == ["m"]


def test_moving_a_deadline_earlier_takes_effect() -> None:
    timers: Timers[str] = Timers()
    timers.schedule("m", 100)
    timers.schedule("m", 50)
    assert timers.expired(60) == ["m"]
    assert timers.expired(200) == []  # the stale entry at 100 is skipped


def test_cancel() -> None:
    timers: Timers[str] = Timers()
    timers.schedule("m", 10)
    timers.cancel("m")
    timers.cancel("never scheduled")
    assert timers.expired(100) == []
    timers.schedule("m", 20)
    assert timers.expired(100) == ["m"]


def test_heap_stays_proportional_to_the_keys() -> None:
    timers: Timers[int] = Timers()
    for round_ in range(50):
        for key in range(200):
            timers.schedule(key, 10_000 - round_ * 100 - key)  # always earlier: a push each
    assert timers.heap_size <= 2 * 200 + 1024 + 1


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("schedule"), st.integers(0, 3), st.integers(0, 1000)),
        st.tuples(st.just("cancel"), st.integers(0, 3), st.just(0)),
        st.tuples(st.just("expire"), st.just(0), st.integers(0, 1000)),
    ),
    max_size=200,
)


@settings(max_examples=500, deadline=None)
@given(OPS)
@example([("schedule", 0, 10), ("schedule", 0, 50), ("schedule", 1, 30), ("expire", 0, 100)])
def test_same_as_a_plain_dictionary(ops: list[tuple[str, int, int]]) -> None:
    timers: Timers[int] = Timers()
    model: dict[int, int] = {}
    now = 0
    for op, key, value in ops:
        if op == "schedule":
            timers.schedule(key, value)
            model[key] = value
        elif op == "cancel":
            timers.cancel(key)
            model.pop(key, None)
        else:
            now = max(now, value)
            got = timers.expired(now)
            expected = {k for k, due in model.items() if due <= now}
            assert set(got) == expected
            assert len(got) == len(expected)
            dues = [model[k] for k in got]
            assert dues == sorted(dues)
            for k in expected:
                del model[k]
        assert len(timers) == len(model)
        assert all(timers.due(k) == d for k, d in model.items())
