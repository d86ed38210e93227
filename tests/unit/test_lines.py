"""Line protocol of the storage schema: exact lines, escaping, and hostile input in rejections."""

import base64

from hypothesis import given
from hypothesis import strategies as st

from contract import MachineState
from influx.lines import (
    MAX_PAYLOAD_BYTES,
    MAX_TEXT_CHARS,
    encode_payload,
    escape_key,
    escape_measurement,
    escape_string,
    gateway_line,
    pairs_correction_line,
    printable,
    production_line,
    production_time_ns,
    rejected_line,
    rejects_correction_line,
    tag_value,
)
from tests.support.line_protocol import parse_line


def test_production_line_has_every_field_and_the_derived_time() -> None:
    line = production_line(
        "ent-1", "m_7", 1_700_000_000_123, 42, "b0", 3, 1200, MachineState.RUNNING, "terry", 812.5
    )
    assert line == (
        "production,enterprise=ent-1,machine=m_7,style=terry "
        'pairs=3i,pairs_total=1200i,seq=42i,boot="b0",state="running",rpm=812.5 '
        "1700000000123000042"
    )


def test_production_line_leaves_out_missing_style_and_rpm() -> None:
    bare = production_line("e", "m", 5, 1, "b", 0, 0, "idle", None, None)
    assert bare == (
        "production,enterprise=e,machine=m "
        'pairs=0i,pairs_total=0i,seq=1i,boot="b",state="idle" 5000001'
    )
    assert production_line("e", "m", 5, 1, "b", 0, 0, "idle", "s", None) == (
        "production,enterprise=e,machine=m,style=s "
        'pairs=0i,pairs_total=0i,seq=1i,boot="b",state="idle" 5000001'
    )
    assert production_line("e", "m", 5, 1, "b", 0, 0, "idle", None, 3.0).endswith(
        ',state="idle",rpm=3.0 5000001'
    )


def test_an_integer_rpm_is_still_written_as_a_float() -> None:
    line = production_line("e", "m", 5, 1, "b", 0, 0, "idle", None, 1200)  # type: ignore[arg-type]
    assert parse_line(line)[2]["rpm"] == 1200.0
    assert ",rpm=1200 " in line  # no "i" suffix: InfluxDB reads a float


def test_time_keeps_readings_of_one_millisecond_apart_and_wraps_seq() -> None:
    assert production_time_ns(1000, 0) == 1_000_000_000
    assert production_time_ns(1000, 1) == 1_000_000_001
    assert production_time_ns(1000, 999_999) == 1_000_999_999
    assert production_time_ns(1000, 1_000_000) == 1_000_000_000
    assert production_time_ns(1000, 1_000_007) == 1_000_000_007
    line = production_line("e", "m", 1000, 1_000_007, "b", 0, 0, "off", None, None)
    assert line.endswith(" 1000000007")


def test_correction_line_carries_only_pairs() -> None:
    assert pairs_correction_line("e", "m", 1_000_000_007, 4) == (
        "production,enterprise=e,machine=m pairs=4i 1000000007"
    )


def test_counter_reset_mark_on_a_reading_and_in_a_correction() -> None:
    line = production_line("e", "m", 5, 1, "b", 4, 4, "running", "s", 2.0, counter_reset=True)
    assert line.endswith(',state="running",rpm=2.0,counter_reset=1i 5000001')
    assert line.startswith("production,enterprise=e,machine=m,style=s ")
    assert parse_line(line)[2]["counter_reset"] == 1
    assert "counter_reset" not in production_line("e", "m", 5, 1, "b", 4, 4, "idle", None, None)
    assert pairs_correction_line("e", "m", 7, 4, counter_reset=False) == (
        "production,enterprise=e,machine=m pairs=4i,counter_reset=0i 7"
    )
    assert pairs_correction_line("e", "m", 7, 4, counter_reset=True).endswith(
        "pairs=4i,counter_reset=1i 7"
    )


def test_gateway_line() -> None:
    assert gateway_line("ent", True, 12) == "gateway,enterprise=ent online=true 12"
    assert gateway_line("ent", False, 13) == "gateway,enterprise=ent online=false 13"


def test_escaping_rules() -> None:
    assert escape_measurement("a b,c=d") == r"a\ b\,c=d"
    assert escape_key("a b,c=d") == r"a\ b\,c\=d"
    assert escape_string('say "hi" \\o/') == r"say \"hi\" \\o/"


def test_printable_shows_control_characters_and_cuts() -> None:
    assert printable("a\nb\r\x00\x85\u2028\ud800") == r"a\x0ab\x0d\x00\x85\u2028\ud800"
    assert printable("x" * 5000) == "x" * MAX_TEXT_CHARS


def test_tag_value_keeps_codes_and_replaces_everything_else() -> None:
    assert tag_value("malformed_json") == "malformed_json"
    assert tag_value("a b,c=d\\\n") == "a_b_c_d__"
    assert tag_value("") == "unknown"
    assert len(tag_value("r" * 500)) == 64


def test_payload_is_text_when_printable_utf8_else_base64() -> None:
    assert encode_payload(b'{"ts": 1}') == ('{"ts": 1}', "utf-8")
    assert encode_payload('{"é": "ü"}') == ('{"é": "ü"}', "utf-8")
    assert encode_payload(b"\xff\xfe") == (base64.b64encode(b"\xff\xfe").decode(), "base64")
    assert encode_payload(b'{\n"a": 1}') == (base64.b64encode(b'{\n"a": 1}').decode(), "base64")


def test_long_payload_is_cut_at_a_character_boundary() -> None:
    payload = ("é" * 1000).encode()  # 2000 bytes, 2 bytes per character
    text, encoding = encode_payload(payload + b"x")
    assert encoding == "utf-8"
    assert text == "é" * (MAX_PAYLOAD_BYTES // 2)
    text, encoding = encode_payload(b"a" + payload)  # the cut falls inside a character
    assert encoding == "utf-8"
    assert text == "a" + "é" * ((MAX_PAYLOAD_BYTES - 1) // 2)
    binary = bytes(range(256)) * 8
    text, encoding = encode_payload(binary)
    assert encoding == "base64"
    assert base64.b64decode(text) == binary[:MAX_PAYLOAD_BYTES]


def test_rejected_line_fields() -> None:
    line = rejected_line("malformed_json", "hosiery/v1/e/m/counter", 'bad "json"', b"\xff{", 77)
    measurement, tags, fields, time_ns = parse_line(line)
    assert (measurement, tags, time_ns) == ("rejected", {"reason": "malformed_json"}, 77)
    assert fields == {
        "topic": "hosiery/v1/e/m/counter",
        "detail": 'bad "json"',
        "payload": base64.b64encode(b"\xff{").decode(),
        "payload_encoding": "base64",
        "payload_size": 2,
    }


def test_rejected_line_survives_a_hostile_string_that_ends_in_a_backslash() -> None:
    line = rejected_line("r", 'topic" x=1i\\', "d\\", 'p\\"\\', 1)
    assert parse_line(line)[2] == {
        "topic": 'topic" x=1i\\',
        "detail": "d\\",
        "payload": 'p\\"\\',
        "payload_encoding": "utf-8",
        "payload_size": 4,
    }


def _decode(text: object, encoding: object) -> bytes:
    assert isinstance(text, str)
    return base64.b64decode(text) if encoding == "base64" else text.encode()


@given(
    reason=st.text(),
    topic=st.text(),
    detail=st.text(),
    payload=st.one_of(st.binary(max_size=3000), st.text(max_size=1500)),
    time_ns=st.integers(min_value=0, max_value=2**62),
)
def test_any_rejection_is_one_line_that_parses_back(
    reason: str, topic: str, detail: str, payload: bytes | str, time_ns: int
) -> None:
    line = rejected_line(reason, topic, detail, payload, time_ns)
    assert len(line.splitlines()) == 1
    assert "\n" not in line
    line.encode("utf-8")  # strict: no lone surrogates
    measurement, tags, fields, parsed_time = parse_line(line)
    assert measurement == "rejected"
    assert tags == {"reason": tag_value(reason)}
    assert parsed_time == time_ns
    assert fields["topic"] == printable(topic)
    assert fields["detail"] == printable(detail)
    raw = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
    assert fields["payload_size"] == len(raw)
    stored = _decode(fields["payload"], fields["payload_encoding"])
    assert raw.startswith(stored)
    assert len(stored) >= min(len(raw), MAX_PAYLOAD_BYTES) - 3


def test_stop_reason_is_a_string_field() -> None:
    line = production_line("e", "m", 5, 1, "b", 0, 4, "fault", None, None, reason="needle_break")
    assert line.endswith(',reason="needle_break" 5000001')
    tags, fields = parse_line(line)[1:3]
    assert fields["reason"] == "needle_break"
    assert "reason" not in tags
    assert "reason" not in production_line("e", "m", 5, 1, "b", 0, 4, "idle", None, None)


def test_corrections_name_the_style_tag_of_the_point_they_rewrite() -> None:
    assert pairs_correction_line("e", "m", 7, 4, None, "terry") == (
        "production,enterprise=e,machine=m,style=terry pairs=4i 7"
    )
    assert rejects_correction_line("e", "m", 7, 1, "terry") == (
        "production,enterprise=e,machine=m,style=terry rejects=1i 7"
    )
    assert (
        rejects_correction_line("e", "m", 7, 1) == "production,enterprise=e,machine=m rejects=1i 7"
    )
