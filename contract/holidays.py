"""A country's statutory holidays and make-up working days, from the ``holidays`` package.

China moves its holidays every year (Spring Festival, Qingming, Dragon Boat and Mid-Autumn follow
the lunar calendar) and makes up bridge days off with working Saturdays and Sundays. The
``holidays`` package knows the statutory days, lunar dates included, and the make-up working days
the State Council has announced; a site adds what it does not know yet (next year's make-up days
are announced each November) or what is its own, as extra closed days and extra working days.
Shared by every component that plans working time (alerting, planned time, capacity).
"""

import datetime as dt
from collections.abc import Iterable

import holidays


class StatutoryDays:
    """Which local dates are closed by law (or by the site), and which weekend dates are worked.

    ``country`` is an ISO 3166 code the ``holidays`` package knows (``CN``), or None for none.
    Extra ``closed`` dates are closed too; extra ``workdays`` are worked like a weekday even when
    the weekly pattern rests then (a make-up day). A date that is both closed and a make-up day
    is closed.
    """

    def __init__(
        self,
        country: str | None = None,
        *,
        closed: Iterable[dt.date] = (),
        workdays: Iterable[dt.date] = (),
    ) -> None:
        if country is not None and country not in holidays.list_supported_countries():
            raise ValueError(f"country {country!r} is not one the holidays package knows")
        self.country = country
        self.extra_closed = frozenset(closed)
        self.extra_workdays = frozenset(workdays)
        self._years: dict[int, tuple[frozenset[dt.date], frozenset[dt.date]]] = {}

    def __bool__(self) -> bool:
        """Whether this changes anything at all (a country or an extra date)."""
        return bool(self.country or self.extra_closed or self.extra_workdays)

    def _year(self, year: int) -> tuple[frozenset[dt.date], frozenset[dt.date]]:
        known = self._years.get(year)
        if known is None:
            closed: frozenset[dt.date] = frozenset()
            worked: frozenset[dt.date] = frozenset()
            if self.country is not None:
                days = holidays.country_holidays(self.country, years=year)
                closed = frozenset(days)
                weekend_workdays = getattr(days, "weekend_workdays", ())
                worked = frozenset(d for d in weekend_workdays if d.year == year)
            known = self._years[year] = (closed, worked)
        return known

    def closed(self, day: dt.date) -> bool:
        """Closed all day: a statutory holiday (bridge days off included) or an extra one."""
        return day in self.extra_closed or day in self._year(day.year)[0]

    def makeup(self, day: dt.date) -> bool:
        """Worked although the week's pattern may rest then: a make-up working day."""
        if self.closed(day):
            return False
        return day in self.extra_workdays or day in self._year(day.year)[1]

    def names(self, year: int) -> dict[dt.date, str]:
        """The statutory holidays of ``year`` by date, with their names (for documentation)."""
        if self.country is None:
            return {}
        return dict(holidays.country_holidays(self.country, years=year))
