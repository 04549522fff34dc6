"""The LMTP wire contract: listen addresses and MAILHOST_LMTP (pure parsing)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infrastructure.lmtpwire import (
    ListenAddress,
    decided_reply,
    parse_decided,
    parse_listen,
)
from infrastructure.settings import ConfigurationError, Settings


@pytest.mark.parametrize(
    ("text", "expected", "loopback"),
    [
        ("127.0.0.1:2424", ListenAddress(host="127.0.0.1", port=2424), True),
        ("[::1]:24", ListenAddress(host="::1", port=24), True),
        ("192.0.2.1:24", ListenAddress(host="192.0.2.1", port=24), False),
        ("unix:/run/mh.sock", ListenAddress(path=Path("/run/mh.sock")), True),
    ],
)
def test_listen_addresses(text: str, expected: ListenAddress, loopback: bool) -> None:
    assert parse_listen(text) == expected
    assert expected.is_loopback is loopback
    assert parse_listen(str(expected)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "localhost:24",
        "127.0.0.1",
        "127.0.0.1:0",
        "127.0.0.1:65536",
        "127.0.0.1:x",
        "unix:relative.sock",
        ":24",
        "127.0.0.1:\u0661\u0662",
    ],
)
def test_bad_listen_addresses_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        parse_listen(text)


def test_port_zero_only_for_a_listener() -> None:
    assert parse_listen("127.0.0.1:0", any_port=True).port == 0


def test_mailhost_lmtp_is_read_and_checked() -> None:
    assert Settings.from_env(
        {"MAILHOST_LMTP": "unix:/run/x.sock"}
    ).lmtp == ListenAddress(path=Path("/run/x.sock"))
    assert Settings.from_env({"MAILHOST_LMTP": ""}).lmtp is None
    with pytest.raises(ConfigurationError, match="MAILHOST_LMTP"):
        Settings.from_env({"MAILHOST_LMTP": "mail.example:24"})


@given(
    reason=st.text(max_size=600),
    to=st.text(st.characters(blacklist_characters=" "), min_size=1, max_size=256),
)
def test_any_decision_reply_fits_and_parses_back(reason: str, to: str) -> None:
    # RFC 5321 section 4.5.3.1.5: 512 octets a line; only the reason is shortened
    recipient = "info@example.org"
    decision = {
        "reply": True,
        "reason": reason,
        "rule": "RSP-4",
        "check": "reply",
        "to": to,
    }
    lines = decided_reply(recipient, decision)
    assert all(len(line.encode()) + 2 <= 512 for line in lines)
    text = "\n".join(line[4:].strip(" \t\r\n") for line in lines)  # as smtplib joins
    back = parse_decided(recipient, text)
    assert {k: v for k, v in back.items() if k != "reason"} == {
        k: v for k, v in decision.items() if k != "reason"
    }
    assert (
        reason.startswith(str(back["reason"]).removesuffix("...").rstrip())
        or back["reason"] == reason
    )
