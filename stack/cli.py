"""``hosiery-stack run``: the whole product on this machine, from system packages.

Starts Mosquitto and InfluxDB as local processes (with the repository's configuration), the
collector, Grafana when it is installed, and the simulated park publishing to them; keeps all
state under one folder; prints where to look, one line each, and below it the live view of the
park (stack.screen: output now and today against capacity, machines by state, alerts firing,
the collector's rate and lag) redrawn in place; stops everything cleanly on Ctrl-C. When its
output is not a terminal (a pipe, a log file, CI) it prints one plain status line every
``--status-interval`` seconds instead.

Every process runs in a process group of its own, so a terminal's Ctrl-C reaches only this
command, which stops the rest in order: the simulator (its final readings delivered), the
collector (what it holds written), Grafana, InfluxDB, Mosquitto.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext, suppress
from pathlib import Path
from typing import TextIO

import httpx
from pydantic import ValidationError

from contract.durations import duration_argument
from contract.signals import StopOnSignals
from contract.version import version_line
from influx.config import query_url
from stack.accounts import COLLECTOR_USER, BrokerAccounts
from stack.errors import ServerError, TopError
from stack.grafana import admin_password, find_grafana, grafana_argv, grafana_env
from stack.influxdb import InfluxServer
from stack.mosquitto import MosquittoServer, auth_conf
from stack.process import free_port, port_open, wait_until
from stack.screen import Screen
from stack.top import Watch
from stack.top_settings import TopSettings
from stack.top_text import status_line

DATABASE = "hosiery"
RECENT_PAIRS = 'SELECT sum("pairs") FROM "production" WHERE time > now() - 5m'
STOP_TIMEOUT = 60.0
STOP_ORDER = ("simulator", "collector", "grafana")
"""Readings first delivered to the broker, then written to InfluxDB, then the readers."""


def _port(preferred: int) -> int:
    """``preferred`` if nothing listens there, else (and for 0) any free port."""
    return free_port() if preferred == 0 or port_open("127.0.0.1", preferred) else preferred


_VIEW_INTERVAL = duration_argument(0.2, 3600)
"""An interval of the live view: 0.2 s to an hour."""


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="hosiery-stack", description="Run the monitoring stack on a simulated park."
    )
    parser.add_argument("--version", action="version", version=version_line("hosiery-stack"))
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run", help="start Mosquitto, InfluxDB, the collector, Grafana and the simulator"
    )
    run.add_argument("--dir", type=Path, default=Path("var/stack"), help="where all state lives")
    size = run.add_mutually_exclusive_group()
    size.add_argument("--machines", type=int, help="simulate this many machines")
    size.add_argument("--scale", type=float, help="simulate this share of the park (default 1)")
    run.add_argument(
        "--interval",
        type=duration_argument(0.01, 86400),
        default=10.0,
        help="between readings (90, 90s, 10m, 2h, 7d; default 10s)",
    )
    run.add_argument("--speed", type=float, default=1.0, help="simulated time runs this fast")
    run.add_argument("--seed", type=int, default=1)
    run.add_argument(
        "--sim-start", help="simulated start, ISO 8601 (default: now); see hosiery-sim run"
    )
    ports = "(taken or 0: any free port)"
    run.add_argument("--mqtt-port", type=int, default=1883, help=f"broker port {ports}")
    run.add_argument("--influx-port", type=int, default=8086, help=f"InfluxDB port {ports}")
    run.add_argument(
        "--http-port", type=int, default=9108, help=f"collector /metrics, /healthz {ports}"
    )
    run.add_argument("--grafana-port", type=int, default=3000, help=f"Grafana port {ports}")
    run.add_argument(
        "--no-grafana", action="store_true", help="do not start Grafana even when installed"
    )
    run.add_argument(
        "--duration",
        type=duration_argument(),
        default=None,
        help="stop after this long, e.g. 90s, 10m, 2h (default: run)",
    )
    run.add_argument(
        "--refresh",
        type=_VIEW_INTERVAL,
        default=5.0,
        help="between live-view frames, e.g. 5s (terminal; default 5s)",
    )
    run.add_argument(
        "--status-interval",
        type=_VIEW_INTERVAL,
        default=60.0,
        help="between status lines when the output is not a terminal (default 1m)",
    )
    return parser.parse_args(argv)


class Stack:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.root: Path = args.dir.resolve()
        self.accounts = BrokerAccounts(self.root / "broker-auth")
        self.mosquitto = MosquittoServer(
            self.root / "mosquitto",
            port=_port(args.mqtt_port),
            extra_conf=auth_conf(self.accounts.directory),
        )
        self.influx = InfluxServer(
            self.root / "influxdb", port=_port(args.influx_port), cq_interval="1m"
        )
        for server in (self.mosquitto, self.influx):
            server.own_process_group = True
        self.http_port = _port(args.http_port)
        self.registry = self.root / "registry.json"
        self.grafana = None if args.no_grafana else find_grafana()
        self.grafana_port = _port(args.grafana_port) if self.grafana else 0
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        log = (self.root / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=env, process_group=0
        )
        self.children.append((name, proc))
        log.close()

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        a = self.args
        size = (
            ["--machines", str(a.machines)]
            if a.machines
            else ["--scale", str(a.scale)]
            if a.scale
            else []
        )
        sim = [sys.executable, "-m", "simulators"]
        park = ["--seed", str(a.seed), *size]
        subprocess.run(
            [*sim, "park", "--registry", str(self.registry), *park],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self.accounts.write(self.registry)
        self.mosquitto.start()
        self.influx.start()
        collector_env = {
            **os.environ,
            "HOSIERY_MQTT_USERNAME": COLLECTOR_USER,
            "HOSIERY_MQTT_PASSWORD": self.accounts.collector_password(),
        }
        self._spawn(
            "collector",
            [
                sys.executable, "-m", "collector",
                "--mqtt-url", self.mosquitto.url,
                "--influx-url", self.influx.url,
                "--state-dir", str(self.root / "collector"),
                "--http-port", str(self.http_port),
                "--registry", str(self.registry),
                "--log-format", "json",
            ],
            collector_env,
        )  # fmt: skip
        self._wait_for("collector", lambda: port_open("127.0.0.1", self.http_port))
        if self.grafana is not None:
            self._start_grafana()
        self._spawn(
            "simulator",
            [
                *sim, "run", *park,
                "--mqtt-url", self.mosquitto.url,
                "--credentials-file", str(self.accounts.credentials_file),
                "--interval", str(a.interval),
                "--speed", str(a.speed),
                *(["--sim-start", a.sim_start] if a.sim_start else []),
            ],
        )  # fmt: skip

    def _start_grafana(self) -> None:
        assert self.grafana is not None  # noqa: S101 - the caller checked
        directory = self.root / "grafana"
        env = grafana_env(
            directory,
            port=self.grafana_port,
            influx_url=self.influx.url,
            database=DATABASE,
            password=admin_password(directory),
            base=os.environ,
        )
        self._spawn("grafana", grafana_argv(self.grafana), env)

        def healthy() -> bool:
            try:
                url = f"http://127.0.0.1:{self.grafana_port}/api/health"
                return httpx.get(url, timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        self._wait_for("grafana", healthy, timeout=120)

    def _wait_for(self, name: str, ready: Callable[[], bool], timeout: float = 60) -> None:
        wait_until(lambda: ready() or not self._alive(name), timeout, interval=0.2, what=name)
        if not self._alive(name):
            raise ServerError(f"the {name} exited; see {self.root / (name + '.log')}")

    def _alive(self, name: str) -> bool:
        return any(n == name and p.poll() is None for n, p in self.children)

    def dead_child(self) -> str | None:
        return next((n for n, p in self.children if p.poll() is not None), None)

    def watch(self) -> Watch:
        """What the live view reads: this stack's InfluxDB, registry and collector (the
        ``HOSIERY_TOP_*`` environment may add to it, as to ``hosiery-top``)."""
        try:
            settings = TopSettings(
                influx_url=self.influx.url,
                registry=self.registry,
                collector_url=f"http://127.0.0.1:{self.http_port}",
                refresh=self.args.refresh,
            )
        except ValidationError as exc:
            error = exc.errors()[0]
            where = "_".join(str(p) for p in error["loc"]).upper()
            raise TopError(f"HOSIERY_TOP_{where}: {error['msg']}") from None
        return Watch(settings)

    def describe(self) -> str:
        db = DATABASE
        lines = [
            "hosiery-stack is running; Ctrl-C stops it.",
            f"  state and logs   {self.root}",
            f"  MQTT broker      {self.mosquitto.url}  (accounts in {self.accounts.directory})",
            f"  InfluxDB         {self.influx.url}  (database {db})",
            f"  collector        http://127.0.0.1:{self.http_port}/metrics  /healthz",
        ]
        if self.grafana is not None:
            lines.append(
                f"  Grafana          http://127.0.0.1:{self.grafana_port}/  (user admin, "
                f"password in {self.root / 'grafana' / 'admin-password'})"
            )
        else:
            lines.append("  Grafana          not installed (see docs/deployment.md)")
        lines += [
            (
                "  live view        .venv/bin/hosiery-top "
                f"--influx-url {self.influx.url} --registry {self.registry}"
            ),
            (
                "  pairs so far     .venv/bin/hosiery-collector totals "
                f"--influx-url {self.influx.url} --since -1h --until now --by park"
            ),
            (
                f"  raw readings     curl -G {query_url(self.influx.url)} --data-urlencode db={db} "
                f"--data-urlencode 'q={RECENT_PAIRS}'"
            ),
        ]
        return "\n".join(lines)

    def stop(self) -> None:
        """Stop the children one by one, the simulator first, then the servers."""
        order = {name: i for i, name in enumerate(STOP_ORDER)}
        for _name, proc in sorted(self.children, key=lambda c: order.get(c[0], len(order))):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.influx.stop()
        self.mosquitto.stop()


def watch_until_stopped(stack: Stack, stop: threading.Event, out: TextIO, *, reserve: int) -> int:
    """Show the park until ``stop`` is set, ``--duration`` has passed (0) or a child exits (1);
    2 when the live view cannot be set up.

    On a terminal the live view is redrawn every ``--refresh`` seconds below the ``reserve``
    lines already printed; otherwise a status line is printed every ``--status-interval``.
    """
    args = stack.args
    deadline = time.monotonic() + args.duration if args.duration else None
    tty = out.isatty()
    every = args.refresh if tty else args.status_interval
    try:
        watch = stack.watch()
    except TopError as exc:
        sys.stderr.write(f"hosiery-stack: live view: {exc}\n")
        return 2
    screen = Screen(watch, out, reserve=reserve) if tty else None
    dead: str | None = None
    next_frame = time.monotonic()
    try:
        with screen or nullcontext():
            while not stop.is_set():
                dead = stack.dead_child()
                if dead is not None:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if time.monotonic() >= next_frame:
                    next_frame = time.monotonic() + every
                    if screen is not None:
                        screen.draw()
                    else:
                        _status(watch, out)
                stop.wait(min(1.0, max(0.0, next_frame - time.monotonic())))
    finally:
        watch.close()
    if dead is None:
        return 0
    sys.stderr.write(f"hosiery-stack: the {dead} exited; see {stack.root / (dead + '.log')}\n")
    return 1


def _status(watch: Watch, out: TextIO) -> None:
    try:
        line = status_line(watch.snapshot())
    except TopError as exc:
        line = f"live view: {exc}"
    out.write(f"hosiery-stack: {line}\n")
    out.flush()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    stack = Stack(args)
    stop = threading.Event()
    # SIGHUP: the terminal closed. The children have process groups of their own, so only
    # this command hears it, and must stop them. The handlers stay until the command returns.
    with StopOnSignals(stop, (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)):
        try:
            stack.start()
        except (ServerError, TimeoutError, subprocess.CalledProcessError) as exc:
            stack.stop()
            sys.stderr.write(f"hosiery-stack: {exc}\n")
            return 2
        description = stack.describe()
        _say(description)
        columns = shutil.get_terminal_size().columns
        # The lines printed, as the terminal wraps them, and one blank line under them.
        reserve = sum(-(-max(1, len(line)) // columns) for line in description.splitlines()) + 1
        try:
            code = watch_until_stopped(stack, stop, sys.stdout, reserve=reserve)
        finally:
            _say("hosiery-stack: stopping")
            stack.stop()
        _say("hosiery-stack: stopped")
        return code


def _say(text: str) -> None:
    """A report line on stdout; none when the terminal has gone (the run still stops cleanly)."""
    with suppress(OSError):
        print(text, flush=True)  # noqa: T201 - the CLI's report


if __name__ == "__main__":
    sys.exit(main())
