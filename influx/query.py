"""Running InfluxQL: one POST to ``/query`` per call, its results or one typed error."""

from typing import Any

import httpx

from influx.config import InfluxConfig
from influx.errors import InfluxQueryError
from influx.responses import auth_error, message, unreachable


def query(
    client: httpx.Client,
    config: InfluxConfig,
    statement: str,
    *,
    database: str | None = None,
    epoch: str = "ms",
    missing_ok: bool = False,
) -> list[dict[str, Any]]:
    """Run InfluxQL ``statement`` (POST ``/query``, times as epoch ``epoch``); return ``results``.

    ``statement`` may hold several statements separated by ``;`` (one result each). With
    ``missing_ok`` a statement on a database or retention policy not created yet has an empty
    result instead of failing.

    Raises :class:`~influx.errors.InfluxUnreachableError`,
    :class:`~influx.errors.InfluxAuthError`, or :class:`~influx.errors.InfluxQueryError` when
    the query or any statement in it failed.
    """
    data = {"q": statement, "epoch": epoch}
    if database is not None:
        data["db"] = database
    try:
        response = client.post(
            config.query_url, data=data, headers=config.headers(), timeout=config.timeout
        )
    except httpx.TransportError as exc:
        raise unreachable(config, exc) from exc
    status = response.status_code
    if status in (401, 403):
        raise auth_error(config, status, message(response))
    if status != 200:
        raise InfluxQueryError(
            f"InfluxDB at {config.url} refused {statement[:120]!r} (HTTP {status}): "
            f"{message(response)}"
        )
    try:
        results: list[dict[str, Any]] = response.json()["results"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InfluxQueryError(f"InfluxDB at {config.url} answered no query results") from exc
    for index, result in enumerate(results):
        if "error" not in result:
            continue
        if missing_ok and "not found" in str(result["error"]):
            results[index] = {"statement_id": result.get("statement_id", index)}
            continue
        raise InfluxQueryError(f"InfluxDB: {statement[:120]!r}: {result['error']}")
    return results


def series(
    client: httpx.Client,
    config: InfluxConfig,
    statement: str,
    *,
    database: str | None = None,
    epoch: str = "ms",
    missing_ok: bool = False,
) -> list[dict[str, Any]]:
    """The series of ``statement``'s first result (empty when it has none); as :func:`query`."""
    results = query(
        client, config, statement, database=database, epoch=epoch, missing_ok=missing_ok
    )
    found: list[dict[str, Any]] = results[0].get("series", []) if results else []
    return found


def rows(result: dict[str, Any]) -> list[list[Any]]:
    """Every row of every series of one result."""
    return [row for series in result.get("series", ()) for row in series.get("values") or ()]
