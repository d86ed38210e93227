"""``hosiery-stack run``, the native run of scripts/park, as a user runs it: it fills InfluxDB
with the simulated park's production, ``hosiery-top`` shows it, Ctrl-C stops everything."""

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from stack.process import wait_until
from tests.support.influx import query

pytestmark = pytest.mark.integration

MACHINES = 200


@dataclass
class NativeRun:
    proc: subprocess.Popen[str]
    root: Path
    lines: list[str] = field(default_factory=list)

    def output(self) -> str:
        return "\n".join(self.lines)

    def influx_url(self) -> str:
        found = re.search(r"InfluxDB +(http://127\.0\.0\.1:\d+)", self.output())
        assert found is not None, self.output()
        return found.group(1)

    def descendants(self) -> set[int]:
        return descendants(self.proc.pid)


def descendants(root: int) -> set[int]:
    """Every process started by ``root`` (children and their children), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


@pytest.fixture
def native_run(tmp_path: Path) -> Iterator[NativeRun]:
    argv = [
        sys.executable, "-m", "stack.cli", "run",
        "--dir", str(tmp_path / "stack"),
        "--machines", str(MACHINES), "--interval", "1", "--speed", "600",
        "--sim-start", "2026-03-02T09:00:00",  # a Monday morning: every shift is working
        "--mqtt-port", "0", "--influx-port", "0", "--http-port", "0", "--grafana-port", "0",
        "--status-interval", "2",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSIERY_")}
    # A session of its own, like a shell's job: Ctrl-C goes to the run's process group only.
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    run = NativeRun(proc, tmp_path / "stack")
    assert proc.stdout is not None
    stdout = proc.stdout
    reader = threading.Thread(target=lambda: run.lines.extend(iter(stdout.readline, "")))
    reader.start()
    try:
        yield run
    finally:
        if proc.poll() is None:
            left = run.descendants()
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                for pid in left | {proc.pid}:
                    os.kill(pid, signal.SIGKILL)
                proc.wait(10)
        reader.join(10)
        stdout.close()


def machines_with_readings(url: str) -> dict[str, int]:
    rows = query(
        url, "hosiery", 'SELECT sum("pairs") FROM "production" GROUP BY "machine", "enterprise"'
    )
    return {
        f"{s['tags']['enterprise']}/{s['tags']['machine']}": int(s["values"][0][1]) for s in rows
    }


def test_the_native_run_fills_influxdb_and_stops_cleanly_on_ctrl_c(native_run: NativeRun) -> None:
    wait_until(
        lambda: "Ctrl-C stops it" in native_run.output() or native_run.proc.poll() is not None,
        120,
        interval=0.2,
        what="the stack started",
    )
    assert native_run.proc.poll() is None, native_run.output()
    url = native_run.influx_url()
    found: dict[str, int] = {}

    def whole_park_knitting() -> bool:
        found.update(machines_with_readings(url))
        return len(found) == MACHINES and sum(found.values()) > 0

    wait_until(whole_park_knitting, 60, interval=1, what="production of every machine")
    assert sum(1 for pairs in found.values() if pairs > 0) > MACHINES // 2

    frame = subprocess.run(
        [
            sys.executable, "-m", "stack.top", "--once", "--influx-url", url,
            "--registry", str(native_run.root / "registry.json"),
        ],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    rate = re.search(r"^Rate +([\d,]+) pairs/h", frame, re.MULTILINE)
    assert rate is not None, frame
    assert int(rate.group(1).replace(",", "")) > 0
    assert f"{MACHINES} reporting in the last 5m00s of {MACHINES} expected" in frame
    running = re.search(r"running ([\d,]+)", frame)
    assert running is not None
    assert int(running.group(1)) > 0
    assert re.search(
        r"^Capacity +1,9\d\d pairs/h  \(capacity measurement, 200 machines\)",
        frame,
        re.MULTILINE,
    ), frame

    # The collector's /metrics, as a Prometheus server asks for it.
    metrics_url = re.search(r"collector +(http://\S+/metrics)", native_run.output())
    assert metrics_url is not None
    scraped = httpx.get(
        metrics_url.group(1), headers={"Accept": "application/openmetrics-text"}, timeout=30
    )
    assert scraped.headers["Content-Type"].startswith("application/openmetrics-text")
    assert scraped.text.endswith("# EOF\n")
    assert re.search(r'^hosiery_collector_build_info\{version="[^"]+"\} 1', scraped.text, re.M)
    assert re.search(r"^process_resident_memory_bytes \d", scraped.text, re.M)
    assert re.search(r"^hosiery_collector_readings_written_total [1-9]", scraped.text, re.M)

    # Not a terminal: plain status lines, no escape sequences.
    wait_until(
        lambda: (
            re.search(
                rf"^hosiery-stack: now [1-9][\d,]* pairs/h .* {MACHINES}/{MACHINES} reporting",
                native_run.output(),
                re.MULTILINE,
            )
            is not None
        ),
        30,
        interval=0.5,
        what="a status line",
    )
    assert "\x1b" not in native_run.output()

    children = native_run.descendants()
    assert len(children) >= 4  # mosquitto, influxd, the collector, the simulator
    os.killpg(native_run.proc.pid, signal.SIGINT)
    assert native_run.proc.wait(120) == 0, native_run.output()
    alive = {pid for pid in children if Path(f"/proc/{pid}").exists()}
    assert not alive
    assert "hosiery-stack: stopped" in native_run.output()
    sim_log = (native_run.root / "simulator.log").read_text()
    assert "published" in sim_log  # the simulator shut down cleanly, final readings delivered


class Tmux:
    """A tmux server of the test's own (its socket in a temporary folder): the terminal a user
    runs scripts/park in, read back as the screen shows it."""

    def __init__(self, socket: Path, env: dict[str, str]) -> None:
        self.socket = socket
        self.env = env

    def __call__(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-S", str(self.socket), *args],
            check=True, capture_output=True, text=True, env=self.env, timeout=30,
        ).stdout  # fmt: skip

    def start(self, window: str, argv: list[str], *, first: bool = False) -> None:
        command = " ".join(shlex.quote(a) for a in argv)
        where = ["new-session", "-d", "-x", str(COLUMNS), "-y", str(ROWS), "-s", "park"]
        self(*(where if first else ["new-window", "-t", "park"]), "-n", window, command,
             ";", "set-option", "-w", "-t", f"park:{window}", "remain-on-exit", "on")  # fmt: skip

    def screen(self, window: str) -> str:
        return self("capture-pane", "-p", "-t", f"park:{window}")

    def exit_status(self, window: str) -> int | None:
        """The exit status of the window's command (minus the signal that killed it), or None.

        tmux marks a pane dead when its terminal closes, which can come before it has reaped
        the process; until then neither the status nor the signal is known, so it is None.
        """
        form = "#{pane_dead}:#{pane_dead_status}:#{pane_dead_signal}"
        shown = self("display", "-p", "-t", f"park:{window}", form)
        dead, status, killed_by = shown.strip().split(":")
        if dead != "1":
            return None
        if status:
            return int(status)
        return -int(killed_by) if killed_by else None

    def pane_pid(self, window: str) -> int:
        return int(self("display", "-p", "-t", f"park:{window}", "#{pane_pid}"))


COLUMNS, ROWS = 150, 45


def test_scripts_park_shows_the_live_park_in_its_terminal(tmp_path: Path) -> None:
    """What a user sees: the stack run in a terminal (tmux), the URLs one line each above the
    live view; hosiery-top in a second window; closing the terminal stops everything."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOSIERY_", "TMUX"))}
    tmux = Tmux(tmp_path / "tmux.sock", env)
    root = tmp_path / "stack"
    argv = [
        sys.executable, "-m", "stack.cli", "run", "--dir", str(root),
        "--machines", str(MACHINES), "--interval", "1", "--speed", "600",
        "--sim-start", "2026-03-02T09:00:00", "--refresh", "1",
        "--mqtt-port", "0", "--influx-port", "0", "--http-port", "0", "--grafana-port", "0",
    ]  # fmt: skip
    tmux.start("stack", argv, first=True)
    stack_pid = tmux.pane_pid("stack")
    started: set[int] = set()
    try:
        screen = ""

        def live_park() -> bool:
            nonlocal screen
            screen = tmux.screen("stack")
            assert tmux.exit_status("stack") is None, screen
            reporting = f"{MACHINES} reporting of {MACHINES} expected" in screen
            writing = re.search(r"Collector +[\d,]+ readings/s written", screen) is not None
            knitting = re.search(r"Output now +[1-9][\d,]* pairs/h", screen) is not None
            return reporting and writing and knitting

        wait_until(live_park, 120, interval=0.5, what=f"the live park on the screen:\n{screen}")
        lines = screen.splitlines()
        view = next(i for i, line in enumerate(lines) if line.startswith("hosiery-top"))
        above = lines[:view]
        assert above[0] == "hosiery-stack is running; Ctrl-C stops it."
        for name in ("MQTT broker", "InfluxDB", "collector", "live view"):
            assert sum(line.startswith(f"  {name} ") for line in above) == 1, above
        below = "\n".join(lines[view:])
        assert re.search(r"Output today +[\d,]+ pairs", below)
        assert re.search(r"running \d+ +idle \d+ +fault \d+ +maintenance \d+ +off \d+", below)
        assert "MQTT connected" in below
        assert "Alerts firing" in below
        assert len(lines) <= ROWS

        found = re.search(r"InfluxDB +(http://127\.0\.0\.1:\d+)", screen)
        assert found is not None
        hosiery_top_in_a_second_window(tmux, found.group(1), root / "registry.json")

        started = descendants(stack_pid) | {stack_pid}
        assert len(started) >= 5  # the run, mosquitto, influxd, the collector, the simulator
        # The user closes the terminal (Ctrl-C is the other test's): the run hears SIGHUP and
        # stops everything it started, the simulator's last readings delivered.
        tmux("kill-window", "-t", "park:stack")

        def all_stopped() -> bool:
            return not {pid for pid in started if Path(f"/proc/{pid}").exists()}

        wait_until(all_stopped, 120, interval=0.5, what="every process of the run to stop")
        assert "published" in (root / "simulator.log").read_text()
    finally:
        left = descendants(stack_pid) | started
        with contextlib.suppress(subprocess.CalledProcessError):
            tmux("kill-server")
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def hosiery_top_in_a_second_window(tmux: Tmux, influx_url: str, registry: Path) -> None:
    top = [sys.executable, "-m", "stack.top", "--influx-url", influx_url,
           "--refresh", "0.5", "--registry", str(registry)]  # fmt: skip
    tmux.start("top", top)

    def top_drawn() -> bool:
        shown = tmux.screen("top")
        return f"{MACHINES} reporting" in shown and "Output now" in shown

    wait_until(top_drawn, 60, interval=0.5, what="hosiery-top in a terminal")
    tmux("send-keys", "-t", "park:top", "C-c")
    # It quits after the frame it is drawing; on a loaded machine a frame's queries can take tens
    # of seconds.
    wait_until(lambda: tmux.exit_status("top") is not None, 90, what="hosiery-top to quit")
    assert tmux.exit_status("top") == 0
