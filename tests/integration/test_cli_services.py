"""``mailhost service ...`` (``infrastructure/cli/services.py``): templates are refused
when saved, not when used."""

from __future__ import annotations

from pathlib import Path

from tests.integration.clisupport import (
    ORG,
    assert_exit,
    controls_in,
    found_org,
    mailhost,
    mailhost_bytes,
)


def found_service(home: Path) -> None:
    """Example Co, and its mail service example.org with three address slots."""
    found_org(home)
    service = mailhost(
        "service", "create", "example.org", "--org", ORG, "--quota", "3", home=home
    )
    assert service.returncode == 0, service.stderr


def test_a_signature_template_that_could_never_be_applied_is_refused_when_saved(
    tmp_path: Path,
) -> None:
    # rule ADR-12, issue 7 item 11: was saved, then `--apply` exited 2 for ever after
    found_service(tmp_path)
    address = mailhost("address", "create", "info@example.org", home=tmp_path)
    assert address.returncode == 0, address.stderr
    for text in (b"Example Co\x00", b"Example Co \x1b[31m", b"Example Co \xff"):
        refused = mailhost_bytes(
            "service",
            "template",
            "example.org",
            "Legal",
            "--apply",
            stdin=text,
            home=tmp_path,
        )
        assert refused.returncode == 2, (text, refused.stderr)
        assert b"Traceback" not in refused.stderr
        assert controls_in(refused.stderr.decode()) == []
    unknown = mailhost(
        "address", "create", "x@example.org", "--signature", "Legal", home=tmp_path
    )
    assert unknown.returncode == 2
    assert "signature template 'Legal' does not exist" in unknown.stderr
    applied = mailhost(
        "service",
        "template",
        "example.org",
        "Legal",
        "--apply",
        stdin="Example Co\r\nGeneva\n",
        home=tmp_path,
    )
    assert applied.returncode == 0, applied.stderr
    assert "applied to 1 mailbox(es)" in applied.stdout


def test_a_responder_template_subject_longer_than_a_message_subject_is_refused(
    tmp_path: Path,
) -> None:
    # rule ADR-12: the responder message it becomes allows 200 characters
    found_service(tmp_path)
    refused = mailhost(
        "responder",
        "template",
        "example.org",
        "Closed",
        "--body",
        "Closed.",
        "--subject",
        "s" * 300,
        home=tmp_path,
    )
    assert refused.returncode == 2, refused.stderr
    assert "responder template 'Closed' subject is longer than 200" in refused.stderr
    missing = mailhost(
        "address",
        "create",
        "x@example.org",
        "--responder-template",
        "Closed",
        home=tmp_path,
    )
    assert_exit(missing, 2, "responder template 'Closed' does not exist")
