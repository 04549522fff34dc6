"""``mailhost demo`` (``infrastructure/cli/demo.py``) as a new user runs it."""

from __future__ import annotations

import re
from pathlib import Path

from tests.integration.clisupport import mailhost


def test_demo_runs_the_scenario_and_prints_activity(tmp_path: Path) -> None:
    # rule SEC-1, rule SEC-2, rule SEC-3, rule SEC-4
    # A window wider than the burst takes even on a loaded machine: one aggregated mail.
    result = mailhost("demo", "--home", str(tmp_path), "--window", "5")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "alert mail = True" in out
    assert "(known device): alert mail = False" in out
    assert re.search(r"wrong password x30", out)
    assert "failed login (30 attempts)" in out
    assert f"Event store: {tmp_path / 'events.sqlite'}" in out
    mails = list((tmp_path / "outbox").glob("*.eml"))
    # first device, new place, one aggregated failure mail, the change, two auto-replies
    assert len(mails) == 6
    assert "17. Bob writes again: reply = False (RSP-4" in out
    assert "18. A mailing list writes: reply = False (RSP-7" in out
    assert "19. After a reset of 'Holidays', Bob writes: reply = True" in out
    passwords = re.findall(r"\(shown once\): (\S+)", out)
    assert len(passwords) == 4  # two account passwords, two generated ones
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    for password in passwords:
        assert password.encode() not in stored
    for part in (
        "CSV import of 4 rows refused",
        "line 4, column address",
        "4 addresses created",
        "Deleted info@example.org",
        "6 of 8 address slot(s)",
        "[ADV-4]",
    ):
        assert part in out
    again = mailhost("demo", "--home", str(tmp_path), "--window", "5")
    assert again.returncode == 0, again.stderr
    assert "ann+2@example.org" in again.stdout
    assert "Mail service example2.org" in again.stdout
