"""The database, retention policies and continuous queries of the storage schema, as values.

A :class:`Schema` declares what should exist; :func:`plan` compares it with what a server has
(:class:`ServerState`) and returns the InfluxQL statements that make the server match. Nothing
here does I/O: :func:`influx.write.ensure_schema` reads the server's state and runs the plan.
The rollups (:mod:`influx.rollups`) are listed in :func:`default_schema` next to ``raw``.
"""

import re
from typing import Annotated, NamedTuple, Self

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

from influx import rollups as rollup_specs

Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
"""Database, retention policy and continuous query names: 1-64 of ``[A-Za-z0-9_-]``."""

DEFAULT_DATABASE = "hosiery"
RAW = "raw"
DEFAULT_RAW_DURATION = "7d"

_NS = {
    "ns": 1,
    "u": 1_000,
    "µ": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
    "d": 86400 * 1_000_000_000,
    "w": 7 * 86400 * 1_000_000_000,
}
_DURATION_RE = re.compile(r"(\d+)(ns|u|µ|ms|s|m|h|d|w)")
_HOUR_NS = _NS["h"]


def parse_duration_ns(text: str) -> int:
    """Nanoseconds of an InfluxQL duration (``7d``, ``1h30m``, ``168h0m0s``); ``INF`` is 0.

    InfluxDB shows an infinite retention as ``0s``; 0 stands for "forever" here too.
    """
    if text.upper() == "INF":
        return 0
    pos, total = 0, 0
    for match in _DURATION_RE.finditer(text):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _NS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"{text!r} is not an InfluxQL duration (examples: 7d, 36h, 1h30m, INF)")
    return total


def influx_duration(seconds: float) -> str:
    """Format whole seconds as an InfluxQL duration literal (``7d``, ``36h``, ``90s``)."""
    whole = int(seconds)
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if whole and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def _quote(name: str) -> str:
    return f'"{name}"'


class RetentionPolicy(BaseModel):
    """A retention policy: how long points are kept, and whether writes without ``rp`` use it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Name
    duration: str
    """An InfluxQL duration of at least 1h, or ``INF``."""
    shard_duration: str | None = None
    """Shard group duration; ``None`` lets the server choose (1d for durations up to 6 months)."""
    default: bool = False

    @model_validator(mode="after")
    def _check(self) -> Self:
        duration = parse_duration_ns(self.duration)
        if 0 < duration < _HOUR_NS:
            raise ValueError(f"retention policy {self.name}: duration must be at least 1h or INF")
        if self.shard_duration is not None and parse_duration_ns(self.shard_duration) < _HOUR_NS:
            raise ValueError(f"retention policy {self.name}: shard duration must be at least 1h")
        return self

    @property
    def duration_ns(self) -> int:
        return parse_duration_ns(self.duration)

    def statement(self, database: str, verb: str = "CREATE") -> str:
        """``CREATE`` (or ``ALTER``) statement for this policy on ``database``."""
        text = f"{verb} RETENTION POLICY {_quote(self.name)} ON {_quote(database)}"
        text += f" DURATION {self.duration}"
        if verb == "CREATE":
            text += " REPLICATION 1"
        if self.shard_duration is not None:
            text += f" SHARD DURATION {self.shard_duration}"
        if self.default:
            text += " DEFAULT"
        return text


class ContinuousQuery(BaseModel):
    """A continuous query: ``query`` is its ``SELECT ... INTO ... GROUP BY time(...)`` text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Name
    query: str
    resample_every: str | None = None
    resample_for: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not self.query.lstrip().upper().startswith("SELECT "):
            raise ValueError(f"continuous query {self.name}: query must be a SELECT ... INTO")
        for value in (self.resample_every, self.resample_for):
            if value is not None:
                parse_duration_ns(value)
        return self

    def statement(self, database: str) -> str:
        text = f"CREATE CONTINUOUS QUERY {_quote(self.name)} ON {_quote(database)}"
        if self.resample_every or self.resample_for:
            text += " RESAMPLE"
            if self.resample_every:
                text += f" EVERY {self.resample_every}"
            if self.resample_for:
                text += f" FOR {self.resample_for}"
        return f"{text} BEGIN {self.query.strip()} END"


class Schema(BaseModel):
    """Everything the collector needs to exist on the server."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    database: Name = DEFAULT_DATABASE
    retention_policies: tuple[RetentionPolicy, ...] = ()
    continuous_queries: tuple[ContinuousQuery, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Self:
        names = [rp.name for rp in self.retention_policies]
        if len(set(names)) != len(names):
            raise ValueError(f"schema lists a retention policy twice: {names}")
        if sum(rp.default for rp in self.retention_policies) > 1:
            raise ValueError("schema marks more than one retention policy as default")
        cq_names = [cq.name for cq in self.continuous_queries]
        if len(set(cq_names)) != len(cq_names):
            raise ValueError(f"schema lists a continuous query twice: {cq_names}")
        return self


def default_schema(
    database: str = DEFAULT_DATABASE,
    raw_duration: str = DEFAULT_RAW_DURATION,
    *,
    rollups: bool = True,
    utc_offset_hours: float = 8.0,
) -> Schema:
    """The database with its default retention policy ``raw`` (7 days unless told otherwise)
    and, unless ``rollups`` is false, the rollups' retention policies and continuous queries
    (days of ``enterprise_1d`` start at local midnight of ``utc_offset_hours``)."""
    raw = RetentionPolicy(name=RAW, duration=raw_duration, default=True)
    if not rollups:
        return Schema(database=database, retention_policies=(raw,))
    return Schema(
        database=database,
        retention_policies=(
            raw,
            *(
                RetentionPolicy(name=p.name, duration=p.duration, shard_duration=p.shard_duration)
                for p in rollup_specs.POLICIES
            ),
        ),
        continuous_queries=tuple(
            ContinuousQuery(
                name=r.name,
                query=r.select(database),
                resample_every=r.every,
                resample_for=r.for_,
            )
            for r in rollup_specs.rollups(utc_offset_hours)
        ),
    )


class ExistingPolicy(NamedTuple):
    duration_ns: int
    shard_duration_ns: int
    default: bool


class ServerState(NamedTuple):
    """What a server has, as far as one database's schema is concerned."""

    database_exists: bool
    retention_policies: dict[str, ExistingPolicy]
    continuous_queries: dict[str, str]
    """Name to the ``CREATE CONTINUOUS QUERY`` text the server shows."""


_DECIMAL = re.compile(r"\b\d+\.\d+\b")


def _normalized(statement: str) -> str:
    """The statement as compared: no quotes, single spaces, lower case, decimals written one
    way (the server shows ``1.0`` as ``1.000``)."""
    text = " ".join(statement.replace('"', "").split()).lower()
    return _DECIMAL.sub(lambda m: repr(float(m.group())), text)


def plan(schema: Schema, state: ServerState) -> list[str]:
    """The statements that make ``state`` match ``schema``; empty when nothing is to be done.

    Retention policies are created or altered (duration, shard duration, default); a continuous
    query whose text differs is dropped and created again. Nothing undeclared is removed.
    """
    db = schema.database
    statements: list[str] = []
    if not state.database_exists:
        statements.append(f"CREATE DATABASE {_quote(db)}")
    for rp in schema.retention_policies:
        existing = state.retention_policies.get(rp.name)
        if existing is None:
            statements.append(rp.statement(db))
            continue
        changed = existing.duration_ns != rp.duration_ns or (rp.default and not existing.default)
        if rp.shard_duration is not None:
            changed |= existing.shard_duration_ns != parse_duration_ns(rp.shard_duration)
        if changed:
            statements.append(rp.statement(db, "ALTER"))
    for cq in schema.continuous_queries:
        shown = state.continuous_queries.get(cq.name)
        wanted = cq.statement(db)
        if shown is not None and _normalized(shown) == _normalized(wanted):
            continue
        if shown is not None:
            statements.append(f"DROP CONTINUOUS QUERY {_quote(cq.name)} ON {_quote(db)}")
        statements.append(wanted)
    return statements
