"""Gateways' offline alerts: a Last Will fires one alert for the enterprise's machines."""

from collections.abc import Iterator, Mapping

from collector.alerting import reasons
from collector.alerting.calendar import ParkCalendar
from collector.alerting.model import Alert, Kind, Status
from collector.alerting.registry import ParkRegistry
from collector.alerting.timers import Timers
from collector.alerting.tracked import Events, Gateway


class Gateways:
    """Every enterprise's gateway; part of the tracker, called from its thread."""

    def __init__(
        self, calendar: ParkCalendar, registry: ParkRegistry, resolve_after_ms: int, events: Events
    ) -> None:
        self.calendar = calendar
        self.registry = registry
        self._resolve_after = resolve_after_ms
        self._events = events
        self._by_enterprise: dict[str, Gateway] = {}
        self._timers: Timers[Gateway] = Timers()

    @property
    def by_enterprise(self) -> Mapping[str, Gateway]:
        return self._by_enterprise

    @property
    def heap_size(self) -> int:
        return self._timers.heap_size

    def get(self, enterprise: str) -> Gateway:
        gateway = self._by_enterprise.get(enterprise)
        if gateway is None:
            calendar = self.calendar.for_enterprise(enterprise)
            gateway = self._by_enterprise[enterprise] = Gateway(enterprise, calendar)
        return gateway

    def set_calendar(self, calendar: ParkCalendar) -> None:
        self.calendar = calendar
        for gateway in self._by_enterprise.values():
            gateway.calendar = calendar.for_enterprise(gateway.enterprise)

    def restore(self, alert: Alert) -> None:
        """A firing gateway alert from before a restart (no event)."""
        gateway = self.get(alert.enterprise)
        gateway.alert = alert
        gateway.online = False
        gateway.down_since = alert.since_ms
        gateway.members.update(alert.machines)
        self._events.firing[alert.kind] += 1

    def firing(self) -> Iterator[Alert]:
        for gateway in self._by_enterprise.values():
            if gateway.alert is not None:
                yield gateway.alert

    def down(self, gateway: Gateway, now: int) -> None:
        """Its Last Will or goodbye arrived."""
        if gateway.online is False:
            return  # a Last Will seen again (retained, redelivered)
        gateway.online = False
        gateway.down_since = now
        gateway.clear_since = None
        self._timers.cancel(gateway)
        if gateway.alert is None:
            self._fire(gateway, now)

    def back(self, gateway: Gateway, now: int, reason: str) -> bool:
        """Its birth message, or a reading of one of its machines; True if it was down."""
        was_down = gateway.online is False
        gateway.online = True
        gateway.back_at = now
        if gateway.alert is not None:
            if gateway.clear_since is None:
                gateway.clear_since = now
            if now - gateway.clear_since >= self._resolve_after:
                self._resolve(gateway, now, reason)
            else:
                self._timers.schedule(gateway, gateway.clear_since + self._resolve_after)
        else:
            self._timers.cancel(gateway)
        return was_down

    def expire(self, now: int) -> None:
        """Run the gateways' timers due by ``now``."""
        for gateway in self._timers.expired(now):
            if gateway.alert is not None:
                clear = gateway.clear_since
                if gateway.online and clear is not None:
                    if now - clear >= self._resolve_after:
                        self._resolve(gateway, now, reasons.GATEWAY_BACK)
                    else:
                        self._timers.schedule(gateway, clear + self._resolve_after)
            elif gateway.online is False:
                self._fire(gateway, now)

    def _fire(self, gateway: Gateway, now: int) -> None:
        calendar = gateway.calendar
        if calendar is not None:
            period = calendar.period(now)
            if not period.working:
                self._timers.schedule(gateway, period.end)
                return
        machines = set(gateway.members) | gateway.seen
        machines.update(self.registry.enterprises.get(gateway.enterprise, ()))
        alert = Alert(
            gateway.enterprise,
            None,
            Kind.OFFLINE,
            Status.FIRING,
            gateway.down_since,
            now,
            reasons.gateway_offline(len(machines)),
            None,
            tuple(sorted(machines)),
        )
        gateway.alert = alert
        self._events.fired(alert)

    def _resolve(self, gateway: Gateway, now: int, reason: str) -> None:
        alert = gateway.alert
        assert alert is not None  # noqa: S101 - callers check
        gateway.alert = None
        gateway.clear_since = None
        self._events.resolved(alert.resolve(now, reason))
