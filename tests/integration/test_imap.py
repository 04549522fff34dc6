"""ImapEndpoint's URL rules, and a login attempt that cannot reach its server."""

from __future__ import annotations

import socket

import pytest

from infrastructure.imap import ImapEndpoint, MailStoreError, imap_login_works
from tests.integration.support import SECRET_TAIL


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("imap://127.0.0.1:1143", ImapEndpoint("127.0.0.1", 1143, "none")),
        ("imap://localhost", ImapEndpoint("localhost", 143, "none")),
        ("imap://[::1]:1143/", ImapEndpoint("::1", 1143, "none")),
        ("imap://mail.example.org", ImapEndpoint("mail.example.org", 143, "starttls")),
        ("IMAPS://mail.example.org", ImapEndpoint("mail.example.org", 993, "implicit")),
        (
            "imaps://127.0.0.1:9993?insecure=1",
            ImapEndpoint("127.0.0.1", 9993, "implicit", verify=False),
        ),
    ],
)
def test_imap_urls(url: str, expected: ImapEndpoint) -> None:
    assert ImapEndpoint.parse(url) == expected


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1", "scheme"),
        ("imaps://mail.example.org?insecure=1", "loopback"),
        ("imap://127.0.0.1?insecure=yes", "insecure must be 1"),
        ("imap://127.0.0.1?tls=0", "unknown URL parameter"),
        ("imap://127.0.0.1/INBOX", "no path"),
        ("imap://:993", "no host"),
        ("imap://127.0.0.1:99999", "not a valid URL"),
        (f"imaps://master:{SECRET_TAIL}@mail.example.org", "credentials"),
    ],
)
def test_bad_imap_urls(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as raised:
        ImapEndpoint.parse(url)
    assert SECRET_TAIL not in str(raised.value)


def test_an_unreachable_server_is_an_error_not_a_refusal() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(MailStoreError, match="cannot reach"):
            imap_login_works(f"imap://127.0.0.1:{port}", "a@example.org", "pw")
