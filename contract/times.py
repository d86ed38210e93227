"""Times on the command line: RFC 3339, ``now``, relative (``-24h``, ``now-1h``) or epoch ms.

Every command that takes a time window (``hosiery-collector totals``, ``collector.reroll``,
``hosiery-report``) reads ``--since``/``--until`` with :func:`parse_time`.
"""

import re
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_RELATIVE = re.compile(r"^(?:now)?([+-])((?:\d+(?:ms|s|m|h|d|w))+)$")
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w)")


def parse_time(text: str, now_ms: int) -> int:
    """Epoch milliseconds of ``text``.

    Accepted: an RFC 3339 timestamp with a zone (``2026-05-01T08:00:00+08:00``, ``...Z``),
    ``now``, ``now-1h``, ``now+30m``, ``-24h``, ``-1h30m`` (units ms, s, m, h, d, w), or epoch
    milliseconds (``1767225600000``). Raises ``ValueError``.
    """
    value = text.strip()
    if value == "now":
        return now_ms
    if value.isdigit():
        return int(value)
    relative = _RELATIVE.match(value)
    if relative is not None:
        sign = -1 if relative.group(1) == "-" else 1
        parts = _PART.findall(relative.group(2))
        return now_ms + sign * sum(int(n) * _MS[unit] for n, unit in parts)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time (examples: 2026-05-01T08:00:00Z, now, now-1h, -24h, "
            "1767225600000)"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone: add Z (UTC) or an offset like +08:00")
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def format_time(ms: int) -> str:
    """RFC 3339 in UTC with milliseconds, e.g. ``2026-05-01T00:00:00.000Z``."""
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def join_negative_times(argv: list[str]) -> list[str]:
    """``--since -24h`` as ``--since=-24h``: an argument parser takes ``-24h`` for an option."""
    joined: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg in ("--since", "--until"):
            value = next(args, None)
            joined.append(arg if value is None else f"{arg}={value}")
        else:
            joined.append(arg)
    return joined
