"""The gateways' connections to the broker, for the fleet's one thread.

Connecting every gateway (one socket each, through one selector), reading and writing whatever
the sockets are ready for, reconnecting a gateway whose connection was lost (with backoff), the
injected gateway deaths and revivals, and the goodbye at shutdown: a retained offline status
and a clean DISCONNECT, so the broker drops the Last Will.
"""

import heapq
import resource
import selectors
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from mqtt.connection import Connection
from simulators.broker import BrokerAddress, describe_os_error
from simulators.errors import BrokerRefusedError, BrokerUnreachableError, ParameterError
from simulators.faults import FaultCounts, FaultInjector
from simulators.gateway import Gateway, GatewayState
from simulators.park import Enterprise

_ONLINE = GatewayState.ONLINE
_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE
_AWAY = (GatewayState.DEAD, GatewayState.DOWN, GatewayState.REFUSED)
_RECONNECT_BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
_STABLE_S = 10.0
"""A gateway online this long before it was lost reconnects at once (its backoff restarts)."""


def ensure_fd_limit(needed: int) -> None:
    """Raise the soft limit on open files to at least ``needed`` (one socket per gateway)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise ParameterError(
            f"{needed} open files are needed (a socket per gateway) but the hard limit is "
            f"{hard}; raise it (ulimit -Hn) or simulate fewer enterprises"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _backoff(attempt: int) -> float:
    return _RECONNECT_BACKOFF[min(attempt, len(_RECONNECT_BACKOFF) - 1)]


class Connections:
    """One gateway per enterprise, in the enterprises' order, and their sockets."""

    def __init__(
        self,
        enterprises: Sequence[Enterprise],
        brokers: Mapping[str, BrokerAddress],
        *,
        url: str,
        keepalive: int,
        connect_timeout: float,
        client_id_prefix: str,
        injector: FaultInjector | None,
        counts: FaultCounts,
        log: Callable[[str], None],
        wall_ms: Callable[[], int],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._connect_timeout = connect_timeout
        self._injector = injector
        self._counts = counts
        self._log = log
        self._wall_ms = wall_ms
        self._mono = monotonic
        self._selector = selectors.DefaultSelector()
        contexts: dict[tuple[bool, Path | None], ssl.SSLContext | None] = {}

        def tls(broker: BrokerAddress) -> ssl.SSLContext | None:
            """One TLS context for every gateway (loading the CA file once)."""
            key = (broker.tls, broker.ca_file)
            if key not in contexts:
                contexts[key] = broker.tls_context()
            return contexts[key]

        self.gateways = [
            Gateway(
                e.id,
                tuple(m.id for m in e.machines),
                brokers[e.id],
                selector=self._selector,
                wall_ms=wall_ms,
                monotonic=monotonic,
                keepalive=keepalive,
                connect_timeout=min(connect_timeout, 10.0),
                on_lost=self._on_lost,
                client_id_prefix=client_id_prefix,
                tls=tls(brokers[e.id]),
            )
            for e in enterprises
        ]
        self._index = {gateway.enterprise: g for g, gateway in enumerate(self.gateways)}
        self._events: list[tuple[float, int, int, str]] = []  # (due, seq, gateway, kind)
        self._event_seq = 0
        self._lost: list[Gateway] = []
        self._lost_names: list[str] = []
        self._backoff: dict[int, int] = {}

    # -- connecting and polling -------------------------------------------------------------------

    def connect(self) -> None:
        """Connect every gateway and wait for the broker to accept them all; on failure, close
        every socket and raise :class:`BrokerError`."""
        ensure_fd_limit(len(self.gateways) + 256)
        try:
            for gateway in self.gateways:
                try:
                    gateway.open()
                except OSError as exc:
                    raise BrokerUnreachableError(
                        f"cannot connect to {self.url}: {describe_os_error(exc)}"
                    ) from exc
                self.poll(0.0)
            self._await_connacks()
        except BaseException:
            self.close()
            raise

    def poll(self, timeout: float) -> None:
        """Read and write whatever the sockets are ready for."""
        for key, mask in self._selector.select(timeout):
            connection: Connection = key.data
            if mask & _READ:
                connection.handle_read()
            if mask & _WRITE:
                connection.flush()

    def keepalive(self, now: float) -> None:
        for gateway in self.gateways:
            gateway.keepalive(now)

    def close(self) -> None:
        for gateway in self.gateways:
            gateway.close()
        self._selector.close()

    def _await_connacks(self) -> None:
        deadline = self._mono() + self._connect_timeout
        while not all(g.state is _ONLINE for g in self.gateways):
            self._check_connecting()
            if self._mono() > deadline:
                raise BrokerUnreachableError(
                    f"cannot connect to {self.url}: no answer to CONNECT within "
                    f"{self._connect_timeout:g} s"
                )
            self.poll(0.05)

    def _check_connecting(self) -> None:
        for gateway in self.gateways:
            if gateway.state is GatewayState.REFUSED:
                raise BrokerRefusedError(
                    f"cannot connect to {self.url}: the broker refused the connection "
                    f"({gateway.refusal})"
                )
            if gateway.state is GatewayState.DOWN:
                raise BrokerUnreachableError(
                    f"cannot connect to {self.url}: the broker closed the connection"
                )

    # -- losses, reconnections, injected deaths ---------------------------------------------------

    def schedule_deaths(self, now: float) -> None:
        """Draw every gateway's first injected death (when faults are injected)."""
        for g in range(len(self.gateways)):
            self._schedule_death(g, now)

    def run_events(self, now: float) -> None:
        """Schedule reconnections of the gateways lost since the last pass; run the deaths,
        revivals and reconnections that are due."""
        for gateway in self._lost:
            g = self._index[gateway.enterprise]
            stable = gateway.since_online(self._wall_ms()) > _STABLE_S
            attempt = 0 if stable else self._backoff.get(g, 0)
            self._backoff[g] = attempt + 1
            self._schedule(now + _backoff(attempt), g, "reconnect")
            if gateway.state is GatewayState.REFUSED:
                self._log(
                    f"{gateway.client_id}: the broker refused it ({gateway.refusal}); retrying"
                )
            else:
                self._lost_names.append(gateway.enterprise)
        self._lost.clear()
        events = self._events
        while events and events[0][0] <= now:
            _, _, g, kind = heapq.heappop(events)
            gateway = self.gateways[g]
            if kind == "die":
                if gateway.state is _ONLINE and self._injector is not None:
                    gateway.abort()
                    self._counts.gateway_deaths += 1
                    self._schedule(now + self._injector.downtime(), g, "revive")
                else:
                    self._schedule_death(g, now)
            elif gateway.state in _AWAY and self._reopen(g, now) and kind == "revive":
                self._schedule_death(g, now)

    def report_lost(self) -> None:
        """Log, in one line, the gateways that lost their connection since the last report."""
        if self._lost_names:
            names = ", ".join(self._lost_names[:5]) + (" ..." if len(self._lost_names) > 5 else "")
            self._log(
                f"{len(self._lost_names)} gateway(s) lost the connection to {self.url} "
                f"({names}); reconnecting"
            )
            self._lost_names.clear()

    def _schedule(self, due: float, g: int, kind: str) -> None:
        self._event_seq += 1
        heapq.heappush(self._events, (due, self._event_seq, g, kind))

    def _schedule_death(self, g: int, now: float) -> None:
        delay = None if self._injector is None else self._injector.time_to_death()
        if delay is not None:
            self._schedule(now + delay, g, "die")

    def _on_lost(self, gateway: Gateway) -> None:
        """Called by a gateway whose connection was lost unexpectedly."""
        self._lost.append(gateway)

    def _reopen(self, g: int, now: float) -> bool:
        """Reconnect gateway ``g``; when the broker cannot be reached, try again later."""
        gateway = self.gateways[g]
        try:
            gateway.open()
        except OSError:
            attempt = self._backoff.get(g, 0)
            self._backoff[g] = attempt + 1
            self._schedule(now + _backoff(attempt), g, "reconnect")
            return False
        return True

    # -- shutdown ---------------------------------------------------------------------------------

    def wait(self, done: Callable[[], bool], deadline: float) -> bool:
        """Flush and poll until ``done()``; False when ``deadline`` passes first."""
        while not done():
            if self._mono() > deadline:
                return False
            for gateway in self.gateways:
                gateway.flush()
            self.poll(0.02)
        return True

    def bring_back(self, deadline: float) -> bool:
        """Stop injecting; reconnect every gateway that is away (a try a second each), so that
        every machine's final reading can go out. False when one is still away at
        ``deadline``."""
        self._events.clear()
        self.run_events(self._mono())  # (notes connections lost since the last pass)
        self._events.clear()
        self.report_lost()
        self._lost.clear()
        attempts: dict[int, float] = {}
        gateways = self.gateways

        def all_online() -> bool:
            now = self._mono()
            for g, gateway in enumerate(gateways):
                if gateway.state in _AWAY and (attempts.get(g, 0.0) <= now):
                    attempts[g] = now + 1.0
                    self._reopen(g, now)
            self._lost.clear()
            return all(g.state is _ONLINE for g in gateways)

        return self.wait(all_online, deadline)

    def acknowledged(self, deadline: float) -> bool:
        """Wait until the broker has acknowledged every message; False at ``deadline``."""
        return self.wait(lambda: all(g.pending <= 0 for g in self.gateways), deadline)

    def unacknowledged(self) -> tuple[int, int]:
        """Messages not acknowledged, and gateways not connected."""
        waiting = sum(max(g.pending, 0) for g in self.gateways)
        away = sum(g.state is not _ONLINE for g in self.gateways)
        return waiting, away

    def goodbye(self, deadline: float) -> None:
        """Retained offline status, then DISCONNECT (the broker drops the Last Will)."""
        gateways = self.gateways
        for gateway in gateways:
            if gateway.state is _ONLINE:
                gateway.say_offline()
        self.acknowledged(min(deadline, self._mono() + 5))
        for gateway in gateways:
            if gateway.state is _ONLINE:
                gateway.disconnect()
        self.wait(lambda: all(g.closed for g in gateways), min(deadline, self._mono() + 5))
