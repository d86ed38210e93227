"""OEE (overall equipment effectiveness) and its parts, from the sums the rollups carry.

Pure arithmetic on one scope's sums over one window (a machine, an enterprise or the park; a
shift, a day, a month): ``running_s``, ``planned_s``, ``pairs``, ``nominal_pairs`` and
``rejects`` (``docs/schema.md``). Here in ``contract`` so that the collector, the dashboards and
reports all compute it the same way.

* Availability = running_s / planned_s
* Performance = pairs / nominal_pairs
* Quality = (pairs - rejects) / pairs
* OEE = Availability x Performance x Quality

A part whose denominator is 0 (nothing planned, no running time at a known rate, no pairs) is
None, and so is OEE. Parts are not clipped: running outside planned time gives an availability
above 1, and that is what happened.
"""

from typing import NamedTuple


class Oee(NamedTuple):
    availability: float | None
    performance: float | None
    quality: float | None

    @property
    def oee(self) -> float | None:
        """The product of the three parts; None when any of them is."""
        if self.availability is None or self.performance is None or self.quality is None:
            return None
        return self.availability * self.performance * self.quality


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def oee(
    *, running_s: float, planned_s: float, pairs: float, nominal_pairs: float, rejects: float
) -> Oee:
    """OEE and its parts from one scope's sums over one window."""
    return Oee(
        availability=_ratio(running_s, planned_s),
        performance=_ratio(pairs, nominal_pairs),
        quality=_ratio(pairs - rejects, pairs),
    )
