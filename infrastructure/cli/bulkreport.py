"""A CSV import's report as ``mailhost address import-csv`` shows it: text, CSV, JSON.

The report holds the passwords of the addresses it created (SEC-6): each is shown
this once, on purpose, by these functions, and never by a log or an error message.
"""

from __future__ import annotations

import csv
import io

from application.bulkreport import BulkReport
from application.csvfile import FORMULA_START
from infrastructure.cli.csvinput import problems_lines


def report_text(report: BulkReport) -> str:
    """For a person: the problems, or the addresses with their passwords (shown once)."""
    if report.errors:
        return _problems_text(report)
    if not report.applied:
        return (
            f"{report.rows} row(s) checked, no problem: applying the file creates "
            f"{report.rows} address(es).\n"
        )
    head = (
        f"created {len(report.created)} address(es); "
        "each password is shown this once, pass it on now:"
    )
    if report.recovered:
        head = (
            f"this file was applied already by a run that did not show its report: "
            f"the {len(report.created)} address(es) it created, each password shown "
            "this once, pass it on now:"
        )
    lines = [head]
    width = max((len(c.address) for c in report.created), default=0)
    for address, password in report.created:
        shown = password if password is not None else "(redirect: no password)"
        lines.append(f"  {address:<{width}}  {shown}")
    return "\n".join(lines) + "\n"


def _problems_text(report: BulkReport) -> str:
    return "\n".join(problems_lines("created", report.errors, report.rows)) + "\n"


def report_csv(report: BulkReport) -> str:
    """For a program: ``line,column,message`` rows if refused, else ``address,password``.

    Every cell is quoted, and one that a spreadsheet would run as a formula gets a
    leading ``'`` (OWASP). Generated passwords and created addresses never start with
    such a character, so they are never altered.
    """
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    if report.errors:
        writer.writerow(["line", "column", "message"])
        writer.writerows(
            [str(e.line), _neutral(e.column), _neutral(e.message)]
            for e in report.errors
        )
    else:
        writer.writerow(["address", "password"])
        writer.writerows(
            [_neutral(c.address), _neutral(c.password or "")] for c in report.created
        )
    return out.getvalue()


def report_json(report: BulkReport) -> dict[str, object]:
    """For ``--json``: every fact of the report, the passwords among them."""
    return {
        "ok": report.ok,
        "rows": report.rows,
        "recovered": report.recovered,
        "errors": [list(x) for x in report.errors],
        "created": [list(x) for x in report.created],
    }


def _neutral(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_START) else cell
