"""Rollup points written to InfluxDB: line-protocol lines, sums per key, and batches written
two at a time, each retried while the server is busy or briefly unreachable."""

from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial

import httpx

from contract.retry import Retrier
from influx.config import InfluxConfig
from influx.errors import InfluxBusyError, InfluxUnreachableError
from influx.write import InfluxSink, WriteResult

BATCH_LINES = 25_000
WRITERS = 2
"""Concurrent writes: InfluxDB ingests while the next batch is formatted and compressed."""


def line(measurement: str, tags: str, values: Mapping[str, int | float], time_s: int) -> str:
    fields = ",".join(
        f"{k}={v}i" if isinstance(v, int) else f"{k}={v!r}" for k, v in values.items()
    )
    return f"{measurement}{tags} {fields} {time_s}000000000"


class Sums:
    """Rollup fields added up per key."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data: dict[tuple[str, int], dict[str, float]] = {}

    def add(self, key: tuple[str, int], values: Mapping[str, float]) -> None:
        row = self.data.get(key)
        if row is None:
            self.data[key] = dict(values)
            return
        for k, v in values.items():
            row[k] = row.get(k, 0) + v


def batches(lines: Iterable[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= BATCH_LINES:
            yield batch
            batch = []
    if batch:
        yield batch


class RollupWriter:
    """Writes rollup lines to the retention policies of ``config``'s database."""

    def __init__(self, config: InfluxConfig, client: httpx.Client) -> None:
        self._config = config
        self._client = client
        # A busy or briefly unreachable server is waited for (until Ctrl-C), not fatal.
        self._retrier = Retrier(retry_on=(InfluxUnreachableError, InfluxBusyError))

    def _sink(self, policy: str) -> InfluxSink:
        return InfluxSink(
            self._config.model_copy(update={"retention_policy": policy}),
            self._client,
            create_schema=False,
        )

    def write(self, policy: str, lines: Iterable[str]) -> int:
        """Write ``lines`` in batches of :data:`BATCH_LINES`, :data:`WRITERS` at a time; the
        points written."""
        sink = self._sink(policy)
        written = 0
        pending: deque[Future[WriteResult]] = deque()
        with ThreadPoolExecutor(WRITERS, thread_name_prefix="backfill-write") as pool:
            try:
                for batch in batches(lines):
                    while len(pending) >= WRITERS:
                        written += pending.popleft().result().written
                    pending.append(pool.submit(self._retrier.run, partial(sink.write, batch)))
                while pending:
                    written += pending.popleft().result().written
            finally:
                for future in pending:
                    future.cancel()
        return written
