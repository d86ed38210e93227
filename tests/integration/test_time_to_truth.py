"""The time-to-truth benchmark (``python -m bench.time_to_truth``) at a tiny scale, real servers.

Sixty machines (two enterprises) and an outage of a few seconds: the benchmark must exit 0 and
report both times, raw first. The dashboards' pairs reach the truth only at the continuous
queries' next run (every 5 minutes on the clock), so this takes from about 20 s to 5.5 minutes
depending on the time of day it starts.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stack.mosquitto import REPO_ROOT

pytestmark = pytest.mark.integration


def _leftovers(workdir: Path) -> list[str]:
    """Processes whose command line names ``workdir``."""
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
    return found


@pytest.mark.timeout(600)
def test_a_tiny_outage_reports_both_times_to_truth(tmp_path: Path) -> None:
    workdir = tmp_path / "ttt"
    figures_path = tmp_path / "ttt.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSIERY_")}
    done = subprocess.run(
        [
            sys.executable, "-m", "bench.time_to_truth",
            "--machines", "60", "--interval", "1", "--warmup", "3s", "--outage", "4s",
            "--summary-interval", "2s", "--poll", "1s", "--deadline", "420s",
            "--dir", str(workdir), "--json", str(figures_path),
        ],
        cwd=REPO_ROOT, env=env, capture_output=True, timeout=570, check=False,
    )  # fmt: skip
    report = done.stdout.decode(errors="replace")
    assert done.returncode == 0, report[-4000:] + done.stderr.decode(errors="replace")[-4000:]
    figures = json.loads(figures_path.read_text())
    assert figures["enterprises"] == 2
    assert figures["truth_pairs"] > 0
    raw, dashboards = figures["raw_equal_after_s"], figures["dashboards_equal_after_s"]
    assert isinstance(raw, float)
    assert isinstance(dashboards, float)
    # the rollups are made from raw: the panels cannot equal the truth before raw does
    assert dashboards >= raw
    assert set(figures["items_equal_after_s"]) == {
        "park pairs today", "per-enterprise pairs today", "machines by state", "pairs year to date"
    }  # fmt: skip
    assert "(a) raw = truth for every machine" in report
    assert "(b) every headline number = truth" in report
    assert not _leftovers(workdir)
