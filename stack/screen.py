"""The live view on a terminal: a :class:`~stack.snapshot.Snapshot` drawn with ``rich``.

:class:`Screen` redraws one frame in place (``rich.live``: no clearing, so no flicker), cut to
the terminal's height: the lists of machines not knitting and of alerts get the rows that are
left. ``reserve`` keeps lines above the view (``hosiery-stack run`` prints where things are
there). States are coloured as on the dashboards: running green, idle yellow, fault red,
maintenance blue, off grey.
"""

import contextlib
import datetime as dt
import threading
from collections import Counter
from types import TracebackType
from typing import TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from stack.errors import TopError
from stack.probe import CollectorStatus
from stack.snapshot import STATES, Snapshot
from stack.top import Watch
from stack.top_settings import PROG
from stack.top_text import ago, collector_line

STATE_STYLES = {
    "running": "green",
    "idle": "yellow",
    "fault": "bold red",
    "maintenance": "blue",
    "off": "bright_black",
}
FIXED_ROWS = 14
"""Rows of a frame besides the two lists (title, output, machines, collector, headings)."""
BAR_WIDTH = 30


def _share_style(share: float) -> str:
    return "green" if share >= 0.8 else "yellow" if share >= 0.5 else "red"


def _bar(share: float) -> ProgressBar:
    style = _share_style(share)
    return ProgressBar(
        total=1.0, completed=min(max(share, 0.0), 1.0), width=BAR_WIDTH, complete_style=style,
        finished_style=style,
    )  # fmt: skip


def _collector(status: CollectorStatus) -> Text:
    if status.error is not None:
        return Text(status.error, style="red")
    style = "red" if status.connected is False else ""
    return Text(collector_line(status), style=style)


def frame(snap: Snapshot, *, source: str, rows: int) -> RenderableType:
    """One frame; ``rows`` lines at most for the two lists together."""
    now = dt.datetime.fromtimestamp(snap.at_ms / 1000, dt.UTC)
    title = Text.assemble(
        (PROG, "bold"), f"  {now:%Y-%m-%d %H:%M:%S} UTC  ", (source, "dim"), "  Ctrl-C quits"
    )

    output = Table.grid(padding=(0, 2))
    for _ in range(4):
        output.add_column()
    output.add_row(
        Text("Output now", style="bold"),
        Text(f"{snap.rate:,.0f} pairs/h", justify="right"),
        _bar(snap.share),
        Text(
            f"{snap.share:.1%} of {snap.capacity.pairs_per_hour:,.0f} pairs/h "
            f"({snap.capacity.source})"
        ),
    )
    output.add_row(
        Text("Output today", style="bold"),
        Text(f"{snap.today_pairs:,} pairs", justify="right"),
        _bar(snap.today_share),
        Text(f"{snap.today_share:.1%} of {snap.today_capacity:,.0f} in {ago(snap.today_s)}"),
    )

    expected = f" of {snap.expected:,} expected" if snap.expected is not None else ""
    fresh = (
        f", last reading {ago((snap.at_ms - snap.last_reading_ms) / 1000)} ago"
        if snap.last_reading_ms is not None
        else ", no readings"
    )
    machines = Text.assemble(
        ("Machines", "bold"), f"  {snap.reporting:,} reporting{expected}{fresh}\n  "
    )
    names = [*STATES, *sorted(set(snap.states) - set(STATES))]
    for name in names:
        machines.append(f"{name} {snap.states.get(name, 0):,}", STATE_STYLES.get(name, ""))
        machines.append("   ")
    if snap.expected is not None:
        silent = max(0, snap.expected - snap.reporting)
        machines.append(f"silent {silent:,}", "magenta" if silent else "")

    parts: list[RenderableType] = [title, Text(), output, Text(), machines]
    if snap.collector is not None:
        parts.append(Text.assemble(("Collector", "bold"), "  ", _collector(snap.collector)))
    alert_rows = min(len(snap.alerts), max(rows // 2, rows - len(snap.idle)))
    idle_rows = max(0, rows - alert_rows)
    parts += [Text(), _idle(snap, idle_rows), _alerts(snap, alert_rows)]
    return Group(*parts)


def _idle(snap: Snapshot, rows: int) -> RenderableType:
    heading = Text.assemble(
        ("Not knitting", "bold"), f"  {len(snap.idle):,} running or idle without pairs for 1m+"
    )
    table = Table.grid(padding=(0, 2))
    for _ in range(3):
        table.add_column()
    for m in snap.idle[:rows]:
        since = (
            f"no pairs for {ago((snap.at_ms - m.last_pairs_ms) / 1000)}"
            if m.last_pairs_ms is not None
            else f"no pairs in the last {ago(snap.window_s)}"
        )
        state = Text(m.state, STATE_STYLES.get(m.state, ""))
        table.add_row(f"  {m.enterprise}/{m.machine}", state, since)
    return Group(heading, table)


def _alerts(snap: Snapshot, rows: int) -> RenderableType:
    by_kind = Counter(a.kind for a in snap.alerts)
    kinds = ", ".join(f"{kind} {count:,}" for kind, count in sorted(by_kind.items()))
    heading = Text.assemble(
        ("Alerts firing", "bold"),
        f"  {len(snap.alerts):,}" + (f" ({kinds})" if kinds else ""),
        style="red" if snap.alerts else "",
    )
    table = Table.grid(padding=(0, 2))
    for _ in range(4):
        table.add_column()
    for a in snap.alerts[:rows]:
        since = ago((snap.at_ms - a.since_ms) / 1000)
        table.add_row(f"  {a.kind}", a.who, f"for {since}", Text(a.reason, overflow="ellipsis"))
    return Group(heading, table)


class Screen:
    """The live view in place on ``out``, below ``reserve`` lines kept for the caller."""

    def __init__(self, watch: Watch, out: TextIO, *, reserve: int = 0) -> None:
        self.watch = watch
        self.reserve = reserve
        self.console = Console(file=out, highlight=False)
        self.live = Live(
            console=self.console,
            auto_refresh=False,
            vertical_overflow="crop",
            redirect_stdout=False,
            redirect_stderr=False,
        )

    def __enter__(self) -> "Screen":
        self.live.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        # OSError: the terminal is gone (a closed window): nothing left to draw on.
        with contextlib.suppress(OSError):
            self.live.stop()

    def draw(self) -> None:
        """Read a snapshot and draw it (or the reason why not)."""
        height = self.console.size.height - self.reserve
        try:
            snap = self.watch.snapshot()
        except TopError as exc:
            refresh = self.watch.settings.refresh
            shown: RenderableType = Text(
                f"{PROG}: {exc}; trying again every {refresh:g} s", style="red"
            )
        else:
            rows = min(self.watch.settings.top * 2, max(0, height - FIXED_ROWS))
            shown = frame(snap, source=self.watch.source, rows=rows)
        # OSError: the terminal is gone; the caller hears of it (SIGHUP) and stops.
        with contextlib.suppress(OSError):
            self.live.update(shown, refresh=True)


def live(watch: Watch, out: TextIO, stop: threading.Event) -> None:
    """Redraw every ``refresh`` seconds until ``stop`` is set."""
    with Screen(watch, out) as screen:
        while not stop.is_set():
            screen.draw()
            stop.wait(watch.settings.refresh)
