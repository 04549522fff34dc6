"""A CSV file of addresses as bytes (ADR-9): decoded, split into records, its header read.

- **Encoding**: UTF-8. A UTF-8 byte-order mark is accepted and stripped. Anything else
  is refused, naming the line and byte offset of the first byte that is not UTF-8 (a
  UTF-16 file is named as such): save the sheet as "CSV UTF-8".
- **Size**: at most 10 MiB, 100,000 rows, and 1,024 characters per cell.
- **Header**: the first non-blank line names the columns (:data:`COLUMNS`), in any
  order, compared without case and surrounding spaces. Any other column is refused and
  named, a ``password`` column too: passwords are generated, never read from a file.
- **Delimiter**: ``,``; a header line that has ``;`` and no ``,`` makes ``;`` the
  delimiter (spreadsheets in decimal-comma locales save CSV that way). Quoting is
  RFC 4180's: a cell holding the delimiter, a quote or a line break is wrapped in ``"``
  and its quotes doubled.
- **Rows**: blank lines and rows whose cells are all empty are skipped.

Nothing here reads a cell's meaning (application/csvrows.py does): a file over a limit
is refused before any row is checked.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections import Counter
from collections.abc import Iterator
from typing import NamedTuple

from attrs import frozen

from domain.address import shown

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_ROWS = 100_000
MAX_FIELD = 1_024
COLUMNS = ("address", "kind", "users", "targets", "signature")
# OWASP "CSV injection": a cell starting with one of these runs as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FILE = 0  # the line number of a problem of the file as a whole
MAX_NAMED = 10  # unknown columns named in one message
SHOWN_CELL = 60  # characters of a cell quoted in a message

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
CSV_FIELD_LIMIT_MESSAGE = "field larger than field limit"

# A record: the line it starts on, and its cells or why it is not CSV.
Record = tuple[int, list[str] | csv.Error]


class RowError(NamedTuple):
    """One problem: the line where the row starts (0: the file), its column ("": none)."""

    line: int
    column: str
    message: str


@frozen
class Records:
    """The header's column name at each position ("" if unnamed), and the data records."""

    columns: tuple[str, ...]
    body: tuple[Record, ...]


@frozen
class Refused:
    """The file is refused as a whole; ``count``: the data rows it was seen to have."""

    errors: tuple[RowError, ...]
    count: int = 0


def split_file(
    data: bytes,
    *,
    columns: tuple[str, ...] = COLUMNS,
    required: str = "address",
) -> Records | Refused:
    """The header and the data records, or the file's refusal.

    ``columns`` and ``required`` are the address file's unless another file of this
    format (the batch import's, application/importbatch.py) names its own.
    """
    text = _decode(data)
    if isinstance(text, RowError):
        return Refused((text,))
    records = _records(text, _delimiter(text))
    header = next(records, None)
    if header is None:
        return _refused(FILE, _empty(columns))
    line, cells = header
    if isinstance(cells, csv.Error):
        return _refused(line, csv_problem(cells))
    names, problems = _columns(cells, columns, required)
    if problems:
        return Refused(tuple(RowError(line, "", p) for p in problems))
    body = tuple(itertools.islice(records, MAX_ROWS + 1))
    if len(body) > MAX_ROWS:
        line = body[-1][0]
        return _refused(
            line,
            f"the file has more than {MAX_ROWS:,} rows (row {MAX_ROWS + 1:,} is on "
            f"line {line:,}): split it",
            count=len(body),
        )
    return Records(tuple(names), body)


def csv_problem(error: csv.Error) -> str:
    """Why a record is not CSV, said so that a spreadsheet user can fix it."""
    if CSV_FIELD_LIMIT_MESSAGE in str(error):
        return f"a cell is far longer than {MAX_FIELD:,} characters"
    return (
        f"the line is not valid CSV ({error}): wrap a cell holding the delimiter, a quote "
        "or a line break in double quotes, and double the quotes inside it"
    )


def quoted(value: str) -> str:
    """A cell as messages quote it: escaped, and cut when long."""
    return shown(value, limit=SHOWN_CELL)


def _refused(line: int, message: str, *, count: int = 0) -> Refused:
    return Refused((RowError(line, "", message),), count)


def _empty(columns: tuple[str, ...]) -> str:
    example = ",".join(columns)
    return f"the file is empty: its first line must be the header, e.g. {example}"


def _decode(data: bytes) -> str | RowError:
    if len(data) > MAX_FILE_BYTES:
        return RowError(
            FILE,
            "",
            f"the file is {len(data):,} bytes; at most {MAX_FILE_BYTES:,} (10 MiB): "
            "split it",
        )
    if data.startswith(UTF16_BOMS):
        return RowError(
            1, "", "the file is UTF-16, not UTF-8: save it as CSV UTF-8 and try again"
        )
    body = data.removeprefix(UTF8_BOM)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as e:
        offset = e.start + (len(data) - len(body))
        before = data[:offset].replace(b"\r\n", b"\n")
        line = before.count(b"\n") + before.count(b"\r") + 1
        return RowError(
            line,
            "",
            f"the file is not UTF-8: byte 0x{data[offset]:02X} at offset {offset:,} "
            "is not valid UTF-8; save the file as CSV UTF-8",
        )


def _delimiter(text: str) -> str:
    """``;`` when the header line has ``;`` and no ``,``; else ``,``."""
    for line in io.StringIO(text, newline=""):
        if line.strip():
            return ";" if ";" in line and "," not in line else ","
    return ","


def _records(text: str, delimiter: str) -> Iterator[Record]:
    """Each record with the line it starts on; malformed ones as their csv.Error."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield start, e
            if reader.line_num < start:  # pragma: no cover - the reader always moves on
                return
            continue
        if not _blank(cells):
            yield start, cells


def _blank(cells: list[str] | csv.Error) -> bool:
    return isinstance(cells, list) and all(not c.strip() for c in cells)


def _columns(
    cells: list[str], columns: tuple[str, ...], required: str
) -> tuple[list[str], list[str]]:
    """The column name of each position ("" for an unnamed one), and what is wrong."""
    names = [cell.strip().casefold() for cell in cells]
    problems: list[str] = []
    unknown = list(dict.fromkeys(n for n in names if n and n not in columns))
    if unknown:
        problems.append(_unknown_columns(unknown, columns))
    counts = Counter(n for n in names if n in columns)
    twice = sorted(n for n, seen in counts.items() if seen > 1)
    if twice:
        problems.append(
            f"column(s) {', '.join(twice)} appear more than once in the header"
        )
    if required not in names:
        problems.append(
            f"the header has no {required} column (required); the first line must be "
            f"the header, e.g. {','.join(columns)}"
        )
    return names, problems


def _unknown_columns(unknown: list[str], columns: tuple[str, ...]) -> str:
    hint = (
        "; passwords are not taken from a file, they are generated and shown once"
        if "password" in unknown
        else ""
    )
    shown_names = ", ".join(quoted(n) for n in unknown[:MAX_NAMED])
    more = f" and {len(unknown) - MAX_NAMED:,} more" if len(unknown) > MAX_NAMED else ""
    return (
        f"unknown column(s) {shown_names}{more}: the columns are "
        f"{', '.join(columns)}{hint}"
    )
