"""Durations as people write them in options: ``90``, ``90s``, ``1.5s``, ``10m``, ``1h``, ``7d``.

One syntax for every command's duration options and variables: a pydantic field type
(:data:`Duration`) and an argparse type (:func:`duration_argument`).
"""

import argparse
import math
import re
from collections.abc import Callable
from typing import Annotated

from pydantic import BeforeValidator

_UNITS = {"": 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w|)\s*$")


def parse_duration(value: object) -> float:
    """Return seconds; a bare number is seconds. Raise ``ValueError`` for anything else."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")  # noqa: TRY004 - pydantic wants ValueError
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _RE.match(str(value))
        if match is None:
            raise ValueError(f"{value!r} is not a duration (examples: 90, 90s, 10m, 1h, 7d)")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds < 0:
        raise ValueError(f"{value!r} is negative")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""A pydantic field type: seconds, written as ``90``, ``90s``, ``10m``, ``1h`` or ``7d``."""


def duration_argument(
    low: float = 0.0, high: float = math.inf, *, above: bool = False
) -> Callable[[str], float]:
    """An argparse ``type``: seconds from a duration, within ``low`` (excluded when ``above``)
    and ``high``; anything else is argparse's one-line usage error."""

    def duration(text: str) -> float:
        try:
            seconds = parse_duration(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if seconds > high or seconds < low or (above and seconds == low):
            bound = f"longer than {low:g}s" if above else f"at least {low:g}s"
            within = bound if high == math.inf else f"{bound} and at most {high:g}s"
            raise argparse.ArgumentTypeError(f"{text!r} is not {within}")
        return seconds

    return duration
