"""Machines of the registry never heard from: one alert per enterprise that lists them."""

from collections.abc import Collection, Iterator, Mapping

from collector.alerting import reasons
from collector.alerting.calendar import ParkCalendar
from collector.alerting.model import Alert, Kind, Status
from collector.alerting.tracked import Events


class NeverReported:
    """The registry's machines not heard from since the start, and their alerts."""

    def __init__(self, events: Events) -> None:
        self._events = events
        self.waiting: dict[str, set[str]] = {}
        """Registry machines not heard from, by enterprise."""
        self._alerts: dict[str, Alert] = {}

    def expect(
        self, enterprises: Mapping[str, Collection[str]], known: Collection[tuple[str, str]]
    ) -> None:
        """A new registry: wait for its machines that are not ``known`` (enterprise, machine)."""
        self.waiting = {
            e: {m for m in machines if (e, m) not in known} for e, machines in enterprises.items()
        }

    def heard(self, enterprise: str, machine: str) -> None:
        waiting = self.waiting.get(enterprise)
        if waiting:
            waiting.discard(machine)

    def restore(self, alert: Alert) -> None:
        """A firing alert from before a restart (no event)."""
        self._alerts[alert.enterprise] = alert
        self._events.firing[alert.kind] += 1

    def firing(self) -> Iterator[Alert]:
        yield from self._alerts.values()

    def alert_of(self, enterprise: str) -> Alert | None:
        return self._alerts.get(enterprise)

    def check(
        self,
        now: int,
        grace_ms: int,
        started_ms: int,
        calendar: ParkCalendar,
        registered: Collection[str],
    ) -> None:
        """Fire for each enterprise still waiting once ``grace_ms`` has passed since the start
        and since its working period began; resolve when none is left or it left the
        registry (``registered``: its enterprises)."""
        for enterprise, never in self.waiting.items():
            if not never or enterprise in self._alerts:
                continue
            since = started_ms
            work = calendar.for_enterprise(enterprise)
            if work is not None:
                period = work.period(now)
                if not period.working:
                    continue
                since = max(since, period.start)
            if now - since < grace_ms:
                continue
            machines = tuple(sorted(never))
            alert = Alert(
                enterprise,
                None,
                Kind.NEVER_REPORTED,
                Status.FIRING,
                started_ms,
                now,
                reasons.never_reported(len(machines)),
                None,
                machines,
            )
            self._alerts[enterprise] = alert
            self._events.fired(alert)
        for enterprise, alert in list(self._alerts.items()):
            if enterprise not in registered:
                self._resolve(alert, now, reasons.LEFT_REGISTRY)
            elif not self.waiting.get(enterprise):
                self._resolve(alert, now, reasons.ALL_REPORTED)

    def _resolve(self, alert: Alert, now: int, reason: str) -> None:
        del self._alerts[alert.enterprise]
        self._events.resolved(alert.resolve(now, reason))
