"""``hosiery-sim``: the park model and the fleet simulator on the command line.

    hosiery-sim park [--summary] [--registry PATH] [--seed N] [--scale F | --machines N]
    hosiery-sim backfill --days N [--influx-url URL] [--influx-username U] [--no-create-database]
        [--scale F | --machines N] [--machine-hours H]
    hosiery-sim run --mqtt-url mqtt://HOST:PORT [--credentials-file PATH]
        [--scale F | --machines N] [--interval S]
        [--speed X] [--seed N] [--duration S] [--truth-file PATH] [--faults all] [--fault-* P]

Errors are one line on stderr, ``hosiery-sim: ...``; exit code 2 for bad options and a broker
that cannot be used, 1 when the final readings could not all be delivered.
"""

import argparse
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from contract.signals import StopOnSignals
from contract.version import version_line
from simulators.errors import DeliveryError, ParameterError, SimulatorError
from simulators.fleet import Fleet
from simulators.park import build_park
from simulators.registry import write_registry
from simulators.settings import FAULT_OPTIONS, load_settings
from simulators.summary import park_summary
from simulators.truth import write_truth

PROG = "hosiery-sim"


def _say(line: str) -> None:
    sys.stderr.write(f"{PROG}: {line}\n")
    sys.stderr.flush()


def _park_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, help="the park's seed (default 1)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--scale", type=float, help="a park this fraction of the 40,000-machine park")
    size.add_argument("--machines", type=int, help="a park of this many machines")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Simulate the hosiery park's machines and their gateways."
    )
    parser.add_argument("--version", action="version", version=version_line(PROG))
    commands = parser.add_subparsers(dest="command", required=True)

    park = commands.add_parser("park", help="describe the park or write its registry")
    _park_options(park)
    park.add_argument("--summary", action="store_true", help="print the park's figures")
    park.add_argument("--registry", type=Path, metavar="PATH", help="write the park registry")

    run = commands.add_parser("run", help="publish every machine's counter over MQTT")
    _park_options(run)
    run.add_argument(
        "--mqtt-url",
        help="broker, mqtt://HOST:PORT or mqtts://HOST:PORT (TLS; default mqtt://127.0.0.1:1883)",
    )
    run.add_argument(
        "--mqtt-ca-file",
        type=Path,
        metavar="PATH",
        help="CA certificate of an mqtts:// broker (default: the system's trusted CAs)",
    )
    run.add_argument("--mqtt-username", help="user name (or HOSIERY_SIM_MQTT_USERNAME)")
    run.add_argument("--mqtt-password", help="password (better: HOSIERY_SIM_MQTT_PASSWORD)")
    run.add_argument(
        "--credentials-file",
        type=Path,
        metavar="PATH",
        help="per-gateway accounts: ENTERPRISE:PASSWORD lines; each gateway logs in as its "
        "enterprise id",
    )
    run.add_argument("--interval", help="between readings: 10, 10s, 1m (default 10s)")
    run.add_argument("--speed", type=float, help="simulated seconds per second (default 1)")
    run.add_argument("--duration", help="stop after this long: 90, 90s, 10m, 2h, 7d")
    run.add_argument("--jitter", type=float, help="relative spread of intervals (default 0.1)")
    run.add_argument(
        "--sim-start",
        help="simulated start, ISO 8601 (default: now; without offset: park time, UTC+8)",
    )
    run.add_argument("--truth-file", type=Path, metavar="PATH", help="write the truth at the end")
    run.add_argument("--faults", choices=("none", "all"), help="fault preset (default none)")
    for name in FAULT_OPTIONS:
        unit = "per gateway per minute" if name == "gateway_death" else "per reading"
        run.add_argument(
            f"--fault-{name.replace('_', '-')}",
            type=float,
            metavar="P",
            help=f"probability {unit}",
        )
    run.add_argument(
        "--fault-gateway-downtime",
        metavar="DURATION",
        help="how long a dead gateway is away on average: 30, 30s, 5m",
    )
    run.add_argument("--connect-timeout", help="how long to wait for CONNACKs (default 30s)")
    run.add_argument("--shutdown-timeout", help="how long to deliver final readings (30s)")
    run.add_argument(
        "--client-id-prefix",
        help="gateway client ids are this + the enterprise id (default gw-; another prefix lets "
        "two simulators share a broker)",
    )
    backfill = commands.add_parser(
        "backfill",
        help="write the park's history into the rollups",
        description="Write the park's history into InfluxDB's rollups. InfluxDB is reached as "
        "the collector reaches it: these options or HOSIERY_INFLUX_URL, HOSIERY_INFLUX_DB, "
        "HOSIERY_INFLUX_USERNAME, HOSIERY_INFLUX_PASSWORD, HOSIERY_INFLUX_TOKEN and "
        "HOSIERY_CREATE_DATABASE.",
    )
    _park_options(backfill)
    backfill.add_argument("--influx-url", help="InfluxDB (default http://127.0.0.1:8086)")
    backfill.add_argument("--influx-db", help="database (default hosiery)")
    backfill.add_argument("--influx-username", help="InfluxDB 1.x user")
    backfill.add_argument("--influx-password", help="better: HOSIERY_INFLUX_PASSWORD")
    backfill.add_argument(
        "--influx-token", help="InfluxDB 2.x/3.x token (better: HOSIERY_INFLUX_TOKEN)"
    )
    backfill.add_argument(
        "--no-create-database",
        dest="create_database",
        action="store_false",
        default=None,
        help="the database, retention policies and rollups are set up already (an account "
        "that may only write)",
    )
    backfill.add_argument("--days", type=float, help="days of history to write (required)")
    backfill.add_argument(
        "--machine-hours", type=int, help="last hours simulated machine by machine (default 24)"
    )
    return parser


def _backfill(args: argparse.Namespace) -> int:
    # The backfill writes with the collector's code; `run` and `park` do without it.
    from rich.console import Console  # noqa: PLC0415

    from simulators.backfill import BackfillConfig, run_backfill  # noqa: PLC0415
    from simulators.backfill_settings import load_backfill_settings  # noqa: PLC0415
    from simulators.progress import BarProgress, LineProgress  # noqa: PLC0415

    options = {k: v for k, v in vars(args).items() if k != "command"}
    settings = load_backfill_settings(options)
    config = BackfillConfig(
        influx=settings.influx_config(),
        days=settings.days,
        seed=settings.seed,
        machines=settings.machine_count(),
        machine_hours=settings.machine_hours,
        create_schema=settings.create_database,
    )
    if not sys.stderr.isatty():
        return run_backfill(config, say=_say, progress=LineProgress(_say))
    console = Console(stderr=True)

    def say(line: str) -> None:
        console.print(f"{PROG}: {line}", markup=False, highlight=False)

    with BarProgress(console) as bars:
        return run_backfill(config, say=say, progress=bars)


def _park(args: argparse.Namespace) -> int:
    settings = load_settings({"seed": args.seed, "scale": args.scale, "machines": args.machines})
    park = build_park(seed=settings.seed, machines=settings.machine_count())
    if args.registry is not None:
        try:
            write_registry(args.registry, park)
        except OSError as exc:
            raise ParameterError(f"cannot write {args.registry}: {exc.strerror}") from exc
    if args.summary or args.registry is None:
        sys.stdout.write(park_summary(park))
    return 0


def _run(args: argparse.Namespace) -> int:
    options = {
        key: value
        for key, value in vars(args).items()
        if key not in ("command",) and value is not None
    }
    settings = load_settings(options)
    config = settings.fleet_config()
    fleet = Fleet(config, log=_say, freeze_heap=True)  # (the process is the fleet's alone)
    stop = threading.Event()
    with StopOnSignals(stop):
        fleet.connect()
        enterprises = len(fleet.park.enterprises)
        _say(
            f"{len(fleet.park.machines):,} machines of {enterprises:,} "
            f"enterprise{'s' if enterprises != 1 else ''} publishing to {config.broker.url} "
            f"every {config.interval:g} s "
            f"(speed {config.speed:g}x); Ctrl-C to stop"
        )
        truth = fleet.run(stop)
    if settings.truth_file is not None:
        try:
            write_truth(settings.truth_file, truth)
        except OSError as exc:
            raise ParameterError(f"cannot write {settings.truth_file}: {exc.strerror}") from exc
    _say(
        f"published {truth.readings:,} readings ({fleet.messages:,} messages); "
        f"{truth.total_pairs:,} pairs knitted"
        + (f"; truth in {settings.truth_file}" if settings.truth_file else "")
    )
    if not truth.complete:
        raise DeliveryError("some final readings were not acknowledged; the truth is incomplete")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "park":
            return _park(args)
        if args.command == "backfill":
            return _backfill(args)
        return _run(args)
    except DeliveryError as exc:
        _say(str(exc))
        return 1
    except SimulatorError as exc:
        _say(str(exc))
        return 2
    except KeyboardInterrupt:
        return 130
