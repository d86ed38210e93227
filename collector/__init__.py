"""The collector: MQTT readings in, exactly counted pairs out to InfluxDB, alerts on the side.

A reading flows through one module per stage: :mod:`collector.source` (MQTT) ->
:mod:`collector.intake` -> :mod:`collector.worker` (:mod:`collector.validate` ->
:mod:`collector.accounting` -> a :mod:`collector.batch`) -> :mod:`collector.writer`
(:mod:`collector.journal` -> :mod:`influx.write` (InfluxDB) -> :mod:`collector.journal`) ->
acknowledgement, wired together by :mod:`collector.pipeline` and run by :mod:`collector.service`.
"""
