"""Line protocol for the storage schema (``docs/schema.md``): one function per kind of point,
and :func:`parse_production`, which reads a reading back from its line.

:func:`production_line` and :func:`pairs_correction_line` are on the hot path. They trust their
arguments: identifiers, ``boot`` and ``style`` were validated by the contract
(``[A-Za-z0-9_-]``), ``reason`` is a ``contract.StopReason``, so they need no escaping, and
numbers are numbers. The functions for rejected input take arbitrary text and escape it, so
nothing they are given can produce more than one line or change the meaning of one.

InfluxDB's escaping rules (1.x line protocol):

* measurement: ``,`` and space;
* tag keys, tag values, field keys: ``,``, ``=`` and space (a backslash is kept as is, so a tag
  value ending in a backslash, or holding a newline, cannot be written at all);
* string field values: in double quotes, with ``"`` and ``\\`` escaped;
* integers carry an ``i`` suffix; floats are plain numbers; booleans ``true``/``false``.
"""

import base64
import re
from typing import NamedTuple

PRODUCTION = "production"
REJECTED = "rejected"
GATEWAY = "gateway"

MAX_TEXT_CHARS = 1024
"""Longest ``topic`` and ``detail`` stored for a rejected message (longer text is cut)."""
MAX_PAYLOAD_BYTES = 1024
"""Most bytes of a rejected payload that are stored (``payload_size`` keeps the full size)."""
MAX_TAG_CHARS = 64

_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ "})
_KEY_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"'})

# Characters that end a line for some reader (str.splitlines, InfluxDB's "\n"), other control
# characters, and lone surrogates (not encodable as UTF-8).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.:/-]")


def production_time_ns(ts_ms: int, seq: int) -> int:
    """The point time of a reading: its millisecond stamp plus ``seq`` modulo 10^6, in ns.

    Readings stamped in the same millisecond stay distinct points; a redelivered reading gets the
    same time as its first delivery and overwrites itself.
    """
    return ts_ms * 1_000_000 + seq % 1_000_000


def production_line(
    enterprise: str,
    machine: str,
    ts_ms: int,
    seq: int,
    boot: str,
    pairs: int,
    pairs_total: int,
    state: str,
    style: str | None,
    rpm: float | None,
    counter_reset: bool = False,  # noqa: FBT001, FBT002 - a field value
    reason: str | None = None,
    rejects: int | None = None,
    rejects_total: int | None = None,
    nominal_pairs_per_hour: float | None = None,
    stopped_ms: dict[str, int] | None = None,
    stopped_ms_total: dict[str, int] | None = None,
) -> str:
    """A ``production`` point for a validated reading (no trailing newline); ``style``, when
    given, is a tag of the point.

    ``counter_reset`` adds ``counter_reset=1i``: the counter fell inside the boot. ``reason``
    (a ``contract.StopReason``) adds the string field ``reason``. ``rejects`` and
    ``rejects_total`` (the reading's rejects counter, accounted) add those integer fields,
    ``nominal_pairs_per_hour`` the float field (the rate of the reading's style).
    ``stopped_ms`` (accounted milliseconds stopped per reason) adds ``stopped_ms_<reason>``
    for each reason above 0, and ``stopped_ms_total`` (the reading's counters) the string field
    ``stopped_ms_total`` that the journal replays them from.
    """
    extra = "" if rpm is None else f",rpm={rpm!r}"
    if counter_reset:
        extra += ",counter_reset=1i"
    if reason is not None:
        extra += f',reason="{reason}"'
    if rejects is not None:
        extra += f",rejects={rejects}i,rejects_total={rejects_total}i"
    if nominal_pairs_per_hour is not None:
        extra += f",nominal_pairs_per_hour={float(nominal_pairs_per_hour)!r}"
    if stopped_ms is not None:
        extra += "".join([f",stopped_ms_{why}={ms}i" for why, ms in stopped_ms.items() if ms])
    if stopped_ms_total is not None:
        extra += f',stopped_ms_total="{format_stopped(stopped_ms_total)}"'
    tags = f"enterprise={enterprise},machine={machine}"
    if style is not None:
        tags += f",style={style}"
    return (
        f"production,{tags} "
        f'pairs={pairs}i,pairs_total={pairs_total}i,seq={seq}i,boot="{boot}",state="{state}"'
        f"{extra} {ts_ms * 1_000_000 + seq % 1_000_000}"
    )


def pairs_correction_line(
    enterprise: str,
    machine: str,
    time_ns: int,
    pairs: int,
    counter_reset: bool | None = None,  # noqa: FBT001 - a field value
    style: str | None = None,
) -> str:
    """A line rewriting only ``pairs`` of the stored point at ``time_ns`` (other fields stay).

    ``counter_reset`` (when not None) rewrites that mark too, as ``1i`` or ``0i``. ``style`` is
    the stored point's style tag (a point is its tag set and time).
    """
    mark = "" if counter_reset is None else f",counter_reset={int(counter_reset)}i"
    return f"production,{_tags(enterprise, machine, style)} pairs={pairs}i{mark} {time_ns}"


def rejects_correction_line(
    enterprise: str, machine: str, time_ns: int, rejects: int, style: str | None = None
) -> str:
    """A line rewriting only ``rejects`` of the stored point at ``time_ns`` (other fields stay)."""
    return f"production,{_tags(enterprise, machine, style)} rejects={rejects}i {time_ns}"


def stopped_correction_line(
    enterprise: str,
    machine: str,
    time_ns: int,
    stopped_ms: dict[str, int],
    style: str | None = None,
) -> str:
    """A line rewriting only the ``stopped_ms_<reason>`` fields of the stored point at
    ``time_ns`` (every reason the reading carried, 0 included)."""
    fields = ",".join(f"stopped_ms_{why}={ms}i" for why, ms in stopped_ms.items())
    return f"production,{_tags(enterprise, machine, style)} {fields} {time_ns}"


def format_stopped(totals: dict[str, int]) -> str:
    """``stopped_ms_total`` as a string field: ``yarn_break:1200;other:0`` (reasons are ids)."""
    return ";".join(f"{why}:{ms}" for why, ms in totals.items())


def parse_stopped(text: str) -> dict[str, int]:
    """The counters of :func:`format_stopped`'s text."""
    if not text:
        return {}
    pairs = (item.split(":") for item in text.split(";"))
    return {why: int(ms) for why, ms in pairs}


def _tags(enterprise: str, machine: str, style: str | None) -> str:
    tags = f"enterprise={enterprise},machine={machine}"
    return tags if style is None else f"{tags},style={style}"


def gateway_line(enterprise: str, online: bool, time_ns: int) -> str:  # noqa: FBT001 - a field value
    """A ``gateway`` point: whether the enterprise's gateway is connected."""
    return f"gateway,enterprise={enterprise} online={'true' if online else 'false'} {time_ns}"


def escape_measurement(name: str) -> str:
    """Escape a measurement name (``,`` and space)."""
    return name.translate(_MEASUREMENT_ESCAPES)


def escape_key(text: str) -> str:
    """Escape a tag key, tag value or field key (``,``, ``=`` and space).

    The text must be non-empty, hold no newline and not end with a backslash: InfluxDB has no
    escape for those. Use :func:`tag_value` for text from outside.
    """
    return text.translate(_KEY_ESCAPES)


def escape_string(text: str) -> str:
    """Escape a string field value's ``"`` and ``\\`` (without the surrounding quotes)."""
    return text.translate(_STRING_ESCAPES)


def _show(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """``text`` cut to ``limit`` characters, control characters written as ``\\xNN``/``\\uNNNN``.

    The result holds nothing that ends a line and is valid UTF-8; escape it with
    :func:`escape_string` before putting it between quotes.
    """
    return _UNPRINTABLE.sub(_show, text[:limit])


def tag_value(text: str) -> str:
    """A safe tag value for untrusted text: ``[A-Za-z0-9_.:/-]``, others become ``_``.

    Cut to 64 characters; empty text becomes ``unknown``. Such a value needs no escaping.
    """
    return _TAG_UNSAFE.sub("_", text[:MAX_TAG_CHARS]) or "unknown"


def encode_payload(payload: bytes | str) -> tuple[str, str]:
    """Return ``(text, encoding)`` storing at most :data:`MAX_PAYLOAD_BYTES` of ``payload``.

    Printable UTF-8 is kept as text (``utf-8``, cut at a character boundary); anything else is
    base64 of the first bytes (``base64``), so the stored payload always decodes back exactly.
    """
    data = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if _UNPRINTABLE.search(text) is None:
            return data[:MAX_PAYLOAD_BYTES].decode("utf-8", "ignore"), "utf-8"
    return base64.b64encode(data[:MAX_PAYLOAD_BYTES]).decode("ascii"), "base64"


def rejected_line(reason: str, topic: str, detail: str, payload: bytes | str, time_ns: int) -> str:
    """A ``rejected`` point; every argument but ``time_ns`` may be arbitrary (untrusted) text.

    Fields: ``topic`` and ``detail`` (printable, cut to 1024 characters), ``payload`` and
    ``payload_encoding`` (see :func:`encode_payload`), ``payload_size`` (bytes received).
    """
    size = len(payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload)
    text, encoding = encode_payload(payload)
    return (
        f"rejected,reason={tag_value(reason)} "
        f'topic="{escape_string(printable(topic))}",'
        f'detail="{escape_string(printable(detail))}",'
        f'payload="{escape_string(text)}",payload_encoding="{encoding}",'
        f"payload_size={size}i {time_ns}"
    )


class Record(NamedTuple):
    """A reading read back from its ``production`` line: what the collector's ledger keeps."""

    enterprise: str
    machine: str
    boot: str
    seq: int
    ts: int
    pairs_total: int
    rejects_total: int | None = None
    style: str | None = None
    stopped_ms_total: dict[str, int] | None = None


def parse_production(line: bytes) -> Record | None:
    """The reading in a ``production`` line of :func:`production_line`; None for other lines.

    The collector's journal (``collector.journal``) replays its batches with it.

    Raises ``ValueError`` for a ``production`` line that is not of the collector's own shape.
    """
    if not line.startswith(b"production,"):
        return None
    series, fields, time_ns = line.split(b" ")
    tags = dict(tag.split(b"=", 1) for tag in series.split(b",")[1:])
    values = dict(field.split(b"=", 1) for field in fields.split(b","))
    total = values.get(b"pairs_total")
    if total is None:
        return None  # a correction of an earlier point's ``pairs``
    seq = int(values[b"seq"][:-1])
    rejects = values.get(b"rejects_total")
    style = tags.get(b"style")
    stopped = values.get(b"stopped_ms_total")
    if style is None and b"style" in values:  # a line from before style became a tag
        style = values[b"style"][1:-1]
    return Record(
        tags[b"enterprise"].decode(),
        tags[b"machine"].decode(),
        values[b"boot"][1:-1].decode(),
        seq,
        (int(time_ns) - seq % 1_000_000) // 1_000_000,
        int(total[:-1]),
        None if rejects is None else int(rejects[:-1]),
        None if style is None else style.decode(),
        None if stopped is None else parse_stopped(stopped[1:-1].decode()),
    )
