"""``hosiery-stack run``, the native run of scripts/park, as a user runs it: it fills InfluxDB
with the simulated park's production, ``hosiery-top`` shows it, Ctrl-C stops everything."""

import os
import pty
import re
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

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
        """Every process started by the run (children and their children), from /proc."""
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        found, frontier = set(), {self.proc.pid}
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

    children = native_run.descendants()
    assert len(children) >= 4  # mosquitto, influxd, the collector, the simulator
    os.killpg(native_run.proc.pid, signal.SIGINT)
    assert native_run.proc.wait(120) == 0, native_run.output()
    alive = {pid for pid in children if Path(f"/proc/{pid}").exists()}
    assert not alive
    assert "hosiery-stack: stopped" in native_run.output()
    sim_log = (native_run.root / "simulator.log").read_text()
    assert "published" in sim_log  # the simulator shut down cleanly, final readings delivered


def test_the_live_view_redraws_in_a_terminal(native_run: NativeRun) -> None:
    wait_until(
        lambda: "Ctrl-C stops it" in native_run.output() or native_run.proc.poll() is not None,
        120,
        interval=0.2,
        what="the stack started",
    )
    url = native_run.influx_url()
    wait_until(lambda: len(machines_with_readings(url)) == MACHINES, 60, interval=1, what="data")
    primary, secondary = pty.openpty()
    top = subprocess.Popen(
        [sys.executable, "-m", "stack.top", "--influx-url", url, "--refresh", "0.5",
         "--registry", str(native_run.root / "registry.json")],
        stdin=secondary, stdout=secondary, stderr=secondary,
    )  # fmt: skip
    os.close(secondary)
    screen = bytearray()

    def two_frames() -> bool:
        ready, _, _ = select.select([primary], [], [], 0.2)
        if ready:
            screen.extend(os.read(primary, 65536))
        return screen.count(b"\x1b[H\x1b[2J") >= 2 and screen.rstrip().endswith(b"quits)")

    try:
        wait_until(two_frames, 60, interval=0.01, what="two frames of hosiery-top")
        top.send_signal(signal.SIGINT)
        assert top.wait(30) == 0
    finally:
        if top.poll() is None:
            top.kill()
            top.wait(10)
        os.close(primary)
    last = screen.decode().rsplit("\x1b[H\x1b[2J", 1)[1]
    assert re.search(r"^Rate +[\d,]+ pairs/h", last, re.MULTILINE)
    assert re.search(r"running \d+ +idle \d+ +fault \d+", last)
    assert f"{MACHINES} reporting" in last
