"""``hosiery-top``: the park at a glance in a terminal, refreshed from InfluxDB every few seconds.

    hosiery-top [--influx-url URL] [--influx-db DB] [--registry PATH] [--refresh S]
        [--window DURATION] [--top N] [--collector-url URL] [--timezone TZ] [--once]

Shows the park's output now (the window's rate) and today (since park-local midnight, from the
5-minute rollups, as the dashboards' "today") against its capacity, the machines by state, the
machines that should be knitting and are not (longest first), the alerts firing and, with
``--collector-url``, the collector's write rate and lag (from its ``/metrics``). On a terminal
the view is drawn with ``rich`` (stack.screen) and redrawn in place until Ctrl-C; ``--once``
prints one plain-text frame and exits (scripts, tests), and so does every refresh when the
output is not a terminal.

Capacity comes from the ``capacity`` measurement (the collector writes it when it has the park
registry; its ``pairs_per_year`` over 8,760 hours), else from the park
registry (``--registry``: its ``target_pairs_per_year``), else from the machines reporting
times the park's average (3.5 billion pairs a year over 40,000 machines).

Every option is also an environment variable ``HOSIERY_TOP_`` + its name
(``HOSIERY_TOP_INFLUX_PASSWORD``). Errors are one line on stderr; exit 2 for bad options, 1 when
InfluxDB cannot be read with ``--once``.
"""

import argparse
import datetime as dt
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

import httpx
from pydantic import ValidationError

from contract.secret_files import SecretFileError
from contract.signals import StopOnSignals
from contract.version import version_line
from stack.errors import TopError
from stack.probe import CollectorProbe
from stack.snapshot import Snapshot
from stack.top_queries import Influx, collect, read_registry
from stack.top_settings import PROG, TopSettings
from stack.top_text import render


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="The park at a glance, live.")
    parser.add_argument("--version", action="version", version=version_line(PROG))
    parser.add_argument("--influx-url", help="InfluxDB, http://HOST:PORT (default local)")
    parser.add_argument("--influx-db", help="database (default hosiery)")
    parser.add_argument("--influx-username", help="a user that may read the database")
    parser.add_argument("--influx-password", help="better: HOSIERY_TOP_INFLUX_PASSWORD")
    parser.add_argument("--registry", type=Path, help="park registry: machines and capacity")
    parser.add_argument("--refresh", help="between frames: 5, 5s, 1m (default 5s)")
    parser.add_argument("--window", help="readings a frame uses: 300, 5m, 1h (default 5m)")
    parser.add_argument("--top", type=int, help="machines and alerts listed (default 10)")
    parser.add_argument(
        "--collector-url", help="the collector's http://HOST:PORT: its rate and lag (/metrics)"
    )
    parser.add_argument(
        "--timezone", help="where today begins: UTC, Asia/Shanghai, UTC+08:00 (default)"
    )
    parser.add_argument("--once", action="store_true", default=None, help="print one frame")
    return parser


class Watch:
    """What every frame reads: InfluxDB, the registry and (optionally) the collector."""

    def __init__(
        self,
        settings: TopSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.settings = settings
        self.registry = None if settings.registry is None else read_registry(settings.registry)
        self.influx = Influx(settings, transport)
        self.probe = (
            None
            if settings.collector_url is None
            else CollectorProbe(settings.collector_url, transport=transport)
        )
        self.source = f"InfluxDB {settings.influx_url} ({settings.influx_db})"
        self._clock = clock or _now_ms

    def close(self) -> None:
        self.influx.close()
        if self.probe is not None:
            self.probe.close()

    def snapshot(self) -> Snapshot:
        status = None if self.probe is None else self.probe.sample()
        return collect(self.influx, self.settings, self.registry, self._clock(), status)

    def text(self) -> str:
        """One plain-text frame."""
        return render(self.snapshot(), source=self.source, top=self.settings.top)


def run(settings: TopSettings, out: TextIO, stop: threading.Event) -> int:
    """``--once``: one frame; on a terminal, the live view; else a plain frame every refresh."""
    watch = Watch(settings)
    try:
        if settings.once:
            out.write(watch.text())
            return 0
        if out.isatty():
            from stack.screen import live  # noqa: PLC0415 - rich only where it draws

            live(watch, out, stop)
            return 0
        while not stop.is_set():
            try:
                text = watch.text()
            except TopError as exc:
                text = f"{PROG}: {exc}; trying again every {settings.refresh:g} s\n"
            out.write(text + "\n")
            out.flush()
            stop.wait(settings.refresh)
        return 0
    finally:
        watch.close()


def _now_ms() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp() * 1000)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = TopSettings(**{k: v for k, v in vars(args).items() if v is not None})
    except ValidationError as exc:
        error = exc.errors()[0]
        where = "-".join(str(p) for p in error["loc"]).replace("_", "-")
        sys.stderr.write(f"{PROG}: --{where}: {error['msg']}\n")
        return 2
    except SecretFileError as exc:
        sys.stderr.write(f"{PROG}: {exc}\n")
        return 2
    stop = threading.Event()
    try:
        with StopOnSignals(stop):
            return run(settings, sys.stdout, stop)
    except TopError as exc:
        sys.stderr.write(f"{PROG}: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
