"""Writing line protocol to InfluxDB's v1 ``/write`` API: a typed result or a typed error.

:class:`InfluxSink` sends one batch per :meth:`InfluxSink.write` call, makes one attempt and
keeps no buffer and no retry of its own: the caller (the pipeline, through
:class:`collector.retry.Retrier`) retries, as Telegraf's running output does.

* 2xx: every line is written.
* Connection errors and timeouts raise :class:`InfluxUnreachableError`; 5xx and 429 raise
  :class:`InfluxBusyError` (with the server's ``Retry-After``). Retrying is safe because a
  point written twice overwrites itself (see ``docs/schema.md``), even when a timed-out request
  did get through.
* 400 ``partial write``: the good lines are written; the dropped ones are counted from the
  server's message and reported in :attr:`WriteResult.dropped_lines`. 400 without ``partial
  write`` (and any other 4xx not listed here): every line is dropped. Sending them again cannot
  succeed, so these are results, not exceptions.
* 404 (database not found) or 500 ``retention policy not found``: the schema is created once,
  (:mod:`influx.provision`), then the write is made again at once; a second miss raises
  :class:`InfluxSchemaError`.
* 413 (body too large): the batch is split in halves, each written (and split) on its own.
* 401 and 403: :class:`InfluxAuthError`.
"""

import gzip
import re
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import NamedTuple, Self

import httpx

from influx.config import InfluxConfig, make_client
from influx.errors import (
    InfluxBusyError,
    InfluxError,
    InfluxQueryError,
    InfluxSchemaError,
    InfluxUnreachableError,
)
from influx.provision import ensure_schema
from influx.responses import auth_error, one_line, raw_message, retry_after, unreachable
from influx.schema import Schema, default_schema


class WriteResult(NamedTuple):
    """What one :meth:`InfluxSink.write` did. ``lines - dropped_lines`` lines are written."""

    lines: int
    bytes: int
    """Size of the uncompressed body."""
    attempts: int
    """HTTP requests made: one, more for the halves of a split batch and for the write made
    again once a missing schema was created."""
    seconds: float
    dropped_lines: int
    """Lines InfluxDB refused for good (as counted from its answer); 0 when all were written."""
    error: str | None
    """InfluxDB's message when lines were dropped."""

    @property
    def written(self) -> int:
        return self.lines - self.dropped_lines


_PARSE_FAILURE = re.compile(r"(?:^|\n)(?:partial write: )?unable to parse '")
_DROPPED = re.compile(r"dropped=(\d+)")


def dropped_lines(message: str, lines: int) -> int:
    """How many of ``lines`` a 400 answer says were not written.

    A ``partial write`` lists each unparsable line and ends with ``dropped=N`` for the points
    refused after parsing (field type conflicts, points outside the retention policy); InfluxDB
    1.x reports only the latter when both happen in one request. Without ``partial write``
    nothing was written.
    """
    if "partial write" not in message:
        return lines
    counts = _DROPPED.findall(message)
    dropped = len(_PARSE_FAILURE.findall(message)) + (int(counts[-1]) if counts else 0)
    return min(dropped, lines)


def _count_lines(body: bytes) -> int:
    return body.count(b"\n") + (0 if body.endswith(b"\n") else 1) if body else 0


class _Progress:
    __slots__ = ("attempts", "schema_created")

    def __init__(self) -> None:
        self.attempts = 0
        self.schema_created = False


class _Retry(NamedTuple):
    reason: str
    retry_after: float | None = None
    at_once: bool = False
    busy: bool = False


class InfluxSink:
    """Writes batches of line protocol (nanosecond times) to one database and retention policy.

    ``client`` is used as given (the caller closes it); without one the sink makes and owns one.
    ``schema`` is what is created when the database or policy is missing (default: the database
    with ``raw``; ``create_schema=False`` raises :class:`InfluxSchemaError` instead); ``clock``
    times the writes. Thread-safe: a sink holds no state between calls.
    """

    def __init__(
        self,
        config: InfluxConfig,
        client: httpx.Client | None = None,
        *,
        schema: Schema | None = None,
        create_schema: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.schema = schema or default_schema(config.database)
        if self.schema.database != config.database:
            raise ValueError(
                f"schema is for database {self.schema.database!r}, "
                f"the sink writes to {config.database!r}"
            )
        self.create_schema = create_schema
        self._owns_client = client is None
        self._client = make_client(config) if client is None else client
        self._clock = clock
        self._url = config.write_url
        params = {"db": config.database, "precision": "ns"}
        if config.retention_policy is not None:
            params["rp"] = config.retention_policy
        self._params = params
        headers = {"Content-Type": "text/plain; charset=utf-8", **config.headers()}
        if config.gzip:
            headers["Content-Encoding"] = "gzip"
        self._headers = headers

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def write(self, lines: Sequence[str] | bytes) -> WriteResult:
        """Write ``lines``: strings without newlines, or a body with one point per line.

        (A body's lines are counted by its newlines, so it should hold no blank lines.)

        Returns once every line is written or refused for good. Raises
        :class:`InfluxUnreachableError` or :class:`InfluxBusyError` (worth retrying),
        :class:`InfluxAuthError` or :class:`InfluxSchemaError`; then nothing may be acknowledged.
        """
        started = self._clock()
        if isinstance(lines, bytes):
            body, count = lines, _count_lines(lines)
        else:
            body, count = "\n".join(lines).encode(), len(lines)
        if count == 0:
            return WriteResult(0, 0, 0, 0.0, 0, None)
        progress = _Progress()
        dropped, error = self._send(body, count, progress)
        seconds = self._clock() - started
        return WriteResult(count, len(body), progress.attempts, seconds, dropped, error)

    def _send(self, body: bytes, count: int, progress: _Progress) -> tuple[int, str | None]:
        content = gzip.compress(body, compresslevel=1) if self.config.gzip else body
        while True:
            progress.attempts += 1
            outcome = self._attempt(content, body, count, progress)
            if not isinstance(outcome, _Retry):
                return outcome
            if not outcome.at_once:
                if outcome.busy:
                    raise InfluxBusyError(
                        f"InfluxDB at {self.config.url} is busy: {outcome.reason}",
                        outcome.retry_after,
                    )
                raise InfluxUnreachableError(outcome.reason)

    def _attempt(
        self, content: bytes, body: bytes, count: int, progress: _Progress
    ) -> "tuple[int, str | None] | _Retry":
        try:
            response = self._client.post(
                self._url,
                params=self._params,
                content=content,
                headers=self._headers,
                timeout=self.config.timeout,
            )
        except httpx.UnsupportedProtocol as exc:
            raise InfluxError(f"cannot write to {self.config.url}: {exc}") from exc
        except httpx.TransportError as exc:
            return _Retry(str(unreachable(self.config, exc)))
        status = response.status_code
        if 200 <= status < 300:
            return 0, None
        raw = raw_message(response)
        message = one_line(raw) or response.reason_phrase
        reason = f"HTTP {status}: {message}"
        if status == 413:
            return self._split(body, count, progress, reason)
        if status in (401, 403):
            raise auth_error(self.config, status, message)
        if status == 404 or (status >= 500 and "retention policy not found" in message):
            return self._set_up_schema(progress, reason)
        if status == 429 or status >= 500:
            return _Retry(reason, retry_after(response), busy=True)
        if 400 <= status < 500:
            return dropped_lines(raw, count), reason
        raise InfluxError(f"unexpected answer from {self._url}: {reason}")

    def _set_up_schema(self, progress: _Progress, reason: str) -> "_Retry":
        if not self.create_schema:
            raise InfluxSchemaError(f"cannot write to {self.config.url}: {reason}")
        if progress.schema_created:
            raise InfluxSchemaError(
                f"InfluxDB at {self.config.url} still answers {reason!r} "
                "after the schema was set up"
            )
        try:
            ensure_schema(self._client, self.config, self.schema)
        except InfluxUnreachableError as exc:
            return _Retry(str(exc))
        except InfluxQueryError as exc:
            raise InfluxSchemaError(f"{reason}, and the schema could not be set up: {exc}") from exc
        progress.schema_created = True
        return _Retry(reason, at_once=True)

    def _split(
        self, body: bytes, count: int, progress: _Progress, reason: str
    ) -> tuple[int, str | None]:
        middle = body.rfind(b"\n", 0, len(body) // 2)
        if middle <= 0:
            middle = body.find(b"\n", len(body) // 2)
        if count <= 1 or middle <= 0 or middle >= len(body) - 1:
            return count, f"{reason} (a single line is larger than the server accepts)"
        first, second = body[:middle], body[middle + 1 :]
        first_count = _count_lines(first)
        dropped_first, error_first = self._send(first, first_count, progress)
        dropped_second, error_second = self._send(second, count - first_count, progress)
        errors = [e for e in (error_first, error_second) if e is not None]
        return dropped_first + dropped_second, "; ".join(errors) or None
