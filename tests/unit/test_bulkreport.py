"""The report of a CSV file (application/bulkreport.py): its passwords shown on purpose only."""

from __future__ import annotations

from application.bulkreport import BulkReport, CreatedRow
from infrastructure.cli.bulkreport import report_text


def test_reports_never_show_passwords_in_their_repr() -> None:
    # rule SEC-6: shown once, by the CLI's report_text/report_csv on purpose, never by accident
    report = BulkReport(
        ok=True,
        rows=1,
        created=(CreatedRow("a@example.com", "s3cret-canary"),),
        applied=True,
    )
    assert "s3cret-canary" in report_text(report)
    assert "s3cret-canary" not in repr(report)
    assert "s3cret-canary" not in str(report.created)
    assert "a@example.com" in repr(report)
    address, password = report.created[0]
    assert (address, password) == ("a@example.com", "s3cret-canary")
