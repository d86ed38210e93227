"""Fuzzing every boundary where outside input enters the collector, bounded for the suite.

* MQTT topics and payloads (:class:`collector.validate.Validator`): whatever the bytes, a
  reading, a status, a rejection or an ignored message, never an exception; what is accepted
  keeps the contract's promises.
* line protocol (:mod:`influx.lines`): every accepted reading, gateway status and correction
  becomes exactly one line that parses back to the same measurement, tags, fields and time.
* configuration (:class:`collector.settings.CollectorSettings` from the environment, as
  ``hosiery-collector`` reads it): a value is accepted or refused with a one-line message,
  through the two errors the command line maps (``ValidationError``, ``SettingsError``).
* the park registry (``parse_registry``, ``parse_capacity``): any bytes give a registry or a
  ``ValueError`` naming the problem; accepted capacity figures are finite.
"""

import json
import math
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pydantic_settings import CliApp, SettingsError

from collector.alerting.registry import parse_registry
from collector.capacity import parse_capacity
from collector.cli import _explain
from collector.settings import CollectorSettings
from collector.validate import MAX_DETAIL_CHARS, Ignored, Reading, Rejection, Status, Validator
from contract import MachineState, is_valid_id
from contract.messages import MAX_PAIRS_TOTAL, MAX_RPM, MAX_SEQ
from influx.capacity import capacity_lines
from influx.lines import gateway_line, pairs_correction_line, production_line
from tests.support.line_protocol import parse_line

NOW = 1_800_000_000_000
FUZZ = settings(max_examples=300, deadline=None)

# -- building blocks ----------------------------------------------------------------------------

ids = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
hostile_text = st.text(
    st.characters(codec=None, categories=None),
    max_size=80,
)
"""Any code points, surrogates and control characters included."""
levels = st.one_of(
    ids,
    hostile_text,
    st.sampled_from(["", "+", "#", "$SYS", "..", "a b", "x\n", "é", "\x00", "E0001 ", " M1"]),
)
topics = st.one_of(
    hostile_text,
    st.lists(levels, min_size=1, max_size=7).map("/".join),
    st.tuples(levels, levels, st.sampled_from(["counter", "alert", "status", "x", ""])).map(
        lambda t: f"hosiery/v1/{t[0]}/{t[1]}/{t[2]}"
    ),
    st.tuples(levels, st.sampled_from(["status", "counter", ""])).map(
        lambda t: f"hosiery/v1/{t[0]}/{t[1]}"
    ),
    st.sampled_from(["hosiery/v1/_rejected", "hosiery/v1/_summary", "hosiery/v1/", "hosiery"]),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=8,
)


def _near(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a valid value, sometimes anything JSON can hold."""
    return st.one_of(valid, valid, json_values)


readings_json = st.fixed_dictionaries(
    {
        "ts": _near(st.integers(min_value=NOW - 10**9, max_value=NOW + 10**6)),
        "seq": _near(st.integers(min_value=0, max_value=MAX_SEQ)),
        "boot": _near(ids),
        "pairs_total": _near(st.integers(min_value=0, max_value=MAX_PAIRS_TOTAL)),
        "state": _near(st.sampled_from([s.value for s in MachineState])),
    },
    optional={
        "style": _near(ids),
        "rpm": _near(st.floats(min_value=0.0, max_value=MAX_RPM)),
        "extra": json_values,
    },
)


def _dumps(value: object) -> bytes:
    """JSON of ``value`` (the standard library's: it writes integers of any size)."""
    return json.dumps(value).encode()


statuses_json = st.fixed_dictionaries(
    {"online": _near(st.booleans())},
    optional={"ts": _near(st.integers(0, 2**53)), "machines": _near(st.lists(ids, max_size=3))},
)
payloads = st.one_of(
    st.binary(max_size=600),
    readings_json.map(_dumps),
    statuses_json.map(_dumps),
    st.binary(min_size=4090, max_size=4200),
    readings_json.map(lambda r: _dumps(r)[:-1]),  # cut short
)
machine_topics = st.tuples(ids, ids).map(lambda t: f"hosiery/v1/{t[0]}/{t[1]}/counter")


# -- MQTT topics and payloads --------------------------------------------------------------------


@FUZZ
@given(topic=st.one_of(topics, machine_topics), payload=payloads)
def test_any_topic_and_payload_is_classified_and_never_raises(topic: str, payload: bytes) -> None:
    verdict = Validator().validate(topic, payload, NOW)
    assert isinstance(verdict, Reading | Status | Rejection | Ignored)
    if isinstance(verdict, Rejection):
        assert verdict.detail
        assert "\n" not in verdict.detail[:MAX_DETAIL_CHARS] or not topic.startswith("hosiery/")
    elif isinstance(verdict, Reading):
        assert topic == f"hosiery/v1/{verdict.enterprise}/{verdict.machine}/counter"
        data = verdict.data
        assert is_valid_id(verdict.enterprise)
        assert is_valid_id(verdict.machine)
        assert is_valid_id(data.boot)
        assert data.style is None or is_valid_id(data.style)
        assert 0 <= data.pairs_total <= MAX_PAIRS_TOTAL
        assert data.rpm is None or 0.0 <= data.rpm <= MAX_RPM
    elif isinstance(verdict, Status):
        assert topic == f"hosiery/v1/{verdict.enterprise}/status"


@FUZZ
@given(topic=machine_topics, payload=readings_json.map(_dumps))
def test_a_reading_near_the_contract_is_accepted_exactly_when_every_field_is_valid(
    topic: str, payload: bytes
) -> None:
    raw = json.loads(payload)
    verdict = Validator().validate(topic, payload, NOW)
    if isinstance(verdict, Reading):
        assert raw is not None
        assert verdict.data.ts == raw["ts"]
        assert verdict.data.pairs_total == raw["pairs_total"]
        assert verdict.data.state.value == raw["state"]


@FUZZ
@given(topic=topics)
def test_a_validator_survives_any_sequence_of_topics(topic: str) -> None:
    validator = Validator(topic_cache_size=4)
    for suffix in ("", "/counter", "/status"):
        validator.validate(topic + suffix, b"{}", NOW)
    assert validator.cached_topics <= 4


# -- line protocol -------------------------------------------------------------------------------


@FUZZ
@given(topic=machine_topics, payload=readings_json.map(_dumps), pairs=st.integers(0, 10**9))
def test_every_accepted_reading_is_one_line_that_parses_back(
    topic: str, payload: bytes, pairs: int
) -> None:
    verdict = Validator().validate(topic, payload, NOW)
    if not isinstance(verdict, Reading):
        return
    d = verdict.data
    line = production_line(
        verdict.enterprise,
        verdict.machine,
        d.ts,
        d.seq,
        d.boot,
        pairs,
        d.pairs_total,
        d.state.value,
        d.style,
        d.rpm,
    )
    assert len(line.splitlines()) == 1
    measurement, tags, fields, time_ns = parse_line(line)
    assert measurement == "production"
    expected_tags = {"enterprise": verdict.enterprise, "machine": verdict.machine}
    if d.style is not None:
        expected_tags["style"] = d.style
    assert tags == expected_tags
    expected: dict[str, object] = {
        "pairs": pairs,
        "pairs_total": d.pairs_total,
        "seq": d.seq,
        "boot": d.boot,
        "state": d.state.value,
    }
    if d.rpm is not None:
        expected["rpm"] = float(d.rpm)
    assert fields == expected
    assert time_ns == d.ts * 1_000_000 + d.seq % 1_000_000


@FUZZ
@given(
    enterprise=ids,
    machine=ids,
    time_ns=st.integers(0, 2**63 - 1),
    pairs=st.integers(-(10**9), 10**9),
    online=st.booleans(),
)
def test_corrections_and_gateway_points_are_one_line_each(
    enterprise: str,
    machine: str,
    time_ns: int,
    pairs: int,
    online: bool,  # noqa: FBT001 - drawn by hypothesis
) -> None:
    correction = parse_line(pairs_correction_line(enterprise, machine, time_ns, pairs))
    assert correction == (
        "production",
        {"enterprise": enterprise, "machine": machine},
        {"pairs": pairs},
        time_ns,
    )
    gateway = parse_line(gateway_line(enterprise, online, time_ns))
    assert gateway == ("gateway", {"enterprise": enterprise}, {"online": online}, time_ns)


# -- configuration -------------------------------------------------------------------------------

SETTINGS_FIELDS = sorted(CollectorSettings.model_fields)
env_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60
)
env_values = st.one_of(
    env_text,
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "1e309",
            "nan",
            "inf",
            "true",
            "[]",
            "{}",
            '["x"]',
            '{"a": "b"}',
            "5m",
            "mqtt://",
            "http://:0",
            "mqtt://h:99999",
            "UTC",
            "Mars/Base",
            "json",
            "10x",
            "null",
        ]
    ),
    st.integers().map(str),
    json_values.map(lambda v: _dumps(v).decode()),
)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: v for k, v in os.environ.items() if k.startswith("HOSIERY_")}
    for key in saved:
        del os.environ[key]
    os.environ.update(values)
    try:
        yield
    finally:
        for key in values:
            os.environ.pop(key, None)
        os.environ.update(saved)


def _settings_error(argv: list[str]) -> str | None:
    """How ``hosiery-collector`` would refuse these settings: its one line (None: accepted).

    Only the two errors the command line maps may come out; anything else fails the test.
    """
    try:
        CliApp.run(CollectorSettings, cli_args=argv)
    except ValidationError as exc:
        return _explain(exc)
    except SettingsError as exc:
        return str(exc)
    return None


@settings(FUZZ, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.dictionaries(st.sampled_from(SETTINGS_FIELDS), env_values, min_size=1, max_size=3))
def test_any_environment_gives_settings_or_one_clear_error(values: dict[str, str]) -> None:
    env = {f"HOSIERY_{name.upper()}": value for name, value in values.items()}
    with _environment(env):
        error = _settings_error([])
    assert error is None or (error.strip() and "Traceback" not in error)


@FUZZ
@given(
    name=st.sampled_from([n for n in SETTINGS_FIELDS if n not in ("alerts", "create_database")]),
    value=env_values.filter(lambda v: not v.startswith("-")),
)
def test_any_command_line_value_gives_settings_or_one_clear_error(name: str, value: str) -> None:
    with _environment({}):
        error = _settings_error([f"--{name.replace('_', '-')}", value])
    assert error is None or (error.strip() and "Traceback" not in error)


# -- the park registry ---------------------------------------------------------------------------

any_ints = st.integers()
registry_docs = st.fixed_dictionaries(
    {
        "enterprises": _near(
            st.lists(
                st.fixed_dictionaries(
                    {"id": _near(ids)},
                    optional={
                        "shift": _near(st.sampled_from(["day", "night"])),
                        "machines": _near(
                            st.lists(
                                st.fixed_dictionaries(
                                    {"id": _near(ids)},
                                    optional={
                                        "style": _near(ids),
                                        "nominal_pairs_per_hour": _near(
                                            st.floats(0, 1e308, allow_nan=False)
                                        ),
                                        "expected_pairs_per_hour": _near(
                                            st.floats(0, 1e308, allow_nan=False)
                                        ),
                                    },
                                ),
                                max_size=3,
                            )
                        ),
                    },
                ),
                max_size=3,
            )
        )
    },
    optional={
        "version": _near(st.sampled_from([1, 2])),
        "utc_offset_hours": _near(st.floats(-20, 20)),
        "target_pairs_per_year": _near(st.floats(-1e308, 1e308, allow_nan=False)),
        "expected_pairs_per_year": _near(st.floats(-1e308, 1e308, allow_nan=False)),
        "shifts": _near(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "name": _near(st.sampled_from(["day", "night"])),
                        "windows": _near(
                            st.lists(st.tuples(st.floats(-1, 30), st.floats(-1, 30)), max_size=3)
                        ),
                        "workdays": _near(st.lists(st.integers(-1, 8), max_size=8)),
                    }
                ),
                max_size=2,
            )
        ),
        "holidays": _near(
            st.lists(
                st.fixed_dictionaries(
                    {"name": _near(ids), "month": _near(any_ints), "day": _near(any_ints)},
                    optional={"days": _near(any_ints)},
                ),
                max_size=2,
            )
        ),
    },
)
registry_bytes = st.one_of(
    st.binary(max_size=400),
    registry_docs.map(_dumps),
    registry_docs.map(lambda d: _dumps(d)[: len(_dumps(d)) // 2]),
)


@FUZZ
@given(raw=registry_bytes)
def test_any_registry_bytes_give_a_registry_or_a_value_error(raw: bytes) -> None:
    try:
        registry = parse_registry(raw)
    except ValueError as exc:
        error = str(exc)
    else:
        assert all(is_valid_id(m) for ms in registry.enterprises.values() for m in ms)
        return
    assert error.strip()


@FUZZ
@given(raw=registry_bytes)
def test_any_registry_bytes_give_finite_capacity_lines_or_a_value_error(raw: bytes) -> None:
    try:
        capacity = parse_capacity(raw)
    except ValueError as exc:
        error = str(exc)
    else:
        lines = capacity_lines(capacity, 1_000_000_000)
        assert len(lines) == 1 + len(capacity.enterprises)
        for line in lines:
            assert len(line.splitlines()) == 1
            _measurement, _tags, fields, _time = parse_line(line)
            assert all(isinstance(v, int | float) and math.isfinite(v) for v in fields.values())
        return
    assert error.strip()
    assert not error.startswith(":")


def test_capacity_that_adds_up_beyond_a_float_is_refused() -> None:
    machine = {"id": "M1", "nominal_pairs_per_hour": 1e308}
    raw = orjson.dumps(
        {"enterprises": [{"id": "E1", "machines": [machine, {**machine, "id": "M2"}]}]}
    )
    with pytest.raises(ValueError, match="more than a number can hold"):
        parse_capacity(raw)


@pytest.mark.parametrize(
    ("month", "day", "problem"),
    [
        (10**20, 1, "holidays[0].month: Input should be"),
        (-(10**20), 1, "holidays[0].month: Input should be"),
        (5, 10**20, "holidays[0].day: Input should be"),
    ],
)
def test_a_holiday_beyond_c_integers_is_a_value_error(month: int, day: int, problem: str) -> None:
    holiday = f'{{"name": "x", "month": {month}, "day": {day}}}'.encode()
    raw = b'{"enterprises": [], "holidays": [' + holiday + b"]}"
    with pytest.raises(ValueError, match=rf"^{re.escape(problem)}"):
        parse_registry(raw)
