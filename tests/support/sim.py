"""Running ``hosiery-sim run`` as a child process and reading its truth file."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from stack import MosquittoServer


class SimRun:
    """A simulator run in the background; ``wait`` returns its truth, per machine."""

    def __init__(
        self,
        mosquitto: MosquittoServer,
        workdir: Path,
        *,
        machines: int = 120,
        interval: float = 0.5,
        duration: float = 6.0,
        seed: int = 7,
        faults: bool = True,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.truth_path = workdir / f"truth-{seed}.json"
        self.log_path = workdir / f"sim-{seed}.log"
        argv = [
            sys.executable, "-m", "simulators", "run",
            "--mqtt-url", mosquitto.url,
            "--machines", str(machines),
            "--interval", str(interval),
            "--duration", str(duration),
            "--seed", str(seed),
            "--speed", "600",
            "--sim-start", "2026-03-02T09:00:00",  # a Monday morning: every shift is working
            "--truth-file", str(self.truth_path),
            *(["--faults", "all"] if faults else []),
            *extra,
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float = 120.0) -> dict[tuple[str, str], int]:
        code = self.proc.wait(timeout)
        if code != 0:
            raise AssertionError(f"simulator exited {code}:\n{self.log_path.read_text()[-3000:]}")
        truth = json.loads(self.truth_path.read_text())
        return {(m["enterprise"], m["machine"]): int(m["pairs"]) for m in truth["machines"]}

    def truth_file(self) -> dict[str, Any]:
        """The whole truth file of a finished run (stop reasons included)."""
        data: dict[str, Any] = json.loads(self.truth_path.read_text())
        return data

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
