"""Exceptions of the :mod:`collector` package.

Every message is one line an operator can act on; the command line prints it without a
traceback.

CollectorError
 +-- StateError                   the state directory (journal, snapshot) cannot be used
 +-- TimeSpecError                a time given on the command line is not a time
 +-- InfluxError                  InfluxDB refused a request or answered something unexpected
      +-- InfluxUnreachableError  no connection to InfluxDB, or no answer in time
      +-- InfluxBusyError         InfluxDB answered 5xx or 429: worth trying again later
      +-- InfluxAuthError         credentials wrong or missing, or lacking a privilege (401, 403)
      +-- InfluxSchemaError       database or retention policy missing and not creatable,
      |                           or a schema statement failed
      +-- InfluxQueryError        a query was refused or returned an error
      +-- WriteAbortedError       stop was requested while a write was being retried
                                  (collector.retry); the batch is not durably written and
                                  must not be acknowledged
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


class InfluxError(CollectorError):
    """InfluxDB refused a request or answered something unexpected."""


class InfluxUnreachableError(InfluxError):
    """No connection to InfluxDB, or no answer within the timeout."""


class InfluxBusyError(InfluxError):
    """InfluxDB answered 5xx or 429; ``retry_after`` is its ``Retry-After`` in seconds, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InfluxAuthError(InfluxError):
    """InfluxDB rejected the credentials, or the user lacks a privilege (HTTP 401 or 403)."""


class InfluxSchemaError(InfluxError):
    """The database or retention policy is missing and could not be created, or altered."""


class InfluxQueryError(InfluxError):
    """A query was refused or one of its statements returned an error."""


class WriteAbortedError(InfluxError):
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
