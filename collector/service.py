"""The running collector: builds the pipeline from settings, starts it, stops it cleanly."""

import threading
import time
from urllib.parse import urlsplit

import structlog
from prometheus_client import CollectorRegistry
from structlog.typing import FilteringBoundLogger

from collector.accounting import Ledger, PairsLimit
from collector.admission import Admission
from collector.alerting.assemble import load_files, open_alerting
from collector.alerting.observer import AlertingObserver
from collector.capacity import CapacityWriter, open_capacity
from collector.health import HealthState, assess
from collector.http import MonitoringServer
from collector.journal import Journal
from collector.late import LateHours
from collector.metrics import CollectorMetrics, SourceMetrics
from collector.observers import Observer
from collector.pipeline import Pipeline
from collector.rerolling import Reroller
from collector.session import MqttSourceConfig
from collector.settings import CollectorSettings
from collector.source import MqttSource
from collector.validate import Limits, Validator
from contract.nominal import NominalRates
from influx.config import InfluxConfig, make_client
from influx.provision import ensure_schema
from influx.query import query
from influx.schema import default_schema, influx_duration
from influx.write import InfluxSink


def client_id(settings: CollectorSettings) -> str:
    """The collector's MQTT client id: as given, else its broker user, else hosiery-collector.

    Brokers that bind client ids to accounts (``use_username_as_clientid``, as shipped) give
    the collector its user name as id whatever it asks for; defaulting to it keeps the id the
    collector logs the one its session is kept under.
    """
    return settings.mqtt_client_id or settings.mqtt_username or "hosiery-collector"


def mqtt_config(settings: CollectorSettings) -> MqttSourceConfig:
    url = urlsplit(settings.mqtt_url)
    tls = url.scheme == "mqtts"
    return MqttSourceConfig(
        host=url.hostname or "127.0.0.1",
        port=url.port or (8883 if tls else 1883),
        client_id=client_id(settings),
        username=settings.mqtt_username,
        password=(settings.mqtt_password.get_secret_value() if settings.mqtt_password else None),
        session_expiry=int(settings.mqtt_session_expiry),
        keepalive=max(1, min(65535, int(settings.mqtt_keepalive))),
        receive_maximum=settings.mqtt_receive_maximum,
        maximum_packet_size=settings.mqtt_max_packet_size,
        tls_ca=settings.mqtt_ca_file,
        tls=tls,
    )


def influx_config(settings: CollectorSettings) -> InfluxConfig:
    return InfluxConfig.of(settings)


class Collector:
    """Everything one ``hosiery-collector`` process runs. ``start``, then ``stop``."""

    def __init__(
        self,
        settings: CollectorSettings,
        *,
        registry: CollectorRegistry | None = None,
        observers: tuple[Observer, ...] = (),
        log: FilteringBoundLogger | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry or CollectorRegistry()
        self.metrics = CollectorMetrics(self.registry)
        self.log: FilteringBoundLogger = log or structlog.get_logger("collector")
        self.observers = observers
        self.abandon = threading.Event()
        self.journal = Journal(settings.state_dir)
        self.influx = influx_config(settings)
        self.schema = default_schema(settings.influx_db, influx_duration(settings.raw_retention))
        self.http_client = make_client(self.influx)
        self.sink = InfluxSink(
            self.influx,
            self.http_client,
            schema=self.schema,
            create_schema=settings.create_database,
        )
        self.source = MqttSource(mqtt_config(settings))
        self.registry.register(SourceMetrics(self.source.stats))
        self.pipeline: Pipeline | None = None
        self.alerting: AlertingObserver | None = None
        self.capacity: CapacityWriter | None = None
        self.reroller: Reroller | None = None
        self.http: MonitoringServer | None = None
        self._started = False
        self._started_ns = 0

    def start(self) -> None:
        """Open the state, set up InfluxDB, connect to the broker, start the threads.

        Raises a :class:`~collector.errors.CollectorError` with a one-line message when the
        state directory, InfluxDB or the broker cannot be used.
        """
        s = self.settings
        files = load_files(s) if s.alerts else None
        ledger = self.journal.open(Ledger(window=s.reorder_window))
        # After the replay: readings the journal holds were accepted under the bound of their day.
        ledger.limit = PairsLimit(max_pairs_per_hour=s.max_pairs_per_hour)
        try:
            observers = self.observers
            if files is not None:
                self.alerting = open_alerting(
                    s,
                    files,
                    publish=self._publish_alert,
                    metrics=self.metrics,
                    now_ms=time.time_ns() // 1_000_000,
                    intake_ok=lambda: self.source.connected,
                    log=self.log,
                    missing=ledger.missing_readings,
                )
                observers = (*observers, self.alerting)
            if s.create_database:
                done = ensure_schema(self.http_client, self.influx, self.schema)
                for statement in done:
                    self.log.info("InfluxDB schema", statement=statement)
            self.capacity = open_capacity(s, files, self.influx, self.schema, self.log)
            if self.capacity is not None:
                self.capacity.start()
            self.http = MonitoringServer(s.http_host, s.http_port, self.registry, self.health)
            registered = None
            if files is not None and files.registry is not None:
                registry_of = files

                def registered(enterprise: str, machine: str) -> bool:
                    known = registry_of.registry
                    return known is not None and machine in known.enterprises.get(enterprise, {})

            late = self._open_reroller()
            self.pipeline = Pipeline(
                source=self.source,
                sink=self.sink,
                journal=self.journal,
                ledger=ledger,
                validator=Validator(
                    Limits(max_future_ms=int(s.max_future * 1000), max_age_ms=int(s.max_age * 1000))
                ),
                metrics=self.metrics,
                batch_size=s.batch_size,
                flush_interval=s.flush_interval,
                checkpoint_interval=s.checkpoint_interval,
                checkpoint_bytes=s.checkpoint_bytes,
                observers=observers,
                admission=Admission(
                    max_machines=s.max_machines,
                    unregistered=s.unregistered_machines,
                    registered=registered,
                    tracked=ledger.machines(),
                ),
                abandon=self.abandon,
                log=self.log,
                late=late,
                rates=None if self.capacity is None else NominalRates(self.capacity.park),
            )
            if self.alerting is not None:
                self.alerting.start()
            if self.reroller is not None:
                self.reroller.start()
            # The worker runs before the subscription is confirmed: with a backlog, the broker
            # sends a whole receive window first, and it is processed while start-up completes.
            self.pipeline.start()
            self.source.start(
                timeout=s.mqtt_connect_timeout, expect_session=self.journal.found_state
            )
            self.http.start()
        except BaseException:
            if self.pipeline is not None:
                self.pipeline.stop(5.0)
            self._close()
            raise
        self._started = True
        self._started_ns = time.time_ns()
        self.metrics.machines.set(len(ledger))
        self.metrics.readings_missing.set(ledger.missing_total)
        self.log.info(
            "collector started",
            mqtt=self.source.config.url,
            influxdb=s.influx_url,
            database=s.influx_db,
            machines_in_state=len(ledger),
            journal_replayed=self.journal.replayed,
            http=f"http://{s.http_host}:{self.http.port}",
        )

    def health(self) -> tuple[bool, dict[str, object]]:
        """``/healthz``: see :func:`collector.health.assess`."""
        pipeline = self.pipeline
        stats = self.source.stats()
        state = HealthState(
            connected=self.source.connected,
            alive=pipeline is not None and pipeline.failed is None,
            failing_since_ns=dict(pipeline.failing_since_ns) if pipeline else {},
            write_started_ns=pipeline.write_started_ns if pipeline else 0,
            progress_ns=max(pipeline.last_write_ok_ns if pipeline else 0, self._started_ns),
            waiting=(pipeline.buffered if pipeline else 0) + stats.intake_depth,
        )
        return assess(state, time.time_ns(), self.settings.unhealthy_after)

    def stop(self) -> bool:
        """Stop intake, write and acknowledge what is buffered, disconnect.

        Returns whether everything buffered was written; what was not is redelivered by the
        broker on the next start.
        """
        if not self._started:
            return True
        self._started = False
        complete = True
        if self.pipeline is not None:
            complete = self.pipeline.stop(self.settings.shutdown_timeout)
            if complete:
                self.journal.checkpoint(self.pipeline.ledger)
        self._close_alerting(min(10.0, self.settings.shutdown_timeout))
        self._close()
        self.log.info("collector stopped", complete=complete)
        return complete

    def _publish_alert(self, topic: str, payload: bytes, retain: bool) -> object:  # noqa: FBT001 - the Publish protocol
        return self.source.publish(topic, payload, 1, retain=retain)

    def _close_alerting(self, timeout: float) -> None:
        if self.alerting is not None:
            self.alerting.close(timeout)
            self.alerting = None

    def _open_reroller(self) -> LateHours | None:
        """The hours owed a re-roll (from the state directory) and the thread that pays them."""
        s = self.settings
        if s.reroll_after <= 0:
            return None
        late = LateHours(s.state_dir, round(s.reroll_after * 1000))
        late.load()
        # A rollup statement over an hour of the full park takes seconds, not a write's timeout.
        config = self.influx.model_copy(update={"timeout": max(self.influx.timeout, 300.0)})
        client = self.http_client
        self.reroller = Reroller(
            late,
            lambda statement: query(client, config, statement, database=config.database),
            config.database,
            metrics=self.metrics,
            log=self.log,
        )
        return late

    def _close(self) -> None:
        if self.reroller is not None:
            self.reroller.stop()
            self.reroller = None
        self._close_alerting(0.0)
        if self.capacity is not None:
            self.capacity.close()
            self.capacity = None
        self.source.stop()
        if self.http is not None:
            self.http.stop()
            self.http = None
        self.sink.close()
        self.http_client.close()
        self.journal.close()
