"""What a check or an application of a CSV file found (ADR-9): data, shown by the CLI.

Every problem is ``(line, column, message)``: ``line`` is the 1-based line of the file
where the row starts, the header included (line 0 is the file as a whole: its size, the
quota); ``column`` is the header name, or "" for the row or the file. Generated
passwords are in the report once, never in its repr.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple
from uuid import UUID

from attrs import frozen

from application.csvfile import RowError


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


def report_of(count: int, errors: Sequence[RowError]) -> BulkReport:
    """The report of a check, or of a refusal: the problems in the file's order."""
    ordered = tuple(sorted(errors, key=lambda e: e.line))
    return BulkReport(ok=not ordered, rows=count, errors=ordered)
