"""What the soak runs: the product's real processes on loopback, and what it breaks them with.

* Mosquitto (``stack.MosquittoServer``: the shipped ``config/mosquitto/hosiery.conf`` and, as
  the compose stack does, accounts: no anonymous clients, the ACL, client ids bound to user
  names; written with ``hosiery-admin`` by ``stack.accounts.BrokerAccounts``);
* InfluxDB (``stack.InfluxServer``);
* ``python -m collector`` with ``--registry`` and a webhook, its state directory on a small
  tmpfs when it can be mounted (root), so that the disk can be filled;
* ``python -m simulators run`` with per-gateway accounts, gateway deaths and the other
  reading faults, writing its truth file when stopped;
* a webhook server that can be made slow, and an extra gateway account for the flood.

Every process is started in a process group of its own (a terminal's Ctrl-C reaches only the
soak, which then stops them in order) and :meth:`Rig.close` ends each one it started, whatever
happened, and unmounts the tmpfs.
"""

import contextlib
import errno
import http.server
import os
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from stack import InfluxServer, MosquittoServer
from stack.accounts import COLLECTOR_USER, BrokerAccounts
from stack.mosquitto import auth_conf
from stack.process import free_port, log_tail

REPO_ROOT = Path(__file__).resolve().parent.parent
FLOOD_USER = "ZFLOOD"
"""An account that is no enterprise of the park: the flood publishes under its topics."""
FLOOD_PASSWORD = "flood-password"  # noqa: S105 - a throw-away account on a loopback broker
DATABASE = "hosiery"
SIM_START = "2026-03-02T09:00:00"
SIM_SPEED = 60
"""Simulated minutes per second: a machine knits a pair every few minutes, so that readings
carry pairs (their stamps are the wall clock whatever the speed)."""


def child_env() -> dict[str, str]:
    """Children get no ``HOSIERY_*`` settings of the soak's environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSIERY_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    return env


@dataclass
class ParkSize:
    machines: int
    interval: float
    seed: int = 11

    @property
    def rate(self) -> float:
        """Readings a second."""
        return self.machines / self.interval


class Child:
    """A child process restarted with the same command line, logging to one file."""

    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict[str, str]) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
                env=self.env,
                process_group=0,
            )
        self.starts += 1

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def exited(self) -> int | None:
        """The exit code of a process that ended (None: running, or never started)."""
        return None if self.proc is None else self.proc.poll()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def stop(self, timeout: float) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout`` s; the exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(30)
        return proc.returncode

    def log_tail(self, lines: int = 15) -> str:
        return log_tail(self.log_path, lines)


class SlowWebhook:
    """An alert webhook on loopback that answers at once, or after ``delay`` s when slow."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.slow = threading.Event()
        self.closing = threading.Event()
        self.requests = 0
        self.slow_answers = 0
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                hook.requests += 1
                if hook.slow.is_set():
                    hook.slow_answers += 1
                    hook.closing.wait(hook.delay)  # the fault: an answer this late
                with contextlib.suppress(OSError):
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, *_args: object) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/alerts"

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()


class StateDisk:
    """The collector's state directory: a tmpfs of ``size_mib`` when root may mount one.

    ``fill`` writes a file until the tmpfs is full; ``free`` deletes it.
    """

    def __init__(self, path: Path, size_mib: int) -> None:
        self.path = path
        self.size_mib = size_mib
        self.mounted = False
        self.skip_reason: str | None = None
        self._filler = path / "filler"

    def prepare(self, *, mount: bool = True) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        if not mount:
            self.skip_reason = "not asked to mount a tmpfs"
            return
        if os.geteuid() != 0:
            self.skip_reason = "not root: cannot mount a tmpfs to fill"
            return
        if shutil.which("mount") is None:
            self.skip_reason = "no mount command"
            return
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={self.size_mib}m,mode=0700", "tmpfs",
             str(self.path)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            self.skip_reason = f"mount failed: {' '.join(done.stderr.split())[:200]}"
            return
        self.mounted = True

    def fill(self) -> int:
        """Fill the disk; the bytes written."""
        written = 0
        chunk = b"\0" * (1 << 20)
        with self._filler.open("wb", buffering=0) as out:
            while True:
                try:
                    written += out.write(chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
            # Also the last few bytes, so that even a small write fails.
            for size in (65536, 4096, 512, 1):
                with contextlib.suppress(OSError):
                    while True:
                        written += out.write(b"\0" * size)
        return written

    def free(self) -> None:
        self._filler.unlink(missing_ok=True)

    def close(self) -> None:
        self.free()
        if self.mounted:
            subprocess.run(["umount", str(self.path)], capture_output=True, check=False)
            self.mounted = False


class Rig:
    """The processes of one soak, in ``workdir``."""

    def __init__(
        self,
        workdir: Path,
        park: ParkSize,
        *,
        sim_faults: list[str],
        webhook_delay: float,
        state_mib: int,
        state_tmpfs: bool = True,
        collector_options: tuple[str, ...] = (),
    ) -> None:
        self.workdir = workdir
        self.park = park
        self.registry = workdir / "registry.json"
        self.truth_path = workdir / "truth.json"
        self.accounts = BrokerAccounts(workdir / "broker-auth")
        self.mosquitto = MosquittoServer(
            workdir / "mosquitto", extra_conf=auth_conf(self.accounts.directory)
        )
        self.influx = InfluxServer(workdir / "influxdb")
        for server in (self.mosquitto, self.influx):
            server.own_process_group = True
        self.webhook = SlowWebhook(webhook_delay)
        self.disk = StateDisk(workdir / "state", state_mib)
        self.http_port = free_port()
        self.sim_faults = sim_faults
        self.state_tmpfs = state_tmpfs
        """False: the state directory is a plain directory of ``workdir``."""
        self.collector_options = collector_options
        """Further command-line options of the collector."""
        self.collector: Child | None = None
        self.simulator: Child | None = None
        self.helpers: list[Child] = []

    @property
    def rate(self) -> float:
        return self.park.rate

    def gateway_accounts(self) -> list[tuple[str, str]]:
        """(enterprise, password) of every gateway, from the simulator's credentials file."""
        lines = self.accounts.credentials_file.read_text().splitlines()
        return [
            (name, password)
            for line in lines
            if line.strip() and not line.lstrip().startswith("#")
            for name, _, password in [line.strip().partition(":")]
        ]

    def prepare(self) -> None:
        """The park's registry, the broker's accounts, the tmpfs; no process runs yet."""
        p = self.park
        subprocess.run(
            [sys.executable, "-m", "simulators", "park", "--registry", str(self.registry),
             "--machines", str(p.machines), "--seed", str(p.seed)],
            check=True, stdout=subprocess.DEVNULL, cwd=REPO_ROOT, env=child_env(),
        )  # fmt: skip
        self.accounts.write(self.registry)
        files = [
            "--broker-passwd-path", str(self.accounts.password_file),
            "--acl-file", str(self.accounts.acl_file),
        ]  # fmt: skip
        subprocess.run(
            [sys.executable, "-m", "admin", "add-gateway", FLOOD_USER, *files, "--password-stdin"],
            input=FLOOD_PASSWORD.encode(), check=True, stdout=subprocess.DEVNULL,
            cwd=REPO_ROOT, env=child_env(),
        )  # fmt: skip
        self.disk.prepare(mount=self.state_tmpfs)

    def start_servers(self) -> None:
        self.mosquitto.start()
        self.influx.start()
        self.webhook.start()

    def collector_argv(self) -> list[str]:
        return [
            sys.executable, "-m", "collector",
            "--mqtt-url", self.mosquitto.url,
            "--influx-url", self.influx.url,
            "--influx-db", DATABASE,
            "--state-dir", str(self.disk.path),
            "--http-port", str(self.http_port),
            "--registry", str(self.registry),
            "--alert-webhook", self.webhook.url,
            "--log-format", "json",
            *self.collector_options,
        ]  # fmt: skip

    def start_collector(self) -> None:
        if self.collector is None:
            env = {
                **child_env(),
                "HOSIERY_MQTT_USERNAME": COLLECTOR_USER,
                "HOSIERY_MQTT_PASSWORD": self.accounts.collector_password(),
            }
            self.collector = Child(
                "collector", self.collector_argv(), self.workdir / "collector.log", env
            )
        self.collector.start()

    def start_simulator(self) -> None:
        p = self.park
        argv = [
            sys.executable, "-m", "simulators", "run",
            "--mqtt-url", self.mosquitto.url,
            "--credentials-file", str(self.accounts.credentials_file),
            "--machines", str(p.machines),
            "--seed", str(p.seed),
            "--interval", str(p.interval),
            "--truth-file", str(self.truth_path),
            # Park time of a Monday morning, when every shift works (readings are stamped
            # with the wall clock all the same).
            "--sim-start", SIM_START,
            "--speed", str(SIM_SPEED),
            "--shutdown-timeout", "120",
            *self.sim_faults,
        ]  # fmt: skip
        self.simulator = Child("simulator", argv, self.workdir / "simulator.log", child_env())
        self.simulator.start()

    def start_helper(self, name: str, argv: list[str], stdin: bytes) -> subprocess.Popen[bytes]:
        """A short-lived helper process (the flood); its stdout is piped, ``stdin`` fed."""
        with (self.workdir / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                cwd=REPO_ROOT,
                env=child_env(),
                process_group=0,
            )
        helper = Child(name, argv, self.workdir / f"{name}.log", child_env())
        helper.proc = proc
        self.helpers.append(helper)
        assert proc.stdin is not None
        proc.stdin.write(stdin + b"\n")
        proc.stdin.close()
        return proc

    def close(self) -> None:
        """End everything still running, in order; unmount the tmpfs. Never raises."""
        for helper in self.helpers:
            with contextlib.suppress(Exception):
                helper.stop(5)
        for child, timeout in ((self.simulator, 60.0), (self.collector, 60.0)):
            if child is not None:
                with contextlib.suppress(Exception):
                    child.stop(timeout)
        with contextlib.suppress(Exception):
            self.webhook.close()
        with contextlib.suppress(Exception):
            self.influx.resume()
        for server in (self.influx, self.mosquitto):
            with contextlib.suppress(Exception):
                server.stop()
        with contextlib.suppress(Exception):
            self.disk.close()
