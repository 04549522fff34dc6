"""What a check or an application of a CSV file found (ADR-9): data, shown by the CLI.

Every problem is ``(line, column, message)``: ``line`` is the 1-based line of the file
where the row starts, the header included (line 0 is the file as a whole: its size, the
quota); ``column`` is the header name, or "" for the row or the file. Generated
passwords are in the report once, never in its repr.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import NamedTuple
from uuid import UUID

from attrs import frozen

from application.csvfile import FILE, FORMULA_START, RowError


class CreatedRow(NamedTuple):
    """An address created, and its generated password: shown once, never in a repr."""

    address: str
    password: str | None

    def __repr__(self) -> str:
        return f"CreatedRow(address={self.address!r})"


@frozen
class BulkReport:
    """What a check or an application of a file found.

    ``ok``: no problem (after ``apply``: everything was created; after ``check``: applying
    would create everything, if nothing changes in between). ``rows``: the data rows
    read (blank lines excluded). ``applied``: this report comes from ``apply`` and the
    addresses exist. ``recovered``: they were created by an earlier run of the same file
    that did not get to show its report; the passwords come from its sealed copy.
    ``run_id``: the sealed copy to destroy (``BulkCreation.acknowledge``) once shown.
    """

    ok: bool
    rows: int
    errors: tuple[RowError, ...] = ()
    created: tuple[CreatedRow, ...] = ()
    applied: bool = False
    recovered: bool = False
    run_id: UUID | None = None

    def as_text(self) -> str:
        """For a person: the problems, or the addresses with their passwords (shown once)."""
        if self.errors:
            read = f" in a file of {self.rows} row(s)" if self.rows else ""
            lines = [f"nothing was created: {len(self.errors)} problem(s){read}:"]
            for line, column, message in self.errors:
                where = "file" if line == FILE else f"line {line}"
                if column:
                    where += f", column {column}"
                lines.append(f"  {where}: {message}")
            return "\n".join(lines) + "\n"
        if not self.applied:
            return (
                f"{self.rows} row(s) checked, no problem: applying the file creates "
                f"{self.rows} address(es).\n"
            )
        head = (
            f"created {len(self.created)} address(es); "
            "each password is shown this once, pass it on now:"
        )
        if self.recovered:
            head = (
                f"this file was applied already by a run that did not show its report: "
                f"the {len(self.created)} address(es) it created, each password shown "
                "this once, pass it on now:"
            )
        lines = [head]
        width = max((len(c.address) for c in self.created), default=0)
        for address, password in self.created:
            shown = password if password is not None else "(redirect: no password)"
            lines.append(f"  {address:<{width}}  {shown}")
        return "\n".join(lines) + "\n"

    def as_csv(self) -> str:
        """For a program: ``line,column,message`` rows if refused, else ``address,password``.

        Every cell is quoted, and one that a spreadsheet would run as a formula gets a
        leading ``'`` (OWASP). Generated passwords and created addresses never start with
        such a character, so they are never altered.
        """
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        if self.errors:
            writer.writerow(["line", "column", "message"])
            writer.writerows(
                [str(e.line), _neutral(e.column), _neutral(e.message)]
                for e in self.errors
            )
        else:
            writer.writerow(["address", "password"])
            writer.writerows(
                [_neutral(c.address), _neutral(c.password or "")] for c in self.created
            )
        return out.getvalue()


def _neutral(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def report_of(count: int, errors: Sequence[RowError]) -> BulkReport:
    """The report of a check, or of a refusal: the problems in the file's order."""
    ordered = tuple(sorted(errors, key=lambda e: e.line))
    return BulkReport(ok=not ordered, rows=count, errors=ordered)
