"""The ``capacity`` measurement: the park's and each enterprise's capacity, as line protocol."""

from collections.abc import Mapping

from contract.registry import Registry
from influx.rollups import CAPACITY


def _capacity_fields(
    machines: int,
    nominal: float,
    per_year: float,
    expected: float,
    planned: tuple[int, int] | None,
) -> str:
    fields = f"machines={machines}i"
    if nominal > 0:
        fields += f",nominal_pairs_per_hour={nominal!r}"
    if per_year > 0:
        fields += f",pairs_per_year={per_year!r}"
    if expected > 0:
        fields += f",expected_pairs_per_year={expected!r}"
    if planned is not None:
        fields += f",planned_s_per_year={planned[0]}i,planned_s_to_date={planned[1]}i"
    return fields


def capacity_lines(
    park: Registry,
    time_ns: int,
    planned_s_per_year: Mapping[str, int] | None = None,
    planned_s_to_date: Mapping[str, int] | None = None,
) -> list[str]:
    """The ``capacity`` points: the park's, then one per enterprise.

    An enterprise's ``pairs_per_year`` is its :meth:`~Registry.share` of the park's, so they
    add up to it. The planned machine-seconds of the year, and of it so far (enterprise ->
    seconds, from :func:`planned_per_year`), add those fields, the park's being the sums.
    """
    expected = park.expected_pairs_per_year
    if expected is None:
        expected = sum(e.expected_pairs_per_year for e in park.enterprises)
    year, so_far = planned_s_per_year, planned_s_to_date

    def planned(enterprise: str | None) -> tuple[int, int] | None:
        if year is None or so_far is None:
            return None
        if enterprise is None:
            return sum(year.values()), sum(so_far.values())
        return year.get(enterprise, 0), so_far.get(enterprise, 0)

    park_fields = _capacity_fields(
        park.machine_count,
        park.nominal_pairs_per_hour,
        park.pairs_per_year,
        expected,
        planned(None),
    )
    lines = [f"{CAPACITY},scope=park {park_fields},enterprises={len(park.enterprises)}i {time_ns}"]
    for e in park.enterprises:
        fields = _capacity_fields(
            len(e.machines),
            e.nominal_pairs_per_hour,
            park.pairs_per_year * park.share(e),
            e.expected_pairs_per_year,
            planned(e.id),
        )
        lines.append(f"{CAPACITY},enterprise={e.id},scope=enterprise {fields} {time_ns}")
    return lines
