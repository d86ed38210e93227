"""The fleet: every machine of a park publishing its counter through its enterprise's gateway.

One thread drives everything: a heap of machine ticks (each machine reads every ``interval``
wall seconds, jittered, the first reading spread over the first interval), the gateways'
connections (:mod:`simulators.connections`: one selector, reconnections, injected gateway
deaths), injected message faults, and a clean shutdown that publishes a final reading of every
machine and waits for the broker's acknowledgements before it takes the truth.

Simulated time runs ``speed`` times faster than the wall clock from ``sim_start``; readings are
stamped with the wall clock.

Library use (tests, demos)::

    fleet = Fleet(FleetConfig(broker=BrokerAddress("127.0.0.1", 1883), machines=200))
    fleet.start()            # connects every gateway, or raises BrokerError
    ...
    truth = fleet.stop()     # final readings acknowledged; what every machine knitted

or ``run_fleet(config, stop=event)`` in the calling thread.
"""

import gc
import heapq
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from types import TracebackType
from typing import Self

from contract import MachineState, StopReason, counter_topic
from mqtt.connection import Connection
from simulators.broker import BrokerAddress
from simulators.connections import Connections
from simulators.counter import CounterChannel
from simulators.errors import ParameterError
from simulators.faults import NO_FAULTS, FaultCounts, FaultInjector
from simulators.fleet_config import FleetConfig
from simulators.gateway import Gateway, GatewayState
from simulators.machine import Dynamics, MachineModel
from simulators.malformed import malformed_message
from simulators.park import Park, build_park
from simulators.rng import SplitMix64, derive_seed
from simulators.shifts import WorkCalendar
from simulators.truth import MachineTruth, Truth

_RUNNING = MachineState.RUNNING
_ONLINE = GatewayState.ONLINE


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


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
        freeze_heap: bool = False,
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
        self._freeze_heap = freeze_heap
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._truth: Truth | None = None
        self._connected = False
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
        self._connections = Connections(
            self.park.enterprises,
            self._brokers(),
            url=config.broker.url,
            keepalive=config.keepalive,
            connect_timeout=config.connect_timeout,
            client_id_prefix=config.client_id_prefix,
            injector=self._injector,
            counts=self.counts,
            log=self._log,
            wall_ms=clock_ms,
            monotonic=monotonic,
        )
        self.gateways: list[Gateway] = self._connections.gateways
        self._machine_ids = [m.id for m in self.park.machines]
        self._gateway_of: list[int] = []
        self._channels: list[CounterChannel] = []
        self._topics: list[str] = []
        self._rpm: list[float] = []
        for g, enterprise in enumerate(self.park.enterprises):
            for machine in enterprise.machines:
                self._gateway_of.append(g)
                self._channels.append(
                    CounterChannel(
                        counter_topic(enterprise.id, machine.id),
                        machine.style.name,
                        self._boot_prefix,
                        machine.style.reject_share,
                    )
                )
                self._topics.append(counter_topic(enterprise.id, machine.id))
                self._rpm.append(machine.style.rpm)
        self._models: list[MachineModel] = []
        self._stop_readings: list[dict[str, int]] = []
        """Readings published per machine and stop reason."""
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
        self._connections.connect()
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
            self._connections.close()

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
        self._stop_readings = [{} for _ in self._models]
        spread = self._rng.random
        self._heap = [
            (self._mono0 + config.interval * spread(), i) for i in range(len(self._models))
        ]
        heapq.heapify(self._heap)
        self._connections.schedule_deaths(self._mono0)
        if self._freeze_heap:
            # The park's models live as long as the process: out of the garbage collector's
            # full passes, which otherwise walk them all for the short-lived publications.
            gc.collect()
            gc.freeze()

    def _sim_time(self, mono: float) -> float:
        return self._sim0 + (mono - self._mono0) * self.config.speed

    def _loop(self) -> None:
        config = self.config
        end = None if config.duration is None else self._mono0 + config.duration
        period = config.loop_period
        connections = self._connections
        next_misc = self._mono0 + 1.0
        while not self._stop_event.is_set():
            now = self._mono()
            if end is not None and now >= end:
                break
            touched = self._publish_due(now)
            connections.run_events(now)
            for connection in touched:
                connection.flush()
            if now >= next_misc:
                next_misc = now + 1.0
                connections.keepalive(now)
                connections.report_lost()
            pause = now + period - self._mono()
            if pause > 0:
                time.sleep(pause)
            connections.poll(0.0)

    def _tally(self, i: int, reason: StopReason) -> None:
        """Count a published reading of machine ``i`` stopped for ``reason``."""
        tally = self._stop_readings[i]
        tally[reason] = tally.get(reason, 0) + 1

    def _malformed(self, injector: FaultInjector, i: int, gateway: Gateway, ts_ms: int) -> int:
        """Publish a malformed message next to machine ``i``'s reading when one is drawn;
        the messages published (0 or 1)."""
        kind = injector.malformed()
        if kind is None:
            return 0
        channel = self._channels[i]
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
        gateway.publish(bad_topic, bad_payload)
        self.counts.malformed += 1
        return 1

    def _publish_due(self, now: float) -> set[Connection]:
        """Publish the readings of every machine due by ``now``; the connections published to."""

        heap = self._heap
        touched: set[Connection] = set()
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
        topics = self._topics
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
            reason = model.reason(sim_now)
            payloads = channel.report(
                ts_ms, int(model.knitted), state, rpm, faults, counts, reason, model.stopped_ms()
            )
            if reason is not None and not (faults.drop and not faults.reboot):
                self._tally(i, reason)
            topic = topics[i]
            for payload in payloads:
                gateway.publish(topic, payload)
            messages += len(payloads)
            readings += 1 if payloads else 0
            touched.add(gateway.connection)
            if injector is not None:
                messages += self._malformed(injector, i, gateway, ts_ms)
        self.messages += messages
        self.readings += readings
        return touched

    def _shutdown(self) -> Truth:
        """Final readings of every machine, acknowledged; a clean DISCONNECT; the truth."""
        config = self.config
        connections = self._connections
        deadline = self._mono() + config.shutdown_timeout
        reachable = connections.bring_back(deadline)
        gateways = self.gateways
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
                reason = model.reason(sim_end)
                final = channel.final(
                    ended_ms, int(model.knitted), state, rpm, reason, model.stopped_ms()
                )
                for payload in final:
                    gateway.publish(self._topics[i], payload)
                    self.messages += 1
                self.readings += 1
                if reason is not None:
                    self._tally(i, reason)
            truths.append(
                MachineTruth(
                    gateway.enterprise,
                    self._machine_ids[i],
                    int(model.knitted),
                    channel.boots,
                    model.stopped_by_reason(),
                    {str(r): n for r, n in self._stop_readings[i].items()},
                    channel.rejects(int(model.knitted)),
                    model.running_s,
                    model.stopped_ms(),
                )
            )
        acknowledged = connections.acknowledged(deadline)
        complete = reachable and acknowledged
        if not complete:
            waiting, away = connections.unacknowledged()
            self._log(
                f"shutdown: {away} gateway(s) not connected and {waiting} message(s) not "
                f"acknowledged by {self.url}; the truth file is marked incomplete"
            )
        connections.goodbye(deadline)
        return Truth(
            seed=config.seed,
            started_ms=self.started_ms,
            ended_ms=ended_ms,
            machines=tuple(truths),
            complete=complete,
            readings=self.readings,
            faults=self.counts.as_dict(),
        )


def run_fleet(
    config: FleetConfig,
    *,
    stop: threading.Event | None = None,
    log: Callable[[str], None] | None = None,
) -> Truth:
    """Run a fleet in the calling thread until ``config.duration`` or ``stop``; the truth."""
    return Fleet(config, log=log).run(stop)
