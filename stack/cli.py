"""``hosiery-stack run``: the whole product on this machine, from system packages.

Starts Mosquitto and InfluxDB as local processes (with the repository's configuration), the
collector, and the simulated park publishing to them; keeps all state under one folder; prints
where to look; stops everything cleanly on Ctrl-C.
"""

import argparse
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from stack.errors import ServerError
from stack.influxdb import InfluxServer
from stack.mosquitto import MosquittoServer
from stack.process import free_port, port_open, wait_until

RECENT_PAIRS = 'SELECT sum("pairs") FROM "production" WHERE time > now() - 5m'


def _port(preferred: int) -> int:
    """``preferred`` if nothing listens there, else any free port."""
    return free_port() if port_open("127.0.0.1", preferred) else preferred


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="hosiery-stack", description="Run the monitoring stack on a simulated park."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start Mosquitto, InfluxDB, the collector and the simulator")
    run.add_argument("--dir", type=Path, default=Path("var/stack"), help="where all state lives")
    size = run.add_mutually_exclusive_group()
    size.add_argument("--machines", type=int, help="simulate this many machines")
    size.add_argument("--scale", type=float, help="simulate this share of the park (default 1)")
    run.add_argument("--interval", type=float, default=10.0, help="seconds between readings")
    run.add_argument("--speed", type=float, default=1.0, help="simulated time runs this fast")
    run.add_argument("--seed", type=int, default=1)
    run.add_argument("--mqtt-port", type=int, default=1883)
    run.add_argument("--influx-port", type=int, default=8086)
    run.add_argument("--http-port", type=int, default=9108, help="collector /metrics, /healthz")
    run.add_argument(
        "--duration", type=float, default=None, help="stop after this many seconds (default: run)"
    )
    return parser.parse_args(argv)


class Stack:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.root: Path = args.dir.resolve()
        self.mosquitto = MosquittoServer(self.root / "mosquitto", port=_port(args.mqtt_port))
        self.influx = InfluxServer(
            self.root / "influxdb", port=_port(args.influx_port), cq_interval="1m"
        )
        self.http_port = _port(args.http_port)
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.root / f"{name}.log").open("ab")
        self.children.append((name, subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)))
        log.close()

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.mosquitto.start()
        self.influx.start()
        self._spawn(
            "collector",
            [
                sys.executable, "-m", "collector",
                "--mqtt-url", self.mosquitto.url,
                "--influx-url", self.influx.url,
                "--state-dir", str(self.root / "collector"),
                "--http-port", str(self.http_port),
                "--log-format", "json",
            ],
        )  # fmt: skip
        wait_until(
            lambda: port_open("127.0.0.1", self.http_port) or not self._alive("collector"),
            60,
            what="collector",
        )
        if not self._alive("collector"):
            raise ServerError(f"the collector exited; see {self.root / 'collector.log'}")
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
        registry = self.root / "registry.json"
        subprocess.run(
            [*sim, "park", "--registry", str(registry), *park],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self._spawn(
            "simulator",
            [
                *sim, "run", *park,
                "--mqtt-url", self.mosquitto.url,
                "--interval", str(a.interval),
                "--speed", str(a.speed),
            ],
        )  # fmt: skip

    def _alive(self, name: str) -> bool:
        return any(n == name and p.poll() is None for n, p in self.children)

    def dead_child(self) -> str | None:
        return next((n for n, p in self.children if p.poll() is not None), None)

    def describe(self) -> str:
        db = "hosiery"
        return "\n".join(
            [
                "hosiery-stack is running; Ctrl-C stops it.",
                f"  state and logs   {self.root}",
                f"  MQTT broker      {self.mosquitto.url}",
                f"  InfluxDB         {self.influx.url}  (database {db})",
                f"  collector        http://127.0.0.1:{self.http_port}/metrics  /healthz",
                (
                    "  pairs so far     .venv/bin/hosiery-collector totals "
                    f"--influx-url {self.influx.url} --since -1h --until now --by park"
                ),
                (
                    f"  raw readings     curl -G {self.influx.url}/query --data-urlencode db={db} "
                    f"--data-urlencode 'q={RECENT_PAIRS}'"
                ),
            ]
        )

    def stop(self) -> None:
        for _name, proc in reversed(self.children):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _name, proc in reversed(self.children):
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.influx.stop()
        self.mosquitto.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    stack = Stack(args)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    try:
        stack.start()
    except (ServerError, TimeoutError) as exc:
        stack.stop()
        print(f"hosiery-stack: {exc}", file=sys.stderr)  # noqa: T201 - the CLI's error line
        return 2
    print(stack.describe(), flush=True)  # noqa: T201 - the CLI's report
    deadline = time.monotonic() + args.duration if args.duration else None
    code = 0
    while not stop.wait(1.0):
        dead = stack.dead_child()
        if dead is not None:
            print(  # noqa: T201 - the CLI's error line
                f"hosiery-stack: the {dead} exited; see {stack.root / (dead + '.log')}",
                file=sys.stderr,
            )
            code = 1
            break
        if deadline is not None and time.monotonic() >= deadline:
            break
    print("hosiery-stack: stopping", flush=True)  # noqa: T201 - the CLI's report
    stack.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
