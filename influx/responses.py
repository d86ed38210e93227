"""What InfluxDB's HTTP answers say: its error message, and the exceptions they map to.

Shared by :mod:`influx.query` and :mod:`influx.write`, so that a refused credential or an
unreachable server reads the same whichever request met it.
"""

import httpx

from influx.config import InfluxConfig
from influx.errors import InfluxAuthError, InfluxUnreachableError


def raw_message(response: httpx.Response) -> str:
    """InfluxDB's ``error`` text (its whole body when that is not JSON)."""
    try:
        body = response.json()
    except ValueError:
        return response.text
    return str(body.get("error", body)) if isinstance(body, dict) else str(body)


def one_line(text: str, limit: int = 500) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def message(response: httpx.Response) -> str:
    """InfluxDB's error message, on one line and cut to a readable length."""
    return one_line(raw_message(response)) or response.reason_phrase


def unreachable(config: InfluxConfig, exc: httpx.TransportError) -> InfluxUnreachableError:
    """The error for a request that got no answer."""
    what = "no answer in time from" if isinstance(exc, httpx.TimeoutException) else "cannot reach"
    return InfluxUnreachableError(f"{what} InfluxDB at {config.url}: {exc or type(exc).__name__}")


def auth_error(config: InfluxConfig, status: int, text: str) -> InfluxAuthError:
    """The error for a 401 or 403 answer (``text``: InfluxDB's message)."""
    return InfluxAuthError(
        f"InfluxDB at {config.url} refused {config.who()} (HTTP {status}): {text}"
    )


def retry_after(response: httpx.Response) -> float | None:
    """The answer's ``Retry-After`` in seconds, when it gives one."""
    value = response.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else None
