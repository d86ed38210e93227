"""The fleet: every machine of a park publishing its counter through its enterprise's gateway.

One thread drives everything: a heap of machine ticks (each machine reads every ``interval``
wall seconds, jittered, the first reading spread over the first interval), the gateways' paho
clients through one selector, injected faults, and a clean shutdown that publishes a final
reading of every machine and waits for the broker's acknowledgements before it takes the truth.

Simulated time runs ``speed`` times faster than the wall clock from ``sim_start``; readings are
stamped with the wall clock.

Library use (tests, demos)::

    fleet = Fleet(FleetConfig(broker=BrokerAddress("127.0.0.1", 1883), machines=200))
    fleet.start()            # connects every gateway, or raises BrokerError
    ...
    truth = fleet.stop()     # final readings acknowledged; what every machine knitted

or ``run_fleet(config, stop=event)`` in the calling thread.
"""

import heapq
import random
import re
import resource
import secrets
import selectors
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Self

from contract import MachineState, counter_topic
from simulators.broker import BrokerAddress, describe_os_error
from simulators.counter import CounterChannel
from simulators.errors import BrokerRefusedError, BrokerUnreachableError, ParameterError
from simulators.faults import NO_FAULTS, FaultCounts, FaultInjector, FaultRates
from simulators.gateway import Gateway, GatewayState
from simulators.machine import Dynamics, MachineModel
from simulators.malformed import malformed_message
from simulators.mqtt_wire import str16
from simulators.params import DEFAULT_PARK, DEFAULT_SEED, ParkParams
from simulators.park import Park, build_park
from simulators.rng import SplitMix64, derive_seed
from simulators.shifts import WorkCalendar
from simulators.truth import MachineTruth, Truth

_RUNNING = MachineState.RUNNING
_ONLINE = GatewayState.ONLINE
_READ = selectors.EVENT_READ
_WRITE = selectors.EVENT_WRITE
_AWAY = (GatewayState.DEAD, GatewayState.DOWN, GatewayState.REFUSED)
_RECONNECT_BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """A run of the fleet. ``machines`` None is the full park."""

    broker: BrokerAddress
    seed: int = DEFAULT_SEED
    machines: int | None = None
    interval: float = 10.0
    """Wall seconds between two readings of a machine."""
    speed: float = 1.0
    """Simulated seconds per wall second."""
    duration: float | None = None
    """Wall seconds of publishing before the shutdown (None: until stopped)."""
    jitter: float = 0.1
    """Relative spread (uniform +/-) of each interval."""
    faults: FaultRates = field(default_factory=FaultRates)
    sim_start: float | None = None
    """Simulated epoch seconds at the start (None: the wall clock at the start)."""
    params: ParkParams = DEFAULT_PARK
    keepalive: int = 60
    connect_timeout: float = 30.0
    shutdown_timeout: float = 30.0
    loop_period: float = 0.02
    """Seconds between two passes of the loop (readings due are published in batches)."""
    client_id_prefix: str = "gw-"
    """Gateway client ids are this + the enterprise id; change it to run two fleets on a broker."""
    gateway_passwords: Mapping[str, str] | None = field(default=None, repr=False)
    """Per-gateway accounts: each gateway logs in as its enterprise id with the password given
    here for it (a broker whose ACL lets an account publish only its own enterprise's topics).
    None: every gateway uses ``broker``'s user name and password."""

    def __post_init__(self) -> None:
        checks = (
            (0.01 <= self.interval <= 86400.0, "interval must be 0.01-86400 s"),
            (0.0 < self.speed <= 1e6, "speed must be in (0, 1000000]"),
            (self.duration is None or self.duration >= 0.0, "duration must not be negative"),
            (0.0 <= self.jitter < 1.0, "jitter must be in [0, 1)"),
            (5 <= self.keepalive <= 3600, "keepalive must be 5-3600 s"),
            (self.connect_timeout > 0 and self.shutdown_timeout > 0, "timeouts must be positive"),
            (0.001 <= self.loop_period <= 1.0, "loop period must be 0.001-1 s"),
            (
                re.fullmatch(r"[A-Za-z0-9_-]{0,40}", self.client_id_prefix) is not None,
                "client id prefix must be 0-40 characters of [A-Za-z0-9_-]",
            ),
        )
        for ok, message in checks:
            if not ok:
                raise ParameterError(message)


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


class Fleet:
    """A park's machines and gateways, publishing to one broker."""

    def __init__(
        self,
        config: FleetConfig,
        *,
        park: Park | None = None,
        log: Callable[[str], None] | None = None,
        clock_ms: Callable[[], int] = wall_ms,
        monotonic: Callable[[], float] = time.monotonic,
        boot_prefix: str | None = None,
    ) -> None:
        self.config = config
        self.park = park or build_park(config.params, seed=config.seed, machines=config.machines)
        self.counts = FaultCounts()
        self.messages = 0
        """Messages handed to the connections: readings, duplicates, malformed, status."""
        self.readings = 0
        """Readings published (first copies only)."""
        self.started_ms = 0
        self._log = log or (lambda _line: None)
        self._wall_ms = clock_ms
        self._mono = monotonic
        self._boot_prefix = boot_prefix or f"r{clock_ms():x}{secrets.token_hex(2)}"
        self._selector = selectors.DefaultSelector()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._truth: Truth | None = None
        self._connected = False
        self._events: list[tuple[float, int, int, str]] = []  # (due, seq, gateway, kind)
        self._event_seq = 0
        self._lost: list[Gateway] = []
        self._lost_names: list[str] = []
        self._backoff: dict[int, int] = {}
        seed = config.seed
        self._injector = (
            FaultInjector(
                config.faults,
                random.Random(derive_seed(seed, 0xFA)),
                random.Random(derive_seed(seed, 0xDEAD)),
            )
            if config.faults.enabled
            else None
        )
        self._rng = random.Random(derive_seed(seed, 0x71C))
        brokers = self._brokers()
        self.gateways = [
            Gateway(
                e.id,
                tuple(m.id for m in e.machines),
                brokers[e.id],
                selector=self._selector,
                wall_ms=clock_ms,
                monotonic=monotonic,
                keepalive=config.keepalive,
                connect_timeout=min(config.connect_timeout, 10.0),
                on_lost=self._on_lost,
                client_id_prefix=config.client_id_prefix,
            )
            for e in self.park.enterprises
        ]
        self._index = {gateway.enterprise: g for g, gateway in enumerate(self.gateways)}
        self._machine_ids = [m.id for m in self.park.machines]
        self._gateway_of: list[int] = []
        self._channels: list[CounterChannel] = []
        self._topics16: list[bytes] = []
        self._rpm: list[float] = []
        for g, enterprise in enumerate(self.park.enterprises):
            for machine in enterprise.machines:
                self._gateway_of.append(g)
                self._channels.append(
                    CounterChannel(
                        counter_topic(enterprise.id, machine.id),
                        machine.style.name,
                        self._boot_prefix,
                    )
                )
                self._topics16.append(str16(counter_topic(enterprise.id, machine.id)))
                self._rpm.append(machine.style.rpm)
        self._models: list[MachineModel] = []
        self._heap: list[tuple[float, int]] = []
        self._mono0 = 0.0
        self._sim0 = 0.0

    def _brokers(self) -> dict[str, BrokerAddress]:
        """Where each enterprise's gateway connects, and as whom."""
        broker = self.config.broker
        passwords = self.config.gateway_passwords
        ids = [e.id for e in self.park.enterprises]
        if passwords is None:
            return dict.fromkeys(ids, broker)
        missing = [e for e in ids if e not in passwords]
        if missing:
            raise ParameterError(
                f"{len(missing)} of {len(ids)} enterprises have no gateway password "
                f"(the first: {missing[0]})"
            )
        return {e: replace(broker, username=e, password=passwords[e]) for e in ids}

    # -- public API -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.config.broker.url

    def connect(self) -> None:
        """Connect every gateway and wait for the broker to accept them all."""
        ensure_fd_limit(len(self.gateways) + 256)
        try:
            for gateway in self.gateways:
                try:
                    gateway.open()
                except OSError as exc:
                    raise BrokerUnreachableError(
                        f"cannot connect to {self.url}: {describe_os_error(exc)}"
                    ) from exc
                self._poll(0.0)
            self._await_connacks()
        except BaseException:
            self._close_sockets()
            raise
        self._connected = True

    def run(self, stop: threading.Event | None = None) -> Truth:
        """Connect, publish until ``duration`` or ``stop``, shut down cleanly; the truth."""
        if stop is not None:
            self._stop_event = stop
        if not self._connected:
            self.connect()
        return self._run_connected()

    def start(self) -> None:
        """Connect (raising :class:`BrokerError` here), then publish from a background thread."""
        self.connect()
        self._thread = threading.Thread(target=self._thread_main, name="hosiery-fleet", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> Truth:
        """Stop publishing, publish every machine's final reading; the truth."""
        self._stop_event.set()
        return self.wait(timeout)

    def wait(self, timeout: float | None = None) -> Truth:
        """Wait for a started fleet to end (``duration`` or :meth:`stop`); the truth."""
        if self._thread is None:
            raise RuntimeError("the fleet was not started")
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("the fleet did not stop in time")
        if self._error is not None:
            raise self._error
        if self._truth is None:
            raise RuntimeError("the fleet ended without taking the truth")
        return self._truth

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._thread is not None and self._thread.is_alive():
            self.stop()

    # -- the loop ---------------------------------------------------------------------------------

    def _thread_main(self) -> None:
        try:
            self._truth = self._run_connected()
        except BaseException as exc:  # noqa: BLE001 (handed to the thread that calls stop())
            self._error = exc

    def _run_connected(self) -> Truth:
        try:
            self._begin()
            self._loop()
            return self._shutdown()
        finally:
            self._close_sockets()

    def _begin(self) -> None:
        config = self.config
        self._mono0 = self._mono()
        self.started_ms = self._wall_ms()
        self._sim0 = self.started_ms / 1000.0 if config.sim_start is None else config.sim_start
        params = self.park.params
        dynamics = Dynamics(params.machine)
        calendars = {s.name: WorkCalendar(s, params.calendar) for s in params.shifts}
        self._models = [
            MachineModel(
                pairs_per_second=machine.style.pairs_per_second,
                calendar=calendars[enterprise.shift.name],
                dynamics=dynamics,
                rng=SplitMix64(derive_seed(config.seed, machine.index)),
                start=self._sim0,
            )
            for enterprise in self.park.enterprises
            for machine in enterprise.machines
        ]
        spread = self._rng.random
        self._heap = [
            (self._mono0 + config.interval * spread(), i) for i in range(len(self._models))
        ]
        heapq.heapify(self._heap)
        if self._injector is not None:
            for g in range(len(self.gateways)):
                self._schedule_death(g, self._mono0)

    def _sim_time(self, mono: float) -> float:
        return self._sim0 + (mono - self._mono0) * self.config.speed

    def _loop(self) -> None:
        config = self.config
        end = None if config.duration is None else self._mono0 + config.duration
        period = config.loop_period
        next_misc = self._mono0 + 1.0
        while not self._stop_event.is_set():
            now = self._mono()
            if end is not None and now >= end:
                break
            touched = self._publish_due(now)
            self._run_events(now)
            for gateway in touched:
                gateway.flush()
            if now >= next_misc:
                next_misc = now + 1.0
                for gateway in self.gateways:
                    gateway.keepalive(now)
                self._report_lost()
            pause = now + period - self._mono()
            if pause > 0:
                time.sleep(pause)
            self._poll(0.0)

    def _publish_due(self, now: float) -> set[Gateway]:
        """Publish the readings of every machine due by ``now``; the gateways published to."""
        heap = self._heap
        touched: set[Gateway] = set()
        if not heap or heap[0][0] > now:
            return touched
        sim_now = self._sim_time(now)
        ts_ms = self._wall_ms()
        interval = self.config.interval
        jitter = self.config.jitter
        rpm_jitter = self.park.params.machine.rpm_jitter
        rand = self._rng.random
        injector = self._injector
        counts = self.counts
        gateways = self.gateways
        gateway_of = self._gateway_of
        models = self._models
        channels = self._channels
        topics = self._topics16
        rpms = self._rpm
        messages = 0
        readings = 0
        while heap and heap[0][0] <= now:
            due, i = heap[0]
            following = due + interval * (1.0 + jitter * (2.0 * rand() - 1.0))
            heapq.heapreplace(heap, (following if following > now else now + interval, i))
            gateway = gateways[gateway_of[i]]
            if gateway.state is not _ONLINE:
                continue  # the gateway takes no readings while it is away; the machine knits on
            model = models[i]
            model.advance(sim_now)
            state = model.state(sim_now)
            rpm = (
                round(rpms[i] * (1.0 + rpm_jitter * (2.0 * rand() - 1.0)), 1)
                if state is _RUNNING
                else 0.0
            )
            channel = channels[i]
            faults = NO_FAULTS if injector is None else injector.draw()
            payloads = channel.report(ts_ms, int(model.knitted), state, rpm, faults, counts)
            topic = topics[i]
            for payload in payloads:
                gateway.publish(topic, payload)
            messages += len(payloads)
            readings += 1 if payloads else 0
            touched.add(gateway)
            if injector is not None:
                kind = injector.malformed()
                if kind is not None:
                    seq, boot, total = channel.last
                    bad_topic, bad_payload = malformed_message(
                        kind,
                        enterprise=gateway.enterprise,
                        machine=self._machine_ids[i],
                        ts_ms=ts_ms,
                        seq=seq,
                        boot=boot,
                        pairs_total=total,
                        style=channel.style,
                    )
                    gateway.publish(str16(bad_topic), bad_payload)
                    counts.malformed += 1
                    messages += 1
        self.messages += messages
        self.readings += readings
        return touched

    # -- gateway events: injected deaths, revivals, reconnects -------------------------------------

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

    def _run_events(self, now: float) -> None:
        for gateway in self._lost:
            g = self._index[gateway.enterprise]
            stable = gateway.since_online(self._wall_ms()) > 10.0
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
                    self.counts.gateway_deaths += 1
                    self._schedule(now + self._injector.downtime(), g, "revive")
                else:
                    self._schedule_death(g, now)
            elif gateway.state in _AWAY and self._reopen(g, now) and kind == "revive":
                self._schedule_death(g, now)

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

    def _report_lost(self) -> None:
        if self._lost_names:
            names = ", ".join(self._lost_names[:5]) + (" ..." if len(self._lost_names) > 5 else "")
            self._log(
                f"{len(self._lost_names)} gateway(s) lost the connection to {self.url} "
                f"({names}); reconnecting"
            )
            self._lost_names.clear()

    # -- sockets --------------------------------------------------------------------------------

    def _poll(self, timeout: float) -> None:
        """Read and write whatever the sockets are ready for."""
        for key, mask in self._selector.select(timeout):
            gateway: Gateway = key.data
            if mask & _READ:
                gateway.handle_read()
            if mask & _WRITE:
                gateway.flush()

    def _close_sockets(self) -> None:
        for gateway in self.gateways:
            gateway.close()
        self._selector.close()

    def _await_connacks(self) -> None:
        deadline = self._mono() + self.config.connect_timeout
        while not all(g.state is _ONLINE for g in self.gateways):
            self._check_connecting()
            if self._mono() > deadline:
                raise BrokerUnreachableError(
                    f"cannot connect to {self.url}: no answer to CONNECT within "
                    f"{self.config.connect_timeout:g} s"
                )
            self._poll(0.05)

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

    # -- shutdown -------------------------------------------------------------------------------

    def _wait(self, done: Callable[[], bool], deadline: float) -> bool:
        while not done():
            if self._mono() > deadline:
                return False
            for gateway in self.gateways:
                gateway.flush()
            self._poll(0.02)
        return True

    def _shutdown(self) -> Truth:
        """Final readings of every machine, acknowledged; a clean DISCONNECT; the truth."""
        config = self.config
        deadline = self._mono() + config.shutdown_timeout
        self._events.clear()
        self._run_events(self._mono())  # (notes connections lost since the last pass)
        self._events.clear()
        self._report_lost()
        gateways = self.gateways

        # Bring back every gateway that is away, so every machine's final reading can go out.
        self._lost.clear()
        attempts: dict[int, float] = {}

        def all_online() -> bool:
            now = self._mono()
            for g, gateway in enumerate(gateways):
                if gateway.state in _AWAY and (attempts.get(g, 0.0) <= now):
                    attempts[g] = now + 1.0
                    self._reopen(g, now)
            self._lost.clear()
            return all(g.state is _ONLINE for g in gateways)

        reachable = self._wait(all_online, deadline)
        now = self._mono()
        sim_end = self._sim_time(now)
        ended_ms = self._wall_ms()
        truths = []
        for i, model in enumerate(self._models):
            model.advance(sim_end)
            gateway = gateways[self._gateway_of[i]]
            channel = self._channels[i]
            if gateway.state is _ONLINE:
                state = model.state(sim_end)
                rpm = self._rpm[i] if state is _RUNNING else 0.0
                for payload in channel.final(ended_ms, int(model.knitted), state, rpm):
                    gateway.publish(self._topics16[i], payload)
                    self.messages += 1
                self.readings += 1
            truths.append(
                MachineTruth(
                    gateway.enterprise, self._machine_ids[i], int(model.knitted), channel.boots
                )
            )
        acknowledged = self._wait(lambda: all(g.pending <= 0 for g in gateways), deadline)
        complete = reachable and acknowledged
        if not complete:
            waiting = sum(max(g.pending, 0) for g in gateways)
            away = sum(g.state is not _ONLINE for g in gateways)
            self._log(
                f"shutdown: {away} gateway(s) not connected and {waiting} message(s) not "
                f"acknowledged by {self.url}; the truth file is marked incomplete"
            )

        # Clean goodbye: retained offline status, then DISCONNECT (the broker drops the Will).
        for gateway in gateways:
            if gateway.state is _ONLINE:
                gateway.say_offline()
        self._wait(lambda: all(g.pending <= 0 for g in gateways), min(deadline, self._mono() + 5))
        for gateway in gateways:
            if gateway.state is _ONLINE:
                gateway.disconnect()
        self._wait(
            lambda: all(g.closed for g in gateways),
            min(deadline, self._mono() + 5),
        )
        return Truth(
            seed=config.seed,
            started_ms=self.started_ms,
            ended_ms=ended_ms,
            machines=tuple(truths),
            complete=complete,
            readings=self.readings,
            faults=self.counts.as_dict(),
        )


def _backoff(attempt: int) -> float:
    return _RECONNECT_BACKOFF[min(attempt, len(_RECONNECT_BACKOFF) - 1)]


def run_fleet(
    config: FleetConfig,
    *,
    stop: threading.Event | None = None,
    log: Callable[[str], None] | None = None,
) -> Truth:
    """Run a fleet in the calling thread until ``config.duration`` or ``stop``; the truth."""
    return Fleet(config, log=log).run(stop)
