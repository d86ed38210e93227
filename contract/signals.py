"""Stop on a signal: a :class:`threading.Event` set when SIGINT, SIGTERM (or others) arrives.

A Python signal handler runs on the main thread between two bytecodes, possibly while that
thread holds the lock inside ``event.wait()``; ``event.set()`` in the handler then waits for that
lock forever (the ``signal`` module's documentation warns against locks in handlers). So the
handler only writes the signal's number to a pipe, and a thread of this module sets the event.
"""

import os
import signal
import threading
from collections.abc import Iterable
from types import FrameType, TracebackType
from typing import Any

DEFAULT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopOnSignals:
    """While entered, any of ``signals`` sets ``stop``; the previous handlers come back on exit.

    Signals received, in order, are in :attr:`received` (numbers).
    """

    def __init__(
        self, stop: threading.Event, signals: Iterable[signal.Signals] = DEFAULT_SIGNALS
    ) -> None:
        self.stop = stop
        self.signals = tuple(signals)
        self.received: list[int] = []
        self._previous: dict[signal.Signals, Any] = {}
        self._pipe: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "StopOnSignals":
        read_end, write_end = os.pipe()
        self._pipe = (read_end, write_end)
        self._thread = threading.Thread(
            target=self._relay, args=(read_end,), name="stop-on-signals", daemon=True
        )
        self._thread.start()
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
        if self._pipe is not None:
            os.close(self._pipe[1])  # the relay reads the end of the pipe and returns
        if self._thread is not None:
            self._thread.join()
        if self._pipe is not None:
            os.close(self._pipe[0])
        self._pipe = self._thread = None

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        # No lock here: a write to a pipe is all a handler does.
        if self._pipe is not None:
            os.write(self._pipe[1], bytes((signum,)))

    def _relay(self, read_end: int) -> None:
        while data := os.read(read_end, 64):
            self.received.extend(data)
            self.stop.set()
