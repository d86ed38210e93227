"""Reading back what the collector stored, through InfluxDB's query API."""

from typing import Any

from contract import StopReason
from influx.config import InfluxConfig, make_client
from influx.query import series


def query(url: str, db: str, q: str) -> list[dict[str, Any]]:
    """Run ``q``; return the series of the first statement (empty list when there are none)."""
    config = InfluxConfig(url=url, timeout=30)
    with make_client(config) as client:
        return series(client, config, q, database=db)


def pairs_by_machine(url: str, db: str) -> dict[tuple[str, str], int]:
    """SUM("pairs") of every machine, over all time."""
    rows = query(url, db, 'SELECT sum("pairs") FROM "production" GROUP BY "enterprise", "machine"')
    return {(s["tags"]["enterprise"], s["tags"]["machine"]): int(s["values"][0][1]) for s in rows}


def stopped_by_machine(url: str, db: str) -> dict[tuple[str, str, str], int]:
    """SUM("stopped_ms_<reason>") of every machine and reason above 0, over all time."""
    columns = ", ".join(f'sum("stopped_ms_{r}") AS "{r}"' for r in StopReason)
    rows = query(url, db, f'SELECT {columns} FROM "production" GROUP BY "enterprise", "machine"')
    out = {}
    for s in rows:
        for reason, value in zip(s["columns"][1:], s["values"][0][1:], strict=True):
            if value:
                out[(s["tags"]["enterprise"], s["tags"]["machine"], reason)] = int(value)
    return out


def count(url: str, db: str, measurement: str, field: str) -> int:
    rows = query(url, db, f'SELECT count("{field}") FROM "{measurement}"')
    return int(rows[0]["values"][0][1]) if rows else 0
