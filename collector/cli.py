"""``hosiery-collector``: run the collector, or ``hosiery-collector totals`` to report output;
``--version`` prints the product's version."""

import sys
import threading
from collections.abc import Sequence

from pydantic import ValidationError
from pydantic_settings import CliApp, SettingsError

from collector.errors import CollectorError
from collector.logs import configure_logging
from collector.service import Collector
from collector.settings import CollectorSettings
from contract.signals import StopOnSignals
from contract.version import version_line
from influx.errors import InfluxError

EXIT_USAGE = 2
EXIT_FAILED = 1


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"hosiery-collector: {message}", file=sys.stderr)  # noqa: T201 - the CLI's error line
    return code


def _explain(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    where = "--" + "-".join(str(p) for p in first["loc"]).replace("_", "-")
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    if not first["loc"]:
        return f"{first['msg'].removeprefix('Value error, ')}{more}"
    return f"{where}: {first['msg'].removeprefix('Value error, ')}{more}"


def run(argv: Sequence[str]) -> int:
    try:
        settings = CliApp.run(CollectorSettings, cli_args=list(argv))
    except ValidationError as exc:
        return _fail(_explain(exc))
    except SettingsError as exc:
        return _fail(str(exc))
    configure_logging(settings.log_format, settings.log_level)
    collector = Collector(settings)
    stop = threading.Event()
    with StopOnSignals(stop):
        try:
            collector.start()
        except (CollectorError, InfluxError) as exc:
            return _fail(str(exc))
        while not stop.wait(0.5):
            pipeline = collector.pipeline
            if pipeline is not None and pipeline.failed is not None:
                collector.stop()
                return _fail(f"pipeline failed: {pipeline.failed}", EXIT_FAILED)
        return 0 if collector.stop() else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--version" in args:
        print(version_line("hosiery-collector"))  # noqa: T201 - the CLI's answer
        return 0
    if args and args[0] == "totals":
        from collector.totals import main as totals_main  # noqa: PLC0415 - a separate command

        return totals_main(args[1:])
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
