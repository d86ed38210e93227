"""A report period's OEE columns: :func:`contract.oee.oee` on the sums the period has.

Hours written before the rollups carried ``nominal_pairs`` and ``rejects`` (backfilled history
included) have neither: a period without them leaves performance, quality and OEE empty
rather than reading a missing field as zero.
"""

from collections.abc import Mapping
from typing import NamedTuple

from contract.oee import Oee as Parts
from contract.oee import oee as contract_oee


class Oee(NamedTuple):
    """A report's OEE columns, each a ratio (None: not computable from the sums)."""

    availability: float | None
    performance: float | None
    quality: float | None
    oee: float | None


def oee(sums: Mapping[str, float]) -> Oee:
    """OEE of a period from its sums of ``running_s``, ``planned_s``, ``pairs``,
    ``nominal_pairs`` and ``rejects``; parts whose inputs are absent are None."""
    parts = contract_oee(
        running_s=sums.get("running_s", 0.0),
        planned_s=sums.get("planned_s", 0.0),
        pairs=sums.get("pairs", 0.0),
        nominal_pairs=sums.get("nominal_pairs", 0.0),
        rejects=sums.get("rejects", 0.0),
    )
    known = Parts(
        availability=parts.availability,
        performance=parts.performance if "nominal_pairs" in sums else None,
        quality=parts.quality if "rejects" in sums else None,
    )
    return Oee(*known, known.oee)
