"""``mailhost demo`` (``infrastructure/cli/demo.py``) as a new user runs it."""

from __future__ import annotations

import email
import re
from pathlib import Path

import pyotp

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
    # first device, new place, one aggregated failure mail, the change, two auto-replies;
    # then the two-step part: its browser's first sign-in, and three notices (a method
    # added, backup codes made, an app password created)
    subjects = sorted(
        str(email.message_from_bytes(m.read_bytes())["Subject"]) for m in mails
    )
    assert len(mails) == 10, (subjects, result.stderr)
    assert "(10 mail(s) in all)" in out  # every job ran before the demo counted
    assert "17. Bob writes again: reply = False (RSP-4" in out
    assert "18. A mailing list writes: reply = False (RSP-7" in out
    assert "19. After a reset of 'Holidays', Bob writes: reply = True" in out
    passwords = re.findall(r"\(shown once\): (\S+)", out)
    assert len(passwords) == 4  # two account passwords, two generated ones
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    for password in passwords:
        assert password.encode() not in stored
    # rule MFA-2, rule MFA-3, rule MFA-4, rule MFA-5: the two-step part
    two_step = re.search(
        r"21\. Authenticator app enrolled for \S+: its QR code holds (otpauth://\S+) .*"
        r"first (\S+) \(kept",
        out,
    )
    assert two_step is not None, out
    uri, backup_code = two_step.groups()
    assert "22. Confirmed with the code the app showed" in out
    assert re.search(
        r"23\. Sign-in with the password alone: second-factor-required; with the "
        r"app's next code (\d{6}): signed-in\.",
        out,
    )
    assert re.search(r"24\. The same code \d{6} again: refused \(MFA-3\)", out)
    app = re.search(
        r"25\. App password 'Thunderbird' created, (\S+) \(this once\)", out
    )
    assert app is not None
    assert "IMAP login with it accepted; with the account password alone refused" in out
    assert (
        f"26. Backup code {backup_code}: signed-in; the same code again: refused" in out
    )
    seed = pyotp.parse_uri(uri).secret
    for secret in (seed, app.group(1), backup_code):
        for form in (secret, secret.replace("-", ""), secret.replace("-", "").upper()):
            assert form.encode() not in stored
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
