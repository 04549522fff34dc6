"""``mailhost address ...`` (``infrastructure/cli/addresses.py``), with the service,
send and advise commands an operator runs around it: real processes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.clisupport import mailhost, mailhost_passing, user_create
from tests.servers.process import LOCALHOST, free_port


def test_mail_service_commands(tmp_path: Path) -> None:
    # rule ADR-1, rule ADR-4, rule ADR-6, rule ADR-9, rule ADR-11, rule ADV-4
    def ok(*args: str, stdin: str = "") -> str:
        result = mailhost(*args, stdin=stdin, home=tmp_path)
        assert result.returncode == 0, (args, result.stderr)
        return result.stdout

    ok("org", "create", "Example Co")
    ok(*user_create("ann@example.net"), stdin="a long passphrase")
    ok("service", "create", "example.org", "--org", "Example Co", "--quota", "2")
    created = json.loads(ok("address", "create", "info@example.org", "--json"))
    assert created["password"]
    ok("address", "create", "ann@example.org", "--for", "ann@example.net")
    full = mailhost("address", "create", "x@example.org", home=tmp_path)
    assert full.returncode == 2
    assert "no free address slot" in full.stderr
    ok("service", "quota", "example.org", "--add", "3")
    csv_file = tmp_path / "people.csv"
    csv_file.write_text("address,kind\nbob,mailbox\nbad..dots,mailbox\n")
    refused = mailhost(
        "address", "import-csv", "example.org", str(csv_file), home=tmp_path
    )
    assert refused.returncode == 2
    assert "line 3" in refused.stdout
    csv_file.write_text("address,kind\nbob,mailbox\ncarol,mailbox\n")
    ok("address", "import-csv", "example.org", str(csv_file))
    listing = json.loads(ok("address", "list", "example.org", "--json"))
    assert listing["used"] == 4
    assert [a["address"] for a in listing["addresses"]] == [
        "ann@example.org",
        "bob@example.org",
        "carol@example.org",
        "info@example.org",
    ]
    ok("address", "delete", "bob@example.org", "carol@example.org")
    assert json.loads(ok("address", "list", "example.org", "--json"))["used"] == 2
    ok(
        "address",
        "password",
        "info@example.org",
        "--password-stdin",
        stdin="info passphrase 2",
    )
    ok("address", "permission", "ann@example.org", "ann@example.net", "send", "deny")
    sent = json.loads(
        ok(
            "send",
            "--from",
            "info@example.org",
            "--to",
            "a@example.net",
            "--bcc",
            "b@example.net",
            "--subject",
            "Hi",
            "--json",
            stdin="Hello",
        )
    )
    assert sorted(sent["recipients"]) == ["a@example.net", "b@example.net"]
    [eml] = [
        p
        for p in (tmp_path / "outbox").glob("*.eml")
        if b"Subject: Hi" in p.read_bytes()
    ]
    assert b"\nBcc:" not in eml.read_bytes()
    advice = json.loads(ok("advise", "example.org", "--json"))
    assert [a["rule"] for a in advice] == ["ADV-4"]
    bad = mailhost(
        "address",
        "permission",
        "ann@example.org",
        "ann@example.net",
        "fly",
        "allow",
        home=tmp_path,
    )
    assert bad.returncode == 2
    assert "unknown permission 'fly'" in bad.stderr


def test_an_invitation_says_whether_its_mail_went_out(tmp_path: Path) -> None:
    # rule ADR-5: the mail is a job the command runs before it exits; with the mail
    # server down the invitation is saved, and the command says the mail is still due
    down = {"MAILHOST_SMTP_URL": f"smtp://{LOCALHOST}:{free_port()}"}

    def run(*args: str, env: dict[str, str] | None = None) -> str:
        result = mailhost_passing(*args, home=tmp_path, env=env)
        assert result.returncode == 0, (args, result.stderr)
        return result.stdout

    run("org", "create", "Example Co")
    run("service", "create", "example.org", "--org", "Example Co", "--quota", "3")
    mailed = json.loads(
        run("address", "create", "erin@example.org", "--invite", "--json")
    )
    assert mailed["mailed"] is True
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
    late = mailhost_passing(
        "address", "create", "finn@example.org", "--invite", home=tmp_path, env=down
    )
    assert late.returncode == 0, late.stderr
    assert "its mail has not gone out yet" in late.stdout
    assert "1 background job(s) could not run yet" in late.stderr
    again = run("address", "reinvite", "finn@example.org")
    assert again.startswith("finn@example.org: new invitation ")
    assert again.rstrip().endswith(" mailed")
    # erin's and finn's new one; finn's first goes out when its job is due again
    assert len(list((tmp_path / "outbox").glob("*.eml"))) >= 2
