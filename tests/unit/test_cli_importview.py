"""How ``mailhost import`` shows progress (``infrastructure/cli/importview.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from application.importports import ImportProgress, SourceProgress
from infrastructure.cli.importview import (
    progress_bar,
    progress_json,
    progress_line,
    reason_text,
    status_text,
)
from tests.integration.clisupport import controls_in

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def row(**changes: object) -> ImportProgress:
    fields: dict[str, object] = {
        "job_id": UUID(int=1),
        "destination": "ann@example.org",
        "state": "running",
        "requested_at": START,
        "messages_done": 300,
        "messages_total": 1200,
        "bytes_done": 45_000_000,
        "bytes_total": 120_000_000,
        "copied": 290,
        "skipped": 10,
        "current_folder": "Projekte/2025",
        "started_at": START,
        "updated_at": START + timedelta(seconds=10),
        "sources": (SourceProgress("ann at imap.old.example", 290, 10),),
    }
    fields.update(changes)
    return ImportProgress(**fields)  # type: ignore[arg-type]


def test_a_progress_line_has_counts_megabytes_rate_eta_and_folder() -> None:
    now = START + timedelta(seconds=10)
    line = progress_line(row(), now)
    assert line == (
        "running, 300/1200 messages, 45.0/120.0 MB, 30 msgs/s, ETA 0:00:30, "
        "folder Projekte/2025"
    )
    assert progress_bar(row(), now).startswith("[######..................]  25%")


@given(st.text(max_size=80))
def test_a_folder_name_from_the_source_never_reaches_the_terminal_raw(
    name: str,
) -> None:
    # Outside text (a folder name chosen by whoever runs the source server): no
    # character a terminal obeys, whatever the name.
    now = START + timedelta(seconds=10)
    shown = row(current_folder=name or None)
    for text in (progress_line(shown, now), progress_bar(shown, now)):
        assert not controls_in(text)
        assert "\n" not in text


def test_an_ended_import_shows_its_reason_in_words() -> None:
    failed = row(state="failed", reason="authentication_failed", current_folder=None)
    text = status_text(failed, START)
    assert "reason: the source refused the user name or password" in text
    assert "source ann at imap.old.example: copied 290" in text
    assert reason_text("\x1b[2Jodd") == "[2Jodd"
    assert progress_json(failed, START)["reason"] == "authentication_failed"
