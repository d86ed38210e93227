"""Exceptions of the :mod:`influx` package.

Every message is one line an operator can act on (it names the server, and the credentials
by user name only); the programs print it without a traceback.

InfluxError                  InfluxDB refused a request or answered something unexpected
 +-- InfluxUnreachableError  no connection to InfluxDB, or no answer in time
 +-- InfluxBusyError         InfluxDB answered 5xx or 429: worth trying again later
 +-- InfluxAuthError         credentials wrong or missing, or lacking a privilege (401, 403)
 +-- InfluxSchemaError       database or retention policy missing and not creatable,
 |                           or a schema statement failed
 +-- InfluxQueryError        a query was refused or returned an error

The package retries nothing: its callers own the retry policy (the collector's pipeline and
the backfill retry :class:`InfluxUnreachableError` and :class:`InfluxBusyError`).
"""


class InfluxError(Exception):
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
