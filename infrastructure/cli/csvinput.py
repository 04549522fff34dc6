"""What the two CSV commands (address import-csv, import batch) share: reading the file
and wording its problems, so both name a bad line and column the same way."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from application.csvfile import FILE, MAX_FILE_BYTES
from domain.errors import InvalidInput


def read_csv_file(path: Path, label: str) -> bytes:
    """At most one byte past the limit: a huge file (or /dev/zero) is not read whole."""
    try:
        with path.open("rb") as f:
            return f.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise InvalidInput(f"{label}: cannot read {path}: {error.strerror}") from None


def problems_lines(
    outcome: str, errors: Sequence[tuple[int, str, str]], rows: int
) -> list[str]:
    """``nothing was <outcome>: N problem(s)``, then one line per problem, where first."""
    read = f" in a file of {rows} row(s)" if rows else ""
    lines = [f"nothing was {outcome}: {len(errors)} problem(s){read}:"]
    for line, column, message in errors:
        where = "file" if line == FILE else f"line {line}"
        if column:
            where += f", column {column}"
        lines.append(f"  {where}: {message}")
    return lines
