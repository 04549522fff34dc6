"""System senders are never answered; people are (RSP-7)."""

from __future__ import annotations

import pytest

from domain.senders import system_sender


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("MAILER-DAEMON@mx.example.net", "MAILER-DAEMON"),
        ("mailer-daemon+bounce@mx.example.net", "MAILER-DAEMON"),
        ("LISTSERV@lists.example.net", "LISTSERV"),
        ("postmaster@example.net", "postmaster"),
        ("owner-python-dev@python.org", "list owner"),
        ("linux-kernel-owner@vger.kernel.org", "list owner"),
        ("python-dev-request@python.org", "list robot"),
        ("python-dev-bounces+alice=example.org@python.org", "bounce handler"),
        ("bounces+123-abc@em.example.net", "bounce handler"),
        ("bounce-7-42@mail.example.net", "bounce handler"),
        ("noreply@example.net", "no-reply"),
        ("no-reply@example.net", "no-reply"),
        ("No_Reply.billing@example.net", "no-reply"),
        ("donotreply@example.net", "no-reply"),
        ("do-not-reply@example.net", "no-reply"),
        ("noreply-dmarc-support@google.com", "no-reply"),
    ],
)
def test_system_senders(address: str, kind: str) -> None:
    # rule RSP-7: MAILER-DAEMON, owner-*, *-request, LISTSERV, majordomo (and kin)
    found = system_sender(address)
    assert found is not None
    assert kind in found


@pytest.mark.parametrize(
    "address",
    [
        "bob@example.net",
        "owner@example.net",
        "requests@example.net",
        "noreen@example.net",
        "replyall@example.net",
        "postmistress@example.net",
        "bouncer@example.net",
        "daemon@example.net",
    ],
)
def test_people_are_not_system_senders(address: str) -> None:
    assert system_sender(address) is None


def test_a_long_s_is_not_a_system_sender_s() -> None:
    # rule RSP-7: "li" + long s + "tserv" folds to listserv, but it is another address
    assert system_sender("LISTSERV@other.org") is not None
    assert system_sender("li\u017ftserv@other.org") is None
