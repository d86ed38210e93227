import logging
from collections.abc import Iterator

import orjson
import pytest
import structlog

from collector.logs import QUIET_LIBRARIES, RateLimit, configure_logging


def test_rate_limit_allows_a_burst_then_counts_what_it_suppressed() -> None:
    limit = RateLimit(burst=2, period=60)
    assert limit.allow("malformed_json", 0.0) == (True, 0)
    assert limit.allow("malformed_json", 1.0) == (True, 0)
    assert limit.allow("malformed_json", 2.0) == (False, 0)
    assert limit.allow("malformed_json", 3.0) == (False, 0)
    assert limit.allow("oversized", 3.0) == (True, 0)
    assert limit.allow("malformed_json", 61.0) == (True, 2)
    assert limit.allow("malformed_json", 62.0) == (True, 0)


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in QUIET_LIBRARIES}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, was in quiet.items():
        logging.getLogger(name).setLevel(was)
    structlog.reset_defaults()


def test_library_records_are_json_lines_like_the_products_own(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("json", "info")
    configure_logging("json", "info")  # again: still one handler
    logging.getLogger("paho.mqtt.client").warning("connection lost: %s", "timeout")
    logging.getLogger("httpx").info('HTTP Request: POST /write "HTTP/1.1 204"')  # quiet
    structlog.get_logger().info("batch_written", lines=3)
    lines = [orjson.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert len(lines) == 2
    paho, own = lines
    assert paho["event"] == "connection lost: timeout"
    assert paho["level"] == "warning"
    assert paho["logger"] == "paho.mqtt.client"
    assert paho["timestamp"].endswith("Z")
    assert (own["event"], own["lines"], own["level"]) == ("batch_written", 3, "info")


def test_a_library_traceback_is_one_json_line(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("json", "warning")
    try:
        raise ValueError("bad answer")  # noqa: TRY301 - the traceback is what is logged
    except ValueError:
        logging.getLogger("urllib3").exception("request failed")
    logging.getLogger("urllib3").info("not shown below warning")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    record = orjson.loads(lines[0])
    assert record["event"] == "request failed"
    assert record["exception"][0]["exc_type"] == "ValueError"


def test_console_format_for_libraries_too(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("console", "debug")
    logging.getLogger("httpcore").warning("pool full")
    err = capsys.readouterr().err
    assert "[warning  ] pool full" in err
    assert "[httpcore]" in err
