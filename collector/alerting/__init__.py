"""Alerting inside the collector: idle, stopped and offline machines, and silent registries.

One concept per module:

=================  ==========================================================================
``model``          the frozen :class:`~collector.alerting.model.Alert` value and its kinds
``timers``         deadlines by key: a heap with lazy deletion and lazy postponement
``calendar``       planned downtime: shift patterns, holidays, one-off downtime, time zones
``registry``       the park registry: which machines are expected to report
``tracked``        the tracker's thresholds and its state per machine and per gateway
``tracker``        pure detection and lifecycle of machine alerts (takes ``now``; no I/O)
``gateways``       gateways' offline alerts (Last Will), part of the tracker
``never``          registry machines never heard from, part of the tracker
``reporting``      the reporting counts: expected, reporting, silent, never heard
``reasons``        the reason texts of alerts
``store``          the firing set and the notifications on disk (crash-safe)
``notify``         what an alert looks like on MQTT, in InfluxDB and in a webhook body
``webhooks``       the webhook dispatcher: its own threads, bounded queues, retries
``observer``       the pipeline observer that glues the above together
=================  ==========================================================================

``docs/alerting.md`` describes the behaviour for operators.
"""
