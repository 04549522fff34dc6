"""A CSV import's report as the command line shows it (``infrastructure/cli/bulkreport.py``)."""

from __future__ import annotations

import csv
import io

from application.bulkreport import BulkReport, CreatedRow
from application.csvfile import FILE, RowError
from infrastructure.cli.bulkreport import report_csv, report_json, report_text

REFUSED = BulkReport(
    ok=False,
    rows=3,
    errors=(
        RowError(FILE, "", "quota exceeded"),
        RowError(3, "address", "=HYPERLINK(1)"),
    ),
)
CREATED = BulkReport(
    ok=True,
    rows=2,
    applied=True,
    created=(CreatedRow("a@example.org", "pw-1"), CreatedRow("team@example.org", None)),
)


def test_a_refused_file_names_each_problem_by_line_and_column() -> None:
    # rule ADR-9
    assert report_text(REFUSED) == (
        "nothing was created: 2 problem(s) in a file of 3 row(s):\n"
        "  file: quota exceeded\n"
        "  line 3, column address: =HYPERLINK(1)\n"
    )


def test_a_checked_file_says_what_applying_it_creates() -> None:
    # rule ADR-9
    assert report_text(BulkReport(ok=True, rows=2)) == (
        "2 row(s) checked, no problem: applying the file creates 2 address(es).\n"
    )


def test_created_addresses_are_listed_with_their_passwords_once() -> None:
    # rule SEC-6
    assert report_text(CREATED) == (
        "created 2 address(es); each password is shown this once, pass it on now:\n"
        "  a@example.org     pw-1\n"
        "  team@example.org  (redirect: no password)\n"
    )
    recovered = BulkReport(ok=True, rows=1, applied=True, recovered=True)
    assert report_text(recovered).startswith(
        "this file was applied already by a run that did not show its report: the 0"
    )


def test_csv_cells_are_quoted_and_a_formula_is_defused() -> None:
    # rule ADR-9 (OWASP CSV injection)
    assert list(csv.reader(io.StringIO(report_csv(REFUSED), newline=""))) == [
        ["line", "column", "message"],
        ["0", "", "quota exceeded"],
        ["3", "address", "'=HYPERLINK(1)"],
    ]
    assert report_csv(CREATED) == (
        '"address","password"\r\n"a@example.org","pw-1"\r\n"team@example.org",""\r\n'
    )


def test_json_holds_every_fact() -> None:
    assert report_json(REFUSED) == {
        "ok": False,
        "rows": 3,
        "recovered": False,
        "errors": [[0, "", "quota exceeded"], [3, "address", "=HYPERLINK(1)"]],
        "created": [],
    }
