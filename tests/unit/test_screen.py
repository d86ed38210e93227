"""The live view drawn with ``rich``: a snapshot's frame, cut to the terminal, colours by state."""

import io
import threading
from typing import Any

import httpx
from rich.console import Console

from stack.probe import CollectorStatus
from stack.screen import Screen, frame, live
from stack.snapshot import FiringAlert, IdleMachine, Snapshot
from stack.top import Watch, run
from stack.top_settings import TopSettings
from tests.unit.test_top import NOW, answers, respond

TTY_SIZE = {"COLUMNS": "110", "LINES": "30"}


def snapshot(idle: int = 3, alerts: int = 3) -> Snapshot:
    from stack.snapshot import Capacity  # noqa: PLC0415 - with the others it reads as a fixture

    return Snapshot(
        at_ms=NOW,
        window_s=300.0,
        pairs=1000,
        covered_s=300.0,
        states={"running": 7, "idle": 2, "fault": 1},
        reporting=10,
        expected=12,
        last_reading_ms=NOW - 2000,
        capacity=Capacity(16_000.0, "registry, 12 machines"),
        idle=[IdleMachine("E1", f"M{i}", "idle", None) for i in range(idle)],
        alerts=[
            FiringAlert("E2", f"M{i}", "stopped", NOW - 600_000, "fault for 10m")
            for i in range(alerts)
        ],
        today_pairs=4000,
        today_s=3600.0,
        collector=CollectorStatus("http://c", readings_per_s=250.0, lag_s=0.8, buffer=3.0),
    )


def text_of(renderable: Any, width: int = 110) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    out = console.file
    assert isinstance(out, io.StringIO)
    return out.getvalue()


def test_a_frame_shows_output_now_and_today_machines_collector_and_lists() -> None:
    text = text_of(frame(snapshot(), source="InfluxDB test", rows=20))
    assert "Output now" in text
    assert "12,000 pairs/h" in text
    assert "75.0% of 16,000 pairs/h (registry, 12 machines)" in text
    assert "Output today" in text
    assert "4,000 pairs" in text
    assert "25.0% of 16,000 in 1h00m" in text
    assert "10 reporting of 12 expected, last reading 2s ago" in text
    assert "running 7   idle 2   fault 1   maintenance 0   off 0   silent 2" in text
    assert "Collector  250 readings/s written   lag 0.8 s   buffer 3" in text
    assert "E1/M2" in text
    assert "Alerts firing  3 (stopped 3)" in text
    assert "E2/M2" in text


def test_the_lists_get_only_the_rows_the_terminal_leaves() -> None:
    text = text_of(frame(snapshot(idle=30, alerts=30), source="test", rows=6))
    listed = [line for line in text.splitlines() if "E1/" in line or "E2/" in line]
    assert len(listed) == 6
    assert sum("stopped" in line for line in listed) == 3  # alerts keep half the rows
    text = text_of(frame(snapshot(idle=1, alerts=30), source="test", rows=6))
    listed = [line for line in text.splitlines() if "E1/" in line or "E2/" in line]
    assert len(listed) == 6
    assert sum("stopped" in line for line in listed) == 5


def test_states_are_coloured() -> None:
    console = Console(file=io.StringIO(), width=110, color_system="standard", force_terminal=True)
    console.print(frame(snapshot(), source="test", rows=10))
    out = console.file
    assert isinstance(out, io.StringIO)
    coloured = out.getvalue()
    assert "\x1b[32mrunning 7" in coloured  # green
    assert "\x1b[1;31mfault 1" in coloured  # bold red


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def influx_watch(settings: TopSettings) -> Watch:
    results = answers(today=(500, 0))
    transport = httpx.MockTransport(lambda request: respond(results, request))
    return Watch(settings, transport=transport, clock=lambda: NOW)


def test_on_a_terminal_frames_are_redrawn_in_place_without_clearing(
    monkeypatch: Any,
) -> None:
    for name, value in TTY_SIZE.items():
        monkeypatch.setenv(name, value)
    out = Terminal()
    watch = influx_watch(TopSettings(refresh=0.2))
    with Screen(watch, out) as screen:
        screen.draw()
        screen.draw()
    drawn = out.getvalue()
    assert drawn.count("Output now") >= 2  # (and once more as it stops)
    assert "\x1b[2J" not in drawn  # never clears the screen
    assert "\x1b[1A\x1b[2K" in drawn  # moves up and rewrites its lines


def test_the_live_loop_stops_when_asked_and_shows_an_unreachable_database(
    monkeypatch: Any,
) -> None:
    for name, value in TTY_SIZE.items():
        monkeypatch.setenv(name, value)
    stop = threading.Event()

    class Once(Terminal):
        def write(self, text: str) -> int:
            if "InfluxDB" in text:
                stop.set()
            return super().write(text)

    out = Once()
    watch = Watch(TopSettings(influx_url="http://127.0.0.1:9", refresh=0.2))
    live(watch, out, stop)
    watch.close()
    assert "hosiery-top: cannot reach InfluxDB at http://127.0.0.1:9" in out.getvalue()
    assert "trying again every" in out.getvalue()


def test_hosiery_top_draws_with_rich_on_a_terminal(monkeypatch: Any) -> None:
    for name, value in TTY_SIZE.items():
        monkeypatch.setenv(name, value)
    stop = threading.Event()

    class Once(Terminal):
        def write(self, text: str) -> int:
            if "InfluxDB" in text:
                stop.set()
            return super().write(text)

    out = Once()
    assert run(TopSettings(influx_url="http://127.0.0.1:9", refresh=0.2), out, stop) == 0
    assert out.getvalue().startswith("\x1b[?25l")  # rich.live hides the cursor while it draws
    assert "cannot reach InfluxDB" in out.getvalue()
