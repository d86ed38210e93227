"""How ``hosiery-sim backfill`` shows how far it is: a ``rich`` progress bar on a terminal
(:class:`BarProgress`), one line per step elsewhere (:class:`LineProgress`: logs, pipes, CI).
Both fit :class:`simulators.backfill.Progress`."""

from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class LineProgress:
    """Says each step as it begins."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self._say = say

    def start(self, what: str, total: int) -> None:  # noqa: ARG002 - the total is for bars
        self._say(what)

    def advance(self, units: int = 1) -> None:
        pass


class BarProgress:
    """One bar per step, with done/total, elapsed and remaining time; a context manager."""

    def __init__(self, console: Console) -> None:
        self._bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> "BarProgress":
        self._bars.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self._finish()
        self._bars.stop()

    def _finish(self) -> None:
        if self._task is not None:
            task = self._bars.tasks[-1]
            if task.total is not None and task.completed >= task.total:
                self._bars.update(self._task, completed=task.total)

    def start(self, what: str, total: int) -> None:
        self._finish()
        self._task = self._bars.add_task(what, total=max(total, 1))

    def advance(self, units: int = 1) -> None:
        if self._task is not None:
            self._bars.advance(self._task, units)
