"""Validation: one table row per rejection reason, and the accepted shapes."""

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.validate import Ignored, Limits, Reading, Reason, Rejection, Status, Validator
from contract import InvalidIdError, MachineState, StopReason, TopicError, TopicKind, parse_topic

NOW = 1_800_000_000_000
TOPIC = "hosiery/v1/E0001/M001/counter"


def payload(**overrides: object) -> bytes:
    body: dict[str, object] = {
        "ts": NOW - 1000,
        "seq": 7,
        "boot": "b-1",
        "pairs_total": 120,
        "state": "running",
        "style": "plain-cotton-short",
        "rpm": 220.5,
    }
    body.update(overrides)
    return orjson.dumps({k: v for k, v in body.items() if v is not ...})


def test_valid_reading() -> None:
    verdict = Validator().validate(TOPIC, payload(extra="ignored"), NOW)
    assert isinstance(verdict, Reading)
    assert (verdict.enterprise, verdict.machine) == ("E0001", "M001")
    assert verdict.data.pairs_total == 120
    assert verdict.data.state is MachineState.RUNNING


def test_stopped_ms_total_is_optional_per_reason_counters() -> None:
    bare = Validator().validate(TOPIC, payload(), NOW)
    assert isinstance(bare, Reading)
    assert bare.data.stopped_ms_total is None
    full = Validator().validate(TOPIC, payload(stopped_ms_total={"yarn_break": 1200}), NOW)
    assert isinstance(full, Reading)
    assert full.data.stopped_ms_total == {StopReason.YARN_BREAK: 1200}


def test_rejects_total_is_optional_and_at_most_the_pairs() -> None:
    bare = Validator().validate(TOPIC, payload(), NOW)
    assert isinstance(bare, Reading)
    assert bare.data.rejects_total is None
    full = Validator().validate(TOPIC, payload(rejects_total=120), NOW)
    assert isinstance(full, Reading)
    assert full.data.rejects_total == 120
    refused = Validator().validate(TOPIC, payload(rejects_total=121), NOW)
    assert refused == Rejection(
        Reason.INVALID_VALUE, "Value error, rejects_total 121 is more than pairs_total 120"
    )


def test_optional_fields_may_be_absent() -> None:
    verdict = Validator().validate(TOPIC, payload(style=..., rpm=...), NOW)
    assert isinstance(verdict, Reading)
    assert verdict.data.style is None


@pytest.mark.parametrize("reason", list(StopReason))
@pytest.mark.parametrize("state", ["idle", "fault", "maintenance"])
def test_every_stop_reason_is_accepted_while_stopped(reason: StopReason, state: str) -> None:
    verdict = Validator().validate(TOPIC, payload(state=state, reason=reason.value), NOW)
    assert isinstance(verdict, Reading)
    assert verdict.data.reason is reason


def test_a_stop_without_reason_omits_it_or_sends_null() -> None:
    for body in (payload(state="idle"), payload(state="idle", reason=None)):
        verdict = Validator().validate(TOPIC, body, NOW)
        assert isinstance(verdict, Reading)
        assert verdict.data.reason is None


@pytest.mark.parametrize(
    ("topic", "body", "reason"),
    [
        ("hosiery/v1/E0001/M001/temperature", payload(), Reason.UNKNOWN_TOPIC),
        ("hosiery/v2/E0001/M001/counter", payload(), Reason.UNKNOWN_TOPIC),
        # An unknown topic whose text says " id " is still an unknown topic (the type decides).
        ("hosiery/v1/E0001/an id here/temperature", payload(), Reason.UNKNOWN_TOPIC),
        ("hosiery/v1/E 01/M001/counter", payload(), Reason.INVALID_ID),
        ("hosiery/v1/E0001/M\u00e9/counter", payload(), Reason.INVALID_ID),
        ("hosiery/v1/" + "E" * 65 + "/M001/counter", payload(), Reason.INVALID_ID),
        (TOPIC, b"{not json", Reason.MALFORMED_JSON),
        (TOPIC, b"[1, 2]", Reason.MALFORMED_JSON),
        (TOPIC, b"\xff\xfe", Reason.MALFORMED_JSON),
        (TOPIC, b"", Reason.MALFORMED_JSON),
        (TOPIC, payload(seq=...), Reason.MISSING_FIELD),
        (TOPIC, payload(pairs_total="12"), Reason.WRONG_TYPE),
        (TOPIC, payload(ts=1.5), Reason.WRONG_TYPE),
        (TOPIC, payload(seq=True), Reason.WRONG_TYPE),
        (TOPIC, payload(pairs_total=-1), Reason.OUT_OF_RANGE),
        (TOPIC, payload(pairs_total=10**12), Reason.OUT_OF_RANGE),
        (TOPIC, payload(rpm=-3), Reason.OUT_OF_RANGE),
        (TOPIC, payload(rejects_total=-1), Reason.OUT_OF_RANGE),
        (TOPIC, payload(rejects_total=10**12), Reason.OUT_OF_RANGE),
        (TOPIC, payload(rejects_total="3"), Reason.WRONG_TYPE),
        (TOPIC, payload(rejects_total=1.5), Reason.WRONG_TYPE),
        (TOPIC, payload(stopped_ms_total={"coffee_break": 1}), Reason.UNKNOWN_STOP_REASON),
        (TOPIC, payload(stopped_ms_total={"yarn_break": -1}), Reason.OUT_OF_RANGE),
        (TOPIC, payload(stopped_ms_total={"yarn_break": 2**53 + 1}), Reason.OUT_OF_RANGE),
        (TOPIC, payload(stopped_ms_total={"yarn_break": "5"}), Reason.WRONG_TYPE),
        (TOPIC, payload(stopped_ms_total={"yarn_break": 1.5}), Reason.WRONG_TYPE),
        (TOPIC, payload(stopped_ms_total=[1]), Reason.WRONG_TYPE),
        (TOPIC, payload(rejects_total=121), Reason.INVALID_VALUE),
        (TOPIC, payload(state="dancing"), Reason.INVALID_VALUE),
        (TOPIC, payload(boot="has space"), Reason.INVALID_VALUE),
        (TOPIC, payload(style='x",y=1'), Reason.INVALID_VALUE),
        (TOPIC, payload(state="idle", reason="lunch"), Reason.UNKNOWN_STOP_REASON),
        (TOPIC, payload(state="fault", reason="Yarn_Break"), Reason.UNKNOWN_STOP_REASON),
        (TOPIC, payload(state="fault", reason=3), Reason.UNKNOWN_STOP_REASON),
        (TOPIC, payload(state="running", reason="yarn_break"), Reason.INVALID_VALUE),
        (TOPIC, payload(state="off", reason="other"), Reason.INVALID_VALUE),
        (TOPIC, payload(ts=NOW + 3_600_000), Reason.TS_IN_FUTURE),
        (TOPIC, payload(ts=NOW - 30 * 24 * 3_600_000), Reason.TS_TOO_OLD),
        (TOPIC, payload(junk="x" * 5000), Reason.OVERSIZED),
        ("hosiery/v1/E0001/status", b'{"online": "yes"}', Reason.WRONG_TYPE),
    ],
)
def test_rejections(topic: str, body: bytes, reason: Reason) -> None:
    verdict = Validator().validate(topic, body, NOW)
    assert isinstance(verdict, Rejection)
    assert verdict.reason is reason
    assert verdict.detail


def test_gateway_status() -> None:
    verdict = Validator().validate("hosiery/v1/E0001/status", b'{"online": false}', NOW)
    assert isinstance(verdict, Status)
    assert verdict.enterprise == "E0001"
    assert verdict.data.online is False


@pytest.mark.parametrize(
    ("topic", "kind"),
    [
        ("hosiery/v1/E0001/M001/alert", TopicKind.ALERT),
        ("hosiery/v1/_rejected", TopicKind.REJECTED),
    ],
)
def test_own_topics_are_ignored(topic: str, kind: TopicKind) -> None:
    assert Validator().validate(topic, b"anything", NOW) == Ignored(kind)


def test_limits_are_configurable() -> None:
    validator = Validator(Limits(max_future_ms=0, max_age_ms=10, max_payload_bytes=10_000))
    verdict = validator.validate(TOPIC, payload(ts=NOW - 11), NOW)
    assert isinstance(verdict, Rejection)
    assert verdict.reason is Reason.TS_TOO_OLD


def test_topic_cache_is_bounded() -> None:
    validator = Validator(topic_cache_size=3)
    for i in range(10):
        validator.validate(f"hosiery/v1/E{i}/M001/counter", payload(), NOW)
    assert len(validator._topics) <= 3


@given(st.binary(max_size=300), st.text(max_size=80))
def test_arbitrary_input_is_classified_never_raised(body: bytes, topic: str) -> None:
    verdict = Validator().validate(topic, body, NOW)
    assert isinstance(verdict, Reading | Status | Rejection | Ignored)


def test_summary_topic_is_the_collectors_own() -> None:
    assert Validator().validate("hosiery/v1/_summary", b"{}", NOW) == Ignored(TopicKind.SUMMARY)


@pytest.mark.parametrize(
    "topic",
    ["hosiery/v1/E 01/status", "hosiery/v1/E 01/M001/counter", "hosiery/v1/E0001/M.1/alert"],
)
def test_a_bad_id_in_a_topic_raises_an_invalid_id_error(topic: str) -> None:
    with pytest.raises(InvalidIdError) as raised:
        parse_topic(topic)
    assert isinstance(raised.value, TopicError)


def test_an_unknown_topic_is_not_an_invalid_id_error() -> None:
    with pytest.raises(TopicError) as raised:
        parse_topic("hosiery/v1/E0001/an id here/temperature")
    assert not isinstance(raised.value, InvalidIdError)


def test_invalid_topics_are_not_cached_and_their_detail_is_short() -> None:
    validator = Validator()
    now = 1_800_000_000_000
    for i in range(1000):
        verdict = validator.validate(f"hosiery/v1/E0001/{'x' * 8000}{i}/counter", b"{}", now)
        assert isinstance(verdict, Rejection)
        assert verdict.reason is Reason.INVALID_ID
        assert len(verdict.detail) <= 300
    assert validator.cached_topics == 0
    assert isinstance(validator.validate("hosiery/v1/E0001/M001/counter", b"{}", now), Rejection)
    assert validator.cached_topics == 1
