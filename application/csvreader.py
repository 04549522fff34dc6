"""Reading the data rows of a split CSV file: what every file's rows have in common.

The address file (application/csvrows.py) and the batch-import file
(application/importrows.py) read their cells differently, but count rows, refuse a
row that cannot be read or has more cells than the header, report a value in a cell
without a column, and name an empty file the same way: here, once.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

from application.csvfile import (
    FILE,
    FORMULA_START,
    MAX_FIELD,
    Record,
    RowError,
    csv_problem,
    quoted,
)
from domain.text import forbidden_character

Row = TypeVar("Row")


class RowReader(Generic[Row]):
    """Reads the data rows one by one, keeping each row it made and each problem.

    A file's reader says in :meth:`take` what one row's cells become.
    """

    def __init__(self, columns: tuple[str, ...]) -> None:
        self.columns = columns
        self.rows: list[Row] = []
        self.errors: list[RowError] = []
        self.count = 0

    def read_all(
        self, body: Iterable[Record]
    ) -> tuple[tuple[Row, ...], int, tuple[RowError, ...]]:
        """The rows made, the rows counted and the problems, in the order met."""
        for record in body:
            self.read(record)
        if self.count == 0:
            self.errors.append(RowError(FILE, "", "the file has a header but no rows"))
        return tuple(self.rows), self.count, tuple(self.errors)

    def read(self, record: Record) -> None:
        line, cells = record
        self.count += 1
        if isinstance(cells, csv.Error):
            self.error(line, "", csv_problem(cells))
            return
        if len(cells) > len(self.columns) and any(
            c.strip() for c in cells[len(self.columns) :]
        ):
            self.error(
                line,
                "",
                f"the row has {len(cells):,} cells but the header {len(self.columns)} "
                "columns: quote a cell that holds the delimiter",
            )
            return
        self.take(line, cells)

    def take(self, line: int, cells: list[str]) -> None:
        """One readable row's cells, as many as the header's columns at most."""
        raise NotImplementedError

    def named_cells(self, line: int, cells: list[str]) -> Iterator[tuple[str, str]]:
        """Each cell under a named column, with its column's name.

        A value in a cell without a column is reported as it is met (the file is not
        what its author thinks), so the row's problems stay in the order of its cells.
        """
        for position, raw in enumerate(cells):
            name = self.columns[position] if position < len(self.columns) else ""
            if name:
                yield name, raw
            elif raw.strip():
                self.error(
                    line,
                    "",
                    f"cell {position + 1} has a value but its column has no name "
                    "in the header",
                )

    def error(self, line: int, column: str, message: str) -> None:
        self.errors.append(RowError(line, column, message))


def cell_problem(raw: str, *, password: bool = False, show: bool = False) -> str | None:
    """Why a cell is refused whatever its column, or None.

    A password cell is checked for what would break its transport only, and its value
    or the place of a bad character is never named (the cell is a secret). ``show``
    quotes the value in the refusal of a formula.
    """
    if len(raw) > MAX_FIELD:
        return f"the cell is {len(raw):,} characters long; at most {MAX_FIELD:,}"
    if "\x00" in raw:
        return "the cell contains a NUL byte"
    if password:
        bad = forbidden_character(raw) is not None
        return "the password contains a control character" if bad else None
    if raw.startswith(("\t", "\r")):
        return (
            "the cell begins with a tab or carriage return, which a spreadsheet may run "
            "as a formula"
        )
    value = raw.strip()
    control = forbidden_character(value)
    if control is not None:
        return f"the cell contains the control character {control}"
    return formula_problem(value, f"the cell {quoted(value)}" if show else "the cell")


def formula_problem(value: str, what: str) -> str | None:
    """A refusal of ``value`` (named ``what``) if a spreadsheet would run it, or None."""
    if value.startswith(FORMULA_START):
        return (
            f"{what} begins with {value[0]!r}, which makes a spreadsheet run it as a "
            "formula; not accepted"
        )
    return None
