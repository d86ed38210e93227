"""Making a server hold what a :class:`~influx.schema.Schema` declares (reads, then statements).

:mod:`influx.schema` plans without I/O; this module reads the server's state through
:func:`~influx.query.query` and runs the plan.
"""

import httpx

from influx.config import InfluxConfig
from influx.errors import InfluxQueryError, InfluxSchemaError
from influx.query import query, rows
from influx.schema import ExistingPolicy, Schema, ServerState, parse_duration_ns, plan


def read_state(client: httpx.Client, config: InfluxConfig, database: str) -> ServerState:
    """What the server has of ``database``: whether it exists, its policies and queries."""
    databases = {row[0] for row in rows(query(client, config, "SHOW DATABASES")[0])}
    if database not in databases:
        return ServerState(database_exists=False, retention_policies={}, continuous_queries={})
    policies = {}
    result = query(client, config, f'SHOW RETENTION POLICIES ON "{database}"')[0]
    for series in result.get("series", ()):
        columns = series["columns"]
        for row in series.get("values") or ():
            item = dict(zip(columns, row, strict=True))
            policies[item["name"]] = ExistingPolicy(
                duration_ns=parse_duration_ns(item["duration"]),
                shard_duration_ns=parse_duration_ns(item["shardGroupDuration"]),
                default=bool(item["default"]),
            )
    queries = {}
    for series in query(client, config, "SHOW CONTINUOUS QUERIES")[0].get("series", ()):
        if series.get("name") == database:
            queries.update({row[0]: row[1] for row in series.get("values") or ()})
    return ServerState(True, policies, queries)


def ensure_schema(client: httpx.Client, config: InfluxConfig, schema: Schema) -> list[str]:
    """Create or alter what ``schema`` declares; return the statements run (empty: nothing to do).

    Idempotent; safe when another process sets up the same schema at the same time.
    """
    executed: list[str] = []
    for _ in range(3):
        statements = plan(schema, read_state(client, config, schema.database))
        if not statements:
            return executed
        for statement in statements:
            try:
                query(client, config, statement)
            except InfluxQueryError as exc:
                if "already exists" in str(exc):
                    break  # someone else got there first: look again
                raise InfluxSchemaError(f"cannot set up the schema: {exc}") from exc
            executed.append(statement)
    statements = plan(schema, read_state(client, config, schema.database))
    if statements:
        raise InfluxSchemaError(f"the schema on {config.url} still differs: {statements[0]}")
    return executed
