"""The one-minute chaos soak (``python -m bench.soak --minutes 1``) against real servers.

Every fault of the schedule happens at least once while a 2,000-machine park publishes; the soak
exits 0 only when every machine's stored pairs equal the simulator's truth and every rollup
equals raw. Whatever way it ends, no process it started outlives it and its tmpfs is unmounted.
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench._soak_faults import HEAVY, LIGHT
from stack.mosquitto import REPO_ROOT
from stack.process import wait_until

pytestmark = pytest.mark.integration


def _leftovers(workdir: Path) -> list[str]:
    """Processes whose command line names ``workdir``, and mounts on it."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(workdir) in cmdline:
            found.append(f"{entry.name}: {cmdline[:200]}")
    mounts = Path("/proc/mounts").read_text()
    found += [line for line in mounts.splitlines() if str(workdir) in line]
    return found


def _soak(workdir: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSIERY_")}
    return subprocess.Popen(
        [sys.executable, "-m", "bench.soak", "--minutes", "1", "--dir", str(workdir), *extra],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.timeout(900)
def test_the_one_minute_soak_is_exact_through_every_fault(tmp_path: Path) -> None:
    workdir = tmp_path / "soak"
    figures_path = tmp_path / "soak.json"
    proc = _soak(workdir, "--json", str(figures_path))
    output, _ = proc.communicate(timeout=840)
    report = output.decode(errors="replace")
    assert proc.returncode == 0, report[-6000:]
    figures = json.loads(figures_path.read_text())
    assert figures["failures"] == []
    assert figures["machines_exact"] == figures["machines_total"] == 2000
    assert figures["pairs_stored"] == figures["pairs_truth"] > 0
    assert figures["rollups_exact"]
    expected = set(HEAVY) | set(LIGHT)
    if figures["disk_fault"] != "on a tmpfs":
        expected.discard("disk_full")
        assert "disk_full skipped" in report
    assert set(figures["per_fault"]) == expected
    assert all(row["count"] >= 1 for row in figures["per_fault"].values())
    assert figures["simulator_faults"]["gateway_deaths"] >= 1
    assert figures["flood_rejections_stored"] >= figures["flood_messages"] > 0
    assert figures["collector_starts"] >= 2
    assert "exact: every machine's pairs equal the truth" in report
    assert _leftovers(workdir) == []


@pytest.mark.timeout(300)
def test_a_soak_stopped_midway_leaves_no_process_and_no_mount(tmp_path: Path) -> None:
    workdir = tmp_path / "soak"
    proc = _soak(workdir)
    try:
        wait_until(
            lambda: (workdir / "simulator.log").exists() or proc.poll() is not None,
            180,
            interval=0.2,
            what="the soak's simulator started",
        )
        assert proc.poll() is None
        assert _leftovers(workdir) != []
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert proc.returncode == 1
    assert b"interrupted by SIGTERM" in output
    assert _leftovers(workdir) == []
