"""A server subprocess with its own directory, started and stopped cleanly."""

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

from stack.errors import ServerNotInstalledError, ServerStartError


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def find_binary(name: str, *extra_dirs: str) -> str:
    """Return the path of ``name`` on PATH (or in ``extra_dirs``), or raise."""
    found = shutil.which(name) or next(
        (str(Path(d) / name) for d in extra_dirs if (Path(d) / name).is_file()), None
    )
    if found is None:
        raise ServerNotInstalledError(
            f"{name} is not installed (Debian package: see README, 'scripts/bootstrap' installs it)"
        )
    return found


def log_tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file, for an error message ("(no log)" if none)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def wait_until(
    condition: Callable[[], bool], timeout: float, interval: float = 0.05, what: str = "condition"
) -> None:
    """Poll ``condition`` until it is true, or raise :class:`TimeoutError` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


class ServerProcess:
    """Base class: a server started from an argv in a working directory, logging to a file."""

    name = "server"
    start_timeout = 30.0
    own_process_group = False
    """Start the server in a process group of its own, so that a terminal's Ctrl-C reaches only
    the program that owns it, which then stops its servers in order (the native run)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"{self.name}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def prepare(self) -> None:
        """Write configuration files before the process starts."""

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        self.prepare()
        argv = self.argv()
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                process_group=0 if self.own_process_group else None,
            )
        deadline = time.monotonic() + self.start_timeout
        while not self.ready():
            if self._proc.poll() is not None:
                raise ServerStartError(
                    f"{self.name} exited with code {self._proc.returncode}; "
                    f"last log lines:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(
                    f"{self.name} was not ready after {self.start_timeout:.0f}s; "
                    f"last log lines:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server (SIGTERM, or SIGKILL when ``kill``) and wait for it to exit."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        if kill:
            proc.kill()
        else:
            proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): its sockets stay open and nothing answers, as in a hang."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server go on (SIGCONT)."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)

    def log_tail(self, lines: int = 20) -> str:
        return log_tail(self.log_path, lines)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
