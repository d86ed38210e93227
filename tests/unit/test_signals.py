"""Stopping on signals (contract.signals): the event is set, and never from inside the handler."""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from contract.signals import StopOnSignals

ROOT = Path(__file__).resolve().parents[2]


def test_a_signal_sets_the_event_and_the_previous_handlers_come_back() -> None:
    stop = threading.Event()
    before = signal.getsignal(signal.SIGUSR1)
    with StopOnSignals(stop, (signal.SIGUSR1,)) as signals:
        assert signal.getsignal(signal.SIGUSR1) is not before
        os.kill(os.getpid(), signal.SIGUSR1)
        assert stop.wait(10)
    assert signals.received == [signal.SIGUSR1]
    assert signal.getsignal(signal.SIGUSR1) is before


def test_without_a_signal_nothing_is_set() -> None:
    stop = threading.Event()
    with StopOnSignals(stop, (signal.SIGUSR1,)) as signals:
        pass
    assert not stop.is_set()
    assert signals.received == []


def test_a_signal_while_the_main_thread_holds_the_events_lock_does_not_deadlock() -> None:
    """What ``stop.wait()`` holds between its checks. A handler calling ``stop.set()`` itself
    would wait for this lock forever; run in a child process so that a regression fails."""
    program = """
import os, signal, threading
from contract.signals import StopOnSignals
stop = threading.Event()
with StopOnSignals(stop, (signal.SIGUSR1,)) as signals:
    with stop._cond:  # Event.wait's lock, held as it is between two checks
        os.kill(os.getpid(), signal.SIGUSR1)
        for _ in range(1000):  # bytecodes: the handler runs among them, with the lock held
            pass
    assert stop.wait(10)
print(signals.received)
"""
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=30,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"[{int(signal.SIGUSR1)}]"


def test_the_old_way_deadlocks_in_the_same_place() -> None:
    """The reason for the module: ``stop.set()`` in the handler, same moment, never returns."""
    program = """
import os, signal, threading
stop = threading.Event()
signal.signal(signal.SIGUSR1, lambda _s, _f: stop.set())
with stop._cond:
    os.kill(os.getpid(), signal.SIGUSR1)
    for _ in range(1000):
        pass
"""
    try:
        subprocess.run([sys.executable, "-c", program], capture_output=True, timeout=3, check=False)
    except subprocess.TimeoutExpired:
        return
    raise AssertionError("stop.set() in a signal handler returned while its lock was held")
