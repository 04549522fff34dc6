"""Hostile cases for addresses: their creation, invitations, who may use them, and each
address's own settings (see ``test_api_hostile``)."""

from __future__ import annotations

from collections.abc import Mapping

from application.authorization import OPERATOR
from domain.errors import NotPermitted
from domain.invitation import LoginChoice
from domain.permissions import Permission
from tests.hostile import seed
from tests.hostile.api_cases import (
    ANN,
    CORE_HOSTED,
    CORE_LINE,
    DOMAIN_NAME,
    GOOD_PASSWORD,
    LOOKUP,
    NEW,
    OUTSIDE,
    TOKEN,
    Case,
    Entry,
    Seeded,
    listed,
    pick,
)
from tests.hostile.support import (
    BLOCK,
    EXTERNAL,
    HOSTED,
    LINE,
    MB,
    NUMBER,
    PASSWORD,
)

PROTOCOL: Mapping[str, str] = {
    "nul": "imap\x00",
    "esc": "\x1b[31mimap",
    "surrogate": "im\udcffap",
    "huge": "i" * MB,
}
ALIAS: Mapping[str, str] = {
    "nul": "an\x00na",
    "crlf": "anna\r\nX-Evil: 1",
    "esc": "\x1b[31manna",
    "traversal": "../../etc/passwd",
    "slash": "a/b",
    "master-login": "anna*master",
    "passwd-colon": '"anna:{PLAIN}pw"',
    "surrogate": "an\udcffna",
    "huge": "a" * 100_000,
}


CREATE_FOR_USERS = Entry(
    "addresses.create_for_users", address=NEW, users=[ANN], by=OPERATOR
)
UNASSIGNED = Entry("addresses.create_unassigned", address=NEW, by=OPERATOR)
REDIRECT = Entry(
    "addresses.create_redirect",
    address="fwd@example.org",
    targets=[OUTSIDE],
    by=OPERATOR,
)
ADD_ALIAS = Entry("addresses.add_alias", mailbox_address=ANN, by=OPERATOR)
INVITE = Entry("addresses.invite", address=NEW, send_to=OUTSIDE, by=OPERATOR)
CHANGE_PASSWORD = Entry(
    "addresses.change_password", address=ANN, new_password=GOOD_PASSWORD, by=OPERATOR
)
CREATE_FOR_SELF = Entry(
    "addresses.create_for_self",
    address=NEW,
    password=GOOD_PASSWORD,
    by=Seeded("ann_id"),
)
ACCEPT = Entry(
    "addresses.accept_invitation",
    invitation_id=Seeded("invitation_id"),
    token=Seeded("token"),
    password=GOOD_PASSWORD,
    login="carol@example.net",
)
USAGE = Entry(
    "addresses.record_usage", address=ANN, used_mb=10, limit_mb=100, by=OPERATOR
)


def cases() -> list[Case]:
    return [
        *_created_for_users(),
        *_other_addresses(),
        *_invitations(),
        *_access(),
        *_address_settings(),
    ]


def _created_for_users() -> list[Case]:
    core_line = pick(LINE, "nul", "esc", "surrogate", "huge")
    return [
        *CREATE_FOR_USERS.vary(
            "address", pick(HOSTED, *CORE_HOSTED), ["address", "domain"]
        ),
        *CREATE_FOR_USERS.vary(
            "users",
            listed(pick(EXTERNAL, "nul", "crlf", "esc", "surrogate", "huge")),
            ["user"],
            LOOKUP,
        ),
        *CREATE_FOR_USERS.vary(
            "signature", core_line, ["signature", "template"], LOOKUP
        ),
        *CREATE_FOR_USERS.vary("responder_template", core_line, ["template"], LOOKUP),
        *CREATE_FOR_SELF.vary("password", PASSWORD, ["password"], secret=True),
        *CREATE_FOR_SELF.vary(
            "address",
            pick(HOSTED, "nul", "traversal", "master-login", "surrogate"),
            ["address"],
        ),
    ]


def _other_addresses() -> list[Case]:
    no_reply = Entry(
        "addresses.create_no_reply", address="no-reply@example.org", by=OPERATOR
    )
    return [
        *UNASSIGNED.vary("address", HOSTED, ["address", "domain"]),
        *UNASSIGNED.vary("password", PASSWORD, ["password"], secret=True),
        *no_reply.vary("password", PASSWORD, ["password"], secret=True),
        *REDIRECT.vary(
            "address",
            pick(HOSTED, "nul", "crlf", "traversal", "slash", "surrogate"),
            ["address", "domain"],
        ),
        *REDIRECT.vary(
            "targets",
            listed(pick(EXTERNAL, "nul", "crlf", "esc", "traversal-domain", "huge")),
            ["target", "redirect"],
        ),
        *ADD_ALIAS.vary("alias", ALIAS, ["alias", "address"]),
    ]


def _invitations() -> list[Case]:
    reinvite = Entry(
        "addresses.reinvite",
        address=seed.INVITED,
        login_choice=LoginChoice.OWN_CHOICE,
        by=OPERATOR,
    )
    return [
        *INVITE.vary("send_to", EXTERNAL, ["invitee", "send"]),
        *INVITE.vary(
            "address",
            pick(HOSTED, "nul", "crlf", "traversal", "master-login", "surrogate"),
            ["address", "domain"],
        ),
        *reinvite.vary(
            "send_to",
            pick(EXTERNAL, "nul", "crlf", "lf", "surrogate"),
            ["invitee", "send"],
        ),
        *ACCEPT.vary("display_name", pick(LINE, *CORE_LINE), ["display name"]),
        *ACCEPT.vary("password", PASSWORD, ["password"], secret=True),
        *ACCEPT.vary("login", pick(EXTERNAL, "nul", "crlf", "surrogate"), ["login"]),
        *ACCEPT.vary("token", TOKEN, ["invitation"], (NotPermitted,), secret=True),
    ]


def _access() -> list[Case]:
    user = pick(EXTERNAL, "nul", "crlf", "surrogate", "huge")
    set_permission = Entry(
        "addresses.set_permission",
        address=ANN,
        permission=Permission.SEND,
        allowed=False,
        by=OPERATOR,
    )
    return [
        *Entry("addresses.delete", by=OPERATOR).vary(
            "addresses",
            listed(pick(HOSTED, *CORE_HOSTED)),
            ["address", "domain"],
            LOOKUP,
        ),
        *Entry("addresses.assign", address=ANN, by=OPERATOR).vary(
            "user", user, ["user"], LOOKUP
        ),
        *set_permission.vary("user", user, ["user"], LOOKUP),
        *CHANGE_PASSWORD.vary("new_password", PASSWORD, ["password"], secret=True),
        *CHANGE_PASSWORD.vary(
            "address",
            pick(
                HOSTED, "nul", "traversal", "master-login", "passwd-colon", "surrogate"
            ),
            ["address", "domain"],
            LOOKUP,
        ),
    ]


def _address_settings() -> list[Case]:
    return [
        *Entry("addresses.set_signature", address=ANN, by=OPERATOR).vary(
            "text", pick(BLOCK, "nul", "esc", "surrogate", "huge"), ["signature"]
        ),
        *Entry(
            "addresses.apply_signature_template", domain=DOMAIN_NAME, by=OPERATOR
        ).vary(
            "template",
            pick(LINE, "nul", "esc", "surrogate", "huge"),
            ["template"],
            LOOKUP,
        ),
        *Entry("addresses.set_allow_list", address=ANN, by=OPERATOR).vary(
            "entries",
            listed(pick(EXTERNAL, "nul", "crlf", "esc", "huge")),
            ["allow"],
        ),
        *Entry("addresses.record_client_access", address=ANN, by=OPERATOR).vary(
            "protocol", PROTOCOL, ["protocol"]
        ),
        *USAGE.vary("used_mb", NUMBER, ["usage", "mb"]),
        *USAGE.vary("limit_mb", NUMBER, ["limit", "mb"]),
        *Entry("addresses.resync_store").vary(
            "address", pick(HOSTED, *CORE_HOSTED), ["address", "domain"], LOOKUP
        ),
    ]
