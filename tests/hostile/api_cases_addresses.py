"""Hostile cases for addresses: their creation, invitations, who may use them, and each
address's own settings (see ``test_api_hostile``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

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
    each,
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

if TYPE_CHECKING:
    from tests.hostile.conftest import World

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


def cases() -> list[Case]:
    return [
        *_created_for_users(),
        *_other_addresses(),
        *_invitations(),
        *_access(),
        *_address_settings(),
    ]


def accept(w: World, **kwargs: str) -> object:
    """Accept the seeded invitation; the control test calls it with ordinary values."""
    s = w.seeded
    values = {"password": GOOD_PASSWORD, "login": "carol@example.net", **kwargs}
    token = values.pop("token", s.token)
    return w.host.addresses.accept_invitation(s.invitation_id, token, **values)


def _created_for_users() -> list[Case]:
    c: list[Case] = []
    c += each(
        "addresses.create_for_users/address",
        pick(HOSTED, *CORE_HOSTED),
        lambda w, v: w.host.addresses.create_for_users(v, [ANN], by=OPERATOR),
        ["address", "domain"],
    )
    c += each(
        "addresses.create_for_users/users",
        pick(EXTERNAL, "nul", "crlf", "esc", "surrogate", "huge"),
        lambda w, v: w.host.addresses.create_for_users(NEW, [v], by=OPERATOR),
        ["user"],
        LOOKUP,
    )
    c += each(
        "addresses.create_for_users/signature",
        pick(LINE, "nul", "esc", "surrogate", "huge"),
        lambda w, v: w.host.addresses.create_for_users(
            NEW, [ANN], signature=v, by=OPERATOR
        ),
        ["signature", "template"],
        LOOKUP,
    )
    c += each(
        "addresses.create_for_users/responder_template",
        pick(LINE, "nul", "esc", "surrogate", "huge"),
        lambda w, v: w.host.addresses.create_for_users(
            NEW, [ANN], responder_template=v, by=OPERATOR
        ),
        ["template"],
        LOOKUP,
    )
    c += each(
        "addresses.create_for_self/password",
        PASSWORD,
        lambda w, v: w.host.addresses.create_for_self(NEW, v, by=w.seeded.ann_id),
        ["password"],
        secret=True,
    )
    c += each(
        "addresses.create_for_self/address",
        pick(HOSTED, "nul", "traversal", "master-login", "surrogate"),
        lambda w, v: w.host.addresses.create_for_self(
            v, GOOD_PASSWORD, by=w.seeded.ann_id
        ),
        ["address"],
    )
    return c


def _other_addresses() -> list[Case]:
    c: list[Case] = []
    c += each(
        "addresses.create_unassigned/address",
        HOSTED,
        lambda w, v: w.host.addresses.create_unassigned(v, by=OPERATOR),
        ["address", "domain"],
    )
    c += each(
        "addresses.create_unassigned/password",
        PASSWORD,
        lambda w, v: w.host.addresses.create_unassigned(NEW, password=v, by=OPERATOR),
        ["password"],
        secret=True,
    )
    c += each(
        "addresses.create_no_reply/password",
        PASSWORD,
        lambda w, v: w.host.addresses.create_no_reply(
            "no-reply@example.org", password=v, by=OPERATOR
        ),
        ["password"],
        secret=True,
    )
    c += each(
        "addresses.create_redirect/address",
        pick(HOSTED, "nul", "crlf", "traversal", "slash", "surrogate"),
        lambda w, v: w.host.addresses.create_redirect(v, [OUTSIDE], by=OPERATOR),
        ["address", "domain"],
    )
    c += each(
        "addresses.create_redirect/targets",
        pick(EXTERNAL, "nul", "crlf", "esc", "traversal-domain", "huge"),
        lambda w, v: w.host.addresses.create_redirect(
            "fwd@example.org", [v], by=OPERATOR
        ),
        ["target", "redirect"],
    )
    c += each(
        "addresses.add_alias/alias",
        ALIAS,
        lambda w, v: w.host.addresses.add_alias(ANN, v, by=OPERATOR),
        ["alias", "address"],
    )
    return c


def _invitations() -> list[Case]:
    c: list[Case] = []
    c += each(
        "addresses.invite/send_to",
        EXTERNAL,
        lambda w, v: w.host.addresses.invite(NEW, send_to=v, by=OPERATOR),
        ["invitee", "send"],
    )
    c += each(
        "addresses.invite/address",
        pick(HOSTED, "nul", "crlf", "traversal", "master-login", "surrogate"),
        lambda w, v: w.host.addresses.invite(v, send_to=OUTSIDE, by=OPERATOR),
        ["address", "domain"],
    )
    c += each(
        "addresses.reinvite/send_to",
        pick(EXTERNAL, "nul", "crlf", "lf", "surrogate"),
        lambda w, v: w.host.addresses.reinvite(
            seed.INVITED, send_to=v, login_choice=LoginChoice.OWN_CHOICE, by=OPERATOR
        ),
        ["invitee", "send"],
    )
    c += each(
        "addresses.accept_invitation/display_name",
        pick(LINE, *CORE_LINE),
        lambda w, v: accept(w, display_name=v),
        ["display name"],
    )
    c += each(
        "addresses.accept_invitation/password",
        PASSWORD,
        lambda w, v: accept(w, password=v),
        ["password"],
        secret=True,
    )
    c += each(
        "addresses.accept_invitation/login",
        pick(EXTERNAL, "nul", "crlf", "surrogate"),
        lambda w, v: accept(w, login=v),
        ["login"],
    )
    c += each(
        "addresses.accept_invitation/token",
        TOKEN,
        lambda w, v: accept(w, token=v),
        ["invitation"],
        (NotPermitted,),
        secret=True,
    )
    return c


def _access() -> list[Case]:
    c: list[Case] = []
    c += each(
        "addresses.delete/addresses",
        pick(HOSTED, *CORE_HOSTED),
        lambda w, v: w.host.addresses.delete([v], by=OPERATOR),
        ["address", "domain"],
        LOOKUP,
    )
    c += each(
        "addresses.assign/user",
        pick(EXTERNAL, "nul", "crlf", "surrogate", "huge"),
        lambda w, v: w.host.addresses.assign(ANN, v, by=OPERATOR),
        ["user"],
        LOOKUP,
    )
    c += each(
        "addresses.set_permission/user",
        pick(EXTERNAL, "nul", "crlf", "surrogate", "huge"),
        lambda w, v: w.host.addresses.set_permission(
            ANN, v, Permission.SEND, allowed=False, by=OPERATOR
        ),
        ["user"],
        LOOKUP,
    )
    c += each(
        "addresses.change_password/new_password",
        PASSWORD,
        lambda w, v: w.host.addresses.change_password(ANN, v, by=OPERATOR),
        ["password"],
        secret=True,
    )
    c += each(
        "addresses.change_password/address",
        pick(HOSTED, "nul", "traversal", "master-login", "passwd-colon", "surrogate"),
        lambda w, v: w.host.addresses.change_password(v, GOOD_PASSWORD, by=OPERATOR),
        ["address", "domain"],
        LOOKUP,
    )
    return c


def _address_settings() -> list[Case]:
    c: list[Case] = []
    c += each(
        "addresses.set_signature/text",
        pick(BLOCK, "nul", "esc", "surrogate", "huge"),
        lambda w, v: w.host.addresses.set_signature(ANN, v, by=OPERATOR),
        ["signature"],
    )
    c += each(
        "addresses.apply_signature_template/template",
        pick(LINE, "nul", "esc", "surrogate", "huge"),
        lambda w, v: w.host.addresses.apply_signature_template(
            DOMAIN_NAME, v, by=OPERATOR
        ),
        ["template"],
        LOOKUP,
    )
    c += each(
        "addresses.set_allow_list/entries",
        pick(EXTERNAL, "nul", "crlf", "esc", "huge"),
        lambda w, v: w.host.addresses.set_allow_list(ANN, [v], by=OPERATOR),
        ["allow"],
    )
    c += each(
        "addresses.record_client_access/protocol",
        PROTOCOL,
        lambda w, v: w.host.addresses.record_client_access(ANN, v, by=OPERATOR),
        ["protocol"],
    )
    c += each(
        "addresses.record_usage/used_mb",
        NUMBER,
        lambda w, v: w.host.addresses.record_usage(ANN, v, 100, by=OPERATOR),
        ["usage", "mb"],
    )
    c += each(
        "addresses.record_usage/limit_mb",
        NUMBER,
        lambda w, v: w.host.addresses.record_usage(ANN, 10, v, by=OPERATOR),
        ["limit", "mb"],
    )
    c += each(
        "addresses.resync_store/address",
        pick(HOSTED, *CORE_HOSTED),
        lambda w, v: w.host.addresses.resync_store(v),
        ["address", "domain"],
        LOOKUP,
    )
    return c
