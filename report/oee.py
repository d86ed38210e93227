"""OEE columns from a period's sums: an adapter until the product's OEE function is merged.

Availability is running time over planned time (``running_s / planned_s``). Performance,
quality and their product need the rollups' ``nominal_pairs`` and ``rejects``: while those
fields are absent the columns stay empty. The product's OEE function replaces this module's
body (its signature is what :mod:`report.rows` calls).
"""

from collections.abc import Mapping
from typing import NamedTuple


class Oee(NamedTuple):
    """The parts of OEE, each a ratio (None: not computable from the sums)."""

    availability: float | None
    performance: float | None
    quality: float | None
    oee: float | None


def _ratio(part: float | None, whole: float | None) -> float | None:
    if part is None or whole is None or whole <= 0:
        return None
    return part / whole


def oee(sums: Mapping[str, float]) -> Oee:
    """OEE of a period from its sums of ``running_s``, ``planned_s``, ``pairs``,
    ``nominal_pairs`` and ``rejects``."""
    availability = _ratio(sums.get("running_s", 0.0), sums.get("planned_s"))
    nominal, rejects = sums.get("nominal_pairs"), sums.get("rejects")
    pairs = sums.get("pairs", 0.0)
    performance = _ratio(pairs, nominal)
    quality = None if rejects is None else _ratio(pairs - rejects, pairs)
    parts = (availability, performance, quality)
    total = None
    if all(part is not None for part in parts):
        total = 1.0
        for part in parts:
            total *= part or 0.0
    return Oee(availability, performance, quality, total)
