"""Exceptions of the :mod:`collector` package.

Every message is one line an operator can act on; the command line prints it without a
traceback. InfluxDB's errors are those of :mod:`influx.errors`: the collector's programs print
them the same way, and its pipeline retries them as it retries its own.

CollectorError
 +-- StateError                   the state directory (journal, snapshot) cannot be used
 +-- TimeSpecError                a time given on the command line is not a time
 +-- WriteAbortedError            stop was requested while a write was being retried
 |                                (collector.retry); the batch is not durably written and
 |                                must not be acknowledged
 +-- MqttError                    the MQTT broker cannot be used (raised at start-up only;
      |                           later connection losses are handled by reconnecting)
      +-- MqttUnavailableError    no connection to the broker, or no answer in time
      +-- MqttRefusedError        the broker refused the connection (credentials, not
                                  authorized) or the subscription
 +-- AlertingConfigError          a file the alerting reads cannot be used (start-up, or kept
      |                           the previous version when an edited file is reloaded)
      +-- RegistryError           the park registry (--registry) is missing or invalid
      +-- CalendarError           the shift calendar (--shift-calendar) is missing or invalid
"""


class CollectorError(Exception):
    """Base class of the collector's errors."""


class StateError(CollectorError):
    """The collector's state directory cannot be locked, read or written."""


class TimeSpecError(CollectorError, ValueError):
    """A time on the command line is not RFC 3339, ``now``, ``now-1h``, ``-24h`` or epoch ms."""


class WriteAbortedError(CollectorError):
    """Stop was requested while a write was being retried: the batch must not be acknowledged."""


# --- MQTT source (collector.source) ---


class MqttError(CollectorError):
    """The MQTT broker cannot be used."""


class MqttUnavailableError(MqttError):
    """No connection to the MQTT broker, or no answer within the timeout."""


class MqttRefusedError(MqttError):
    """The MQTT broker refused the connection or the subscription."""


# --- alerting (collector.alerting) ---


class AlertingConfigError(CollectorError):
    """A file the alerting reads (park registry, shift calendar) cannot be used."""


class RegistryError(AlertingConfigError):
    """The park registry is missing, unreadable or invalid."""


class CalendarError(AlertingConfigError):
    """The shift calendar is missing, unreadable or invalid."""
