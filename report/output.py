"""Writing report rows: CSV (text, times in RFC 3339 with the park's offset) or XLSX (typed
cells: numbers as numbers, times as Excel date-times in the park's clock, a bold header)."""

import csv
import datetime as dt
import io
from collections.abc import Sequence
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font

from contract.files import write_atomic
from report.rows import COLUMNS, Row, Value

SHEET = "report"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
RATIO_FORMAT = "0.0%"
RATIOS = frozenset({"availability", "performance", "quality", "oee"})


def _text(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):  # milliseconds only where there are (now)
        return value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")
    return str(value)


def csv_text(rows: Sequence[Row]) -> str:
    """The rows as CSV with a header; empty cells for values not known."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows([_text(v) for v in row.values] for row in rows)
    return out.getvalue()


def _cell(value: Value) -> Value:
    # Excel has no time zones: the park's wall clock, which the header names
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return value


def xlsx_bytes(rows: Sequence[Row], tz_name: str) -> bytes:
    """The rows as one worksheet; the time columns' headers name the park's clock."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # noqa: S101 - a new workbook always has its sheet
    sheet.title = SHEET
    header = [f"{c} ({tz_name})" if c.startswith("period_") and c != "period" else c
              for c in COLUMNS]  # fmt: skip
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([_cell(v) for v in row.values])
    for index, column in enumerate(COLUMNS, start=1):
        number_format = (
            DATETIME_FORMAT if column in ("period_start", "period_end")
            else RATIO_FORMAT if column in RATIOS
            else None
        )  # fmt: skip
        if number_format is None:
            continue
        for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
            cell.number_format = number_format
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def write_report(path: Path | None, rows: Sequence[Row], fmt: str, tz_name: str) -> bytes:
    """Write the report to ``path`` (replaced atomically; None: return only); its bytes."""
    data = xlsx_bytes(rows, tz_name) if fmt == "xlsx" else csv_text(rows).encode()
    if path is not None:
        write_atomic(path, data, fsync=False)
    return data
