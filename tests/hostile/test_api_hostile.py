"""Every entry point of ``MailHost`` fed hostile input (issue 7, "What to reach").

Each case names one entry point, one argument and one kind of hostile value. The answer
must be ``InvalidInput`` (or the use case's documented refusal: ``LoginRefused`` for a
login, ``NotPermitted`` for a token, ``NotFound`` for a lookup of what cannot exist), its
message must name the argument, no secret may be in it, and no store may have changed:
event log, credential store, read models, mail store, outbox.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from attrs import field, frozen

from application.accounts import LoginRefused
from application.authorization import OPERATOR
from domain.errors import InvalidInput, NotFound, NotPermitted
from domain.invitation import LoginChoice
from domain.permissions import Permission
from domain.replymail import compose_reply
from domain.replyplan import Decision
from domain.security import NotificationPreferences
from infrastructure.settings import ConfigurationError
from tests.hostile import seed
from tests.hostile.support import (
    BLOCK,
    DOMAIN,
    EXTERNAL,
    HOSTED,
    LINE,
    MB,
    NUMBER,
    PASSWORD,
    TIME_ZONE,
    assert_unchanged,
    changes,
    names_field,
    raw_controls,
    snapshot,
)

if TYPE_CHECKING:
    from tests.hostile.conftest import World

ANN, BOB, ORG, DOMAIN_NAME = seed.ANN, seed.BOB, seed.ORG, seed.DOMAIN
GOOD_PASSWORD = "another long passphrase"
NEW = "carol@example.org"
OUTSIDE = "dave@example.net"
LOOKUP = (InvalidInput, NotFound)
CORE_LINE = ("nul", "esc", "crlf", "surrogate", "huge")
CORE_HOSTED = (
    "nul",
    "crlf",
    "traversal",
    "traversal-domain",
    "master-login",
    "surrogate",
)

Call = Callable[["World"], object]


@frozen
class Case:
    id: str
    call: Call
    words: tuple[str, ...]
    refusal: tuple[type[BaseException], ...] = (InvalidInput,)
    secret: str | None = field(default=None, repr=False)


def _pick(values: Mapping[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in values.items() if not names or k in names}


def _bind(call: Callable[[World, Any], object], value: object) -> Call:
    def bound(w: World) -> object:
        return call(w, value)

    return bound


def _each(
    prefix: str,
    values: Mapping[str, Any],
    call: Callable[[World, Any], object],
    words: Sequence[str],
    refusal: tuple[type[BaseException], ...] = (InvalidInput,),
    *,
    secret: bool = False,
) -> list[Case]:
    return [
        Case(
            f"{prefix}[{kind}]",
            _bind(call, value),
            tuple(words),
            refusal,
            value if secret else None,
        )
        for kind, value in values.items()
    ]


EXTREME_DATES: Mapping[str, date | datetime] = {
    "datetime-year-1": datetime(1, 1, 1),  # noqa: DTZ001 - a wall-clock time of the mailbox
    "datetime-year-9999": datetime(9999, 12, 31, 23, 59),  # noqa: DTZ001
    "date-year-1": date(1, 1, 1),
    "date-year-9999": date(9999, 12, 31),
}
EXTREME_RECEIVED: Mapping[str, datetime] = {
    "year-1": datetime(1, 1, 1, tzinfo=UTC),
    "1970": datetime(1970, 1, 1, tzinfo=UTC),
    "year-9999": datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
    "naive": datetime(2026, 1, 1, 10, 0),  # noqa: DTZ001 - the hostile value
}
PHONE_CODE: Mapping[str, str] = {
    "superscript-two": "\u00b2",
    "arabic-indic": "\u0664\u0661",
    "nul": "4\x001",
    "crlf": "41\r\n1",
    "exponent": "1e3",
    "huge": "4" * MB,
}
PHONE_NUMBER: Mapping[str, str] = {
    "nul": "79\x00123 45 67",
    "esc": "\x1b[31m79 123 45 67",
    "arabic-indic": "\u0667\u0669\u0661\u0662\u0663\u0664\u0665\u0666\u0667",
    "surrogate": "79 123\udcff45 67",
    "huge": "7" * MB,
}
CODE: Mapping[str, str] = {
    "nul": "1234\x005678",
    "esc": "\x1b[31m12345678",
    "arabic-indic": "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668",
    "surrogate": "1234\udcff5678",
    "huge": "1" * MB,
}
TOKEN: Mapping[str, str] = {
    "nul": "abc\x00def",
    "surrogate": "abc\udcffdef",
    "huge": "t" * MB,
}
IP: Mapping[str, str] = {
    "nul": "192.0.2.10\x00",
    "crlf": "192.0.2.10\r\nX-Evil: 1",
    "esc": "\x1b[31m192.0.2.10",
    "zone-id-escape": "fe80::1%\x1b[31m",
    "surrogate": "192.0.2.\udcff",
    "huge": "1" * MB,
}
DMARC: Mapping[str, str] = {
    "crlf": "v=DMARC1; p=reject\r\nX-Evil: 1",
    "nul": "v=DMARC1; p=reject\x00",
    "esc": "v=DMARC1; p=reject; rua=mailto:\x1b[31mx@example.org",
    "surrogate": "v=DMARC1; p=reject; rua=mailto:\udcff@example.org",
    "huge": "v=DMARC1; p=reject; rua=mailto:" + "x" * MB + "@example.org",
}
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


def _login_refused(w: World, login: str, password: str) -> object:
    return w.host.accounts.login(login, password, ip="192.0.2.10", user_agent="Firefox")


def _accept(w: World, **kwargs: str) -> object:
    s = w.seeded
    values = {"password": GOOD_PASSWORD, "login": "carol@example.net", **kwargs}
    token = values.pop("token", s.token)
    return w.host.addresses.accept_invitation(s.invitation_id, token, **values)


def _cases() -> list[Case]:  # noqa: PLR0915 - one list of every entry point
    c: list[Case] = []
    # organisations
    c += _each(
        "organisations.found/name",
        LINE,
        lambda w, v: w.host.organisations.found(v, by=OPERATOR),
        ["organisation"],
    )
    c += _each(
        "organisations.get/name",
        _pick(LINE, "nul", "esc", "surrogate", "huge"),
        lambda w, v: w.host.organisations.get(v),
        ["organisation"],
        LOOKUP,
    )
    # accounts
    c += _each(
        "accounts.register/login",
        EXTERNAL,
        lambda w, v: w.host.accounts.register(ORG, v, GOOD_PASSWORD, by=OPERATOR),
        ["login"],
    )
    c += _each(
        "accounts.register/login-hosted",
        _pick(HOSTED, "passwd-colon", "traversal"),
        lambda w, v: w.host.accounts.register(ORG, v, GOOD_PASSWORD, by=OPERATOR),
        ["login"],
    )
    c += _each(
        "accounts.register/password",
        PASSWORD,
        lambda w, v: w.host.accounts.register(ORG, NEW, v, by=OPERATOR),
        ["password"],
        secret=True,
    )
    c += _each(
        "accounts.register/display_name",
        LINE,
        lambda w, v: w.host.accounts.register(
            ORG, NEW, GOOD_PASSWORD, display_name=v, by=OPERATOR
        ),
        ["display name"],
    )
    c += _each(
        "accounts.register/organisation",
        _pick(LINE, "nul", "esc", "surrogate", "huge"),
        lambda w, v: w.host.accounts.register(v, NEW, GOOD_PASSWORD, by=OPERATOR),
        ["organisation"],
        LOOKUP,
    )
    c += _each(
        "accounts.get/login",
        _pick(EXTERNAL, "nul", "crlf", "esc", "surrogate", "huge"),
        lambda w, v: w.host.accounts.get(v),
        ["account", "login"],
        LOOKUP,
    )
    c += _each(
        "accounts.login/login",
        _pick(EXTERNAL, "nul", "crlf", "surrogate", "huge"),
        lambda w, v: _login_refused(w, v, seed.PASSWORD),
        ["login"],
        (LoginRefused,),
    )
    c += _each(
        "accounts.login/password-unknown-login",
        PASSWORD,
        lambda w, v: _login_refused(w, "nobody@example.org", v),
        ["login"],
        (LoginRefused,),
        secret=True,
    )
    c += _each(
        "accounts.login/ip",
        IP,
        lambda w, v: w.host.accounts.login(ANN, seed.PASSWORD, ip=v),
        ["ip"],
    )
    c += _each(
        "accounts.session/token",
        TOKEN,
        lambda w, v: w.host.accounts.session(v),
        ["session"],
        (NotPermitted,),
        secret=True,
    )
    c += _each(
        "accounts.log_out/token",
        TOKEN,
        lambda w, v: w.host.accounts.log_out(v),
        ["session"],
        (NotPermitted,),
        secret=True,
    )
    c += _each(
        "accounts.change_password/new",
        PASSWORD,
        lambda w, v: w.host.accounts.change_password(ANN, seed.PASSWORD, v),
        ["password"],
        secret=True,
    )
    c += _each(
        "accounts.change_recovery_phone/country_code",
        PHONE_CODE,
        lambda w, v: w.host.accounts.change_recovery_phone(
            ANN, v, "79 123 45 67", password=seed.PASSWORD
        ),
        ["country"],
    )
    c += _each(
        "accounts.change_recovery_phone/number",
        PHONE_NUMBER,
        lambda w, v: w.host.accounts.change_recovery_phone(
            ANN, "41", v, password=seed.PASSWORD
        ),
        ["phone"],
    )
    c += _each(
        "accounts.choose_notifications/login",
        _pick(EXTERNAL, "nul", "surrogate"),
        lambda w, v: w.host.accounts.choose_notifications(
            v, NotificationPreferences(), by=OPERATOR
        ),
        ["account", "login"],
        LOOKUP,
    )
    # mail services
    c += _each(
        "services.create/domain",
        DOMAIN,
        lambda w, v: w.host.services.create(ORG, v, quota=10, by=OPERATOR),
        ["domain"],
    )
    c += _each(
        "services.create/quota",
        {**NUMBER, "zero": 0},
        lambda w, v: w.host.services.create(ORG, "other.example", quota=v, by=OPERATOR),
        ["quota"],
    )
    c += _each(
        "services.create/organisation",
        _pick(LINE, "nul", "surrogate", "huge"),
        lambda w, v: w.host.services.create(v, "other.example", quota=10, by=OPERATOR),
        ["organisation"],
        LOOKUP,
    )
    c += _each(
        "services.get/domain",
        _pick(DOMAIN, "nul", "esc", "traversal", "surrogate", "huge"),
        lambda w, v: w.host.services.get(v),
        ["domain", "service"],
        LOOKUP,
    )
    c += _each(
        "services.mailbox/address",
        HOSTED,
        lambda w, v: w.host.services.mailbox(v),
        ["address", "domain"],
        LOOKUP,
    )
    c += _each(
        "services.increase_quota/added",
        {**NUMBER, "zero": 0},
        lambda w, v: w.host.services.increase_quota(DOMAIN_NAME, v, by=OPERATOR),
        ["quota"],
    )
    c += _each(
        "services.increase_quota/domain",
        _pick(DOMAIN, "nul", "traversal", "surrogate"),
        lambda w, v: w.host.services.increase_quota(v, 1, by=OPERATOR),
        ["domain", "service"],
        LOOKUP,
    )
    c += _each(
        "services.set_default_permissions/domain",
        _pick(DOMAIN, "nul", "surrogate"),
        lambda w, v: w.host.services.set_default_permissions(
            v, [Permission.SEND], by=OPERATOR
        ),
        ["domain", "service"],
        LOOKUP,
    )
    c += _each(
        "services.save_signature_template/name",
        _pick(LINE, *CORE_LINE),
        lambda w, v: w.host.services.save_signature_template(
            DOMAIN_NAME, v, "Regards", by=OPERATOR
        ),
        ["template", "name"],
    )
    c += _each(
        "services.save_signature_template/text",
        _pick(BLOCK, "nul", "esc", "bidi", "surrogate", "huge"),
        lambda w, v: w.host.services.save_signature_template(
            DOMAIN_NAME, "Other", v, by=OPERATOR
        ),
        ["template", "signature"],
    )
    c += _each(
        "services.set_catch_all/address",
        _pick(HOSTED, *CORE_HOSTED),
        lambda w, v: w.host.services.set_catch_all(DOMAIN_NAME, v, by=OPERATOR),
        ["address", "catch-all", "domain"],
        LOOKUP,
    )
    c += _each(
        "services.record_dmarc/record",
        DMARC,
        lambda w, v: w.host.services.record_dmarc(DOMAIN_NAME, v, by=OPERATOR),
        ["dmarc"],
    )
    c += _each(
        "host.advise/domain",
        _pick(DOMAIN, "nul", "esc", "traversal", "surrogate"),
        lambda w, v: w.host.advise(v),
        ["domain", "service"],
        LOOKUP,
    )
    # addresses
    c += _each(
        "addresses.create_for_users/address",
        _pick(HOSTED, *CORE_HOSTED),
        lambda w, v: w.host.addresses.create_for_users(v, [ANN], by=OPERATOR),
        ["address", "domain"],
    )
    c += _each(
        "addresses.create_for_users/users",
        _pick(EXTERNAL, "nul", "crlf", "esc", "surrogate", "huge"),
        lambda w, v: w.host.addresses.create_for_users(NEW, [v], by=OPERATOR),
        ["user"],
        LOOKUP,
    )
    c += _each(
        "addresses.create_for_users/signature",
        _pick(LINE, "nul", "esc", "surrogate", "huge"),
        lambda w, v: w.host.addresses.create_for_users(
            NEW, [ANN], signature=v, by=OPERATOR
        ),
        ["signature", "template"],
        LOOKUP,
    )
    c += _each(
        "addresses.create_for_users/responder_template",
        _pick(LINE, "nul", "esc", "surrogate", "huge"),
        lambda w, v: w.host.addresses.create_for_users(
            NEW, [ANN], responder_template=v, by=OPERATOR
        ),
        ["template"],
        LOOKUP,
    )
    c += _each(
        "addresses.create_for_self/password",
        PASSWORD,
        lambda w, v: w.host.addresses.create_for_self(NEW, v, by=w.seeded.ann_id),
        ["password"],
        secret=True,
    )
    c += _each(
        "addresses.create_for_self/address",
        _pick(HOSTED, "nul", "traversal", "master-login", "surrogate"),
        lambda w, v: w.host.addresses.create_for_self(
            v, GOOD_PASSWORD, by=w.seeded.ann_id
        ),
        ["address"],
    )
    c += _each(
        "addresses.create_unassigned/address",
        HOSTED,
        lambda w, v: w.host.addresses.create_unassigned(v, by=OPERATOR),
        ["address", "domain"],
    )
    c += _each(
        "addresses.create_unassigned/password",
        PASSWORD,
        lambda w, v: w.host.addresses.create_unassigned(NEW, password=v, by=OPERATOR),
        ["password"],
        secret=True,
    )
    c += _each(
        "addresses.create_no_reply/password",
        PASSWORD,
        lambda w, v: w.host.addresses.create_no_reply(
            "no-reply@example.org", password=v, by=OPERATOR
        ),
        ["password"],
        secret=True,
    )
    c += _each(
        "addresses.create_redirect/address",
        _pick(HOSTED, "nul", "crlf", "traversal", "slash", "surrogate"),
        lambda w, v: w.host.addresses.create_redirect(v, [OUTSIDE], by=OPERATOR),
        ["address", "domain"],
    )
    c += _each(
        "addresses.create_redirect/targets",
        _pick(EXTERNAL, "nul", "crlf", "esc", "traversal-domain", "huge"),
        lambda w, v: w.host.addresses.create_redirect(
            "fwd@example.org", [v], by=OPERATOR
        ),
        ["target", "redirect"],
    )
    c += _each(
        "addresses.add_alias/alias",
        ALIAS,
        lambda w, v: w.host.addresses.add_alias(ANN, v, by=OPERATOR),
        ["alias", "address"],
    )
    c += _each(
        "addresses.invite/send_to",
        EXTERNAL,
        lambda w, v: w.host.addresses.invite(NEW, send_to=v, by=OPERATOR),
        ["invitee", "send"],
    )
    c += _each(
        "addresses.invite/address",
        _pick(HOSTED, "nul", "crlf", "traversal", "master-login", "surrogate"),
        lambda w, v: w.host.addresses.invite(v, send_to=OUTSIDE, by=OPERATOR),
        ["address", "domain"],
    )
    c += _each(
        "addresses.reinvite/send_to",
        _pick(EXTERNAL, "nul", "crlf", "lf", "surrogate"),
        lambda w, v: w.host.addresses.reinvite(
            seed.INVITED, send_to=v, login_choice=LoginChoice.OWN_CHOICE, by=OPERATOR
        ),
        ["invitee", "send"],
    )
    c += _each(
        "addresses.accept_invitation/display_name",
        _pick(LINE, *CORE_LINE),
        lambda w, v: _accept(w, display_name=v),
        ["display name"],
    )
    c += _each(
        "addresses.accept_invitation/password",
        PASSWORD,
        lambda w, v: _accept(w, password=v),
        ["password"],
        secret=True,
    )
    c += _each(
        "addresses.accept_invitation/login",
        _pick(EXTERNAL, "nul", "crlf", "surrogate"),
        lambda w, v: _accept(w, login=v),
        ["login"],
    )
    c += _each(
        "addresses.accept_invitation/token",
        TOKEN,
        lambda w, v: _accept(w, token=v),
        ["invitation"],
        (NotPermitted,),
        secret=True,
    )
    c += _each(
        "addresses.delete/addresses",
        _pick(HOSTED, *CORE_HOSTED),
        lambda w, v: w.host.addresses.delete([v], by=OPERATOR),
        ["address", "domain"],
        LOOKUP,
    )
    c += _each(
        "addresses.assign/user",
        _pick(EXTERNAL, "nul", "crlf", "surrogate", "huge"),
        lambda w, v: w.host.addresses.assign(ANN, v, by=OPERATOR),
        ["user"],
        LOOKUP,
    )
    c += _each(
        "addresses.set_permission/user",
        _pick(EXTERNAL, "nul", "crlf", "surrogate", "huge"),
        lambda w, v: w.host.addresses.set_permission(
            ANN, v, Permission.SEND, allowed=False, by=OPERATOR
        ),
        ["user"],
        LOOKUP,
    )
    c += _each(
        "addresses.change_password/new_password",
        PASSWORD,
        lambda w, v: w.host.addresses.change_password(ANN, v, by=OPERATOR),
        ["password"],
        secret=True,
    )
    c += _each(
        "addresses.change_password/address",
        _pick(HOSTED, "nul", "traversal", "master-login", "passwd-colon", "surrogate"),
        lambda w, v: w.host.addresses.change_password(v, GOOD_PASSWORD, by=OPERATOR),
        ["address", "domain"],
        LOOKUP,
    )
    c += _each(
        "addresses.set_signature/text",
        _pick(BLOCK, "nul", "esc", "surrogate", "huge"),
        lambda w, v: w.host.addresses.set_signature(ANN, v, by=OPERATOR),
        ["signature"],
    )
    c += _each(
        "addresses.apply_signature_template/template",
        _pick(LINE, "nul", "esc", "surrogate", "huge"),
        lambda w, v: w.host.addresses.apply_signature_template(
            DOMAIN_NAME, v, by=OPERATOR
        ),
        ["template"],
        LOOKUP,
    )
    c += _each(
        "addresses.set_allow_list/entries",
        _pick(EXTERNAL, "nul", "crlf", "esc", "huge"),
        lambda w, v: w.host.addresses.set_allow_list(ANN, [v], by=OPERATOR),
        ["allow"],
    )
    c += _each(
        "addresses.record_client_access/protocol",
        PROTOCOL,
        lambda w, v: w.host.addresses.record_client_access(ANN, v, by=OPERATOR),
        ["protocol"],
    )
    c += _each(
        "addresses.record_usage/used_mb",
        NUMBER,
        lambda w, v: w.host.addresses.record_usage(ANN, v, 100, by=OPERATOR),
        ["usage", "mb"],
    )
    c += _each(
        "addresses.record_usage/limit_mb",
        NUMBER,
        lambda w, v: w.host.addresses.record_usage(ANN, 10, v, by=OPERATOR),
        ["limit", "mb"],
    )
    c += _each(
        "addresses.resync_store/address",
        _pick(HOSTED, *CORE_HOSTED),
        lambda w, v: w.host.addresses.resync_store(v),
        ["address", "domain"],
        LOOKUP,
    )
    # sending
    c += _each(
        "sending.send/sender",
        _pick(HOSTED, "nul", "crlf", "traversal", "surrogate"),
        lambda w, v: w.host.sending.send(
            v, to=[OUTSIDE], subject="Hi", body="Hello", by=OPERATOR
        ),
        ["address", "from", "sender", "domain"],
        LOOKUP,
    )
    c += _each(
        "sending.send/to",
        EXTERNAL,
        lambda w, v: w.host.sending.send(
            ANN, to=[v], subject="Hi", body="Hello", by=OPERATOR
        ),
        ["to"],
    )
    c += _each(
        "sending.send/cc",
        _pick(EXTERNAL, "nul", "crlf", "esc", "surrogate"),
        lambda w, v: w.host.sending.send(
            ANN, to=[OUTSIDE], cc=[v], subject="Hi", body="Hello", by=OPERATOR
        ),
        ["cc"],
    )
    c += _each(
        "sending.send/bcc",
        _pick(EXTERNAL, "nul", "crlf", "esc", "surrogate"),
        lambda w, v: w.host.sending.send(
            ANN, to=[OUTSIDE], bcc=[v], subject="Hi", body="Hello", by=OPERATOR
        ),
        ["bcc"],
    )
    c += _each(
        "sending.send/subject",
        LINE,
        lambda w, v: w.host.sending.send(
            ANN, to=[OUTSIDE], subject=v, body="Hello", by=OPERATOR
        ),
        ["subject"],
    )
    c += _each(
        "sending.send/body",
        _pick(BLOCK, "nul", "surrogate"),
        lambda w, v: w.host.sending.send(
            ANN, to=[OUTSIDE], subject="Hi", body=v, by=OPERATOR
        ),
        ["body"],
    )
    # responders
    r = "responders"
    c += _each(
        f"{r}.add/name",
        _pick(LINE, *CORE_LINE, "u2028", "bidi"),
        lambda w, v: w.host.responders.add(ANN, v, body="Away.", by=OPERATOR),
        ["name"],
    )
    c += _each(
        f"{r}.add/body",
        BLOCK,
        lambda w, v: w.host.responders.add(ANN, "Other", body=v, by=OPERATOR),
        ["body"],
    )
    c += _each(
        f"{r}.add/subject",
        LINE,
        lambda w, v: w.host.responders.add(
            ANN, "Other", body="Away.", subject=v, by=OPERATOR
        ),
        ["subject"],
    )
    c += _each(
        f"{r}.add/weekdays",
        _pick(LINE, "nul", "surrogate", "huge"),
        lambda w, v: w.host.responders.add(
            ANN, "Other", body="Away.", weekdays=[v], by=OPERATOR
        ),
        ["weekday"],
    )
    c += _each(
        f"{r}.add/start",
        EXTREME_DATES,
        lambda w, v: w.host.responders.add(
            ANN, "Other", body="Away.", start=v, by=OPERATOR
        ),
        ["start", "schedule"],
    )
    c += _each(
        f"{r}.add/end",
        EXTREME_DATES,
        lambda w, v: w.host.responders.add(
            ANN, "Other", body="Away.", end=v, by=OPERATOR
        ),
        ["end", "schedule"],
    )
    c += _each(
        f"{r}.add/exclusions",
        _pick(EXTERNAL, "nul", "crlf", "esc", "huge"),
        lambda w, v: w.host.responders.add(
            ANN, "Other", body="Away.", exclusions=[v], by=OPERATOR
        ),
        ["exclu"],
    )
    c += _each(
        f"{r}.add/sender",
        _pick(EXTERNAL, "nul", "crlf", "surrogate"),
        lambda w, v: w.host.responders.add(
            ANN, "Other", body="Away.", sender=v, by=OPERATOR
        ),
        ["sender"],
    )
    c += _each(
        f"{r}.add/time_zone",
        TIME_ZONE,
        lambda w, v: w.host.responders.add(
            ANN, "Other", body="Away.", time_zone=v, by=OPERATOR
        ),
        ["time zone"],
    )
    c += _each(
        f"{r}.edit/body",
        _pick(BLOCK, "nul", "esc", "surrogate", "huge"),
        lambda w, v: w.host.responders.edit(ANN, seed.MESSAGE, body=v, by=OPERATOR),
        ["body"],
    )
    c += _each(
        f"{r}.edit/subject",
        _pick(LINE, "crlf", "vt", "u2028", "huge"),
        lambda w, v: w.host.responders.edit(
            ANN, seed.MESSAGE, body="Away.", subject=v, by=OPERATOR
        ),
        ["subject"],
    )
    c += _each(
        f"{r}.edit/start",
        _pick(EXTREME_DATES, "datetime-year-1", "date-year-1"),
        lambda w, v: w.host.responders.edit(
            ANN, seed.MESSAGE, body="Away.", start=v, by=OPERATOR
        ),
        ["start", "schedule"],
    )
    c += _each(
        f"{r}.edit/end",
        _pick(EXTREME_DATES, "datetime-year-9999", "date-year-9999"),
        lambda w, v: w.host.responders.edit(
            ANN, seed.MESSAGE, body="Away.", end=v, by=OPERATOR
        ),
        ["end", "schedule"],
    )
    for verb in ("activate", "reset", "delete"):
        c += _each(
            f"{r}.{verb}/name",
            _pick(LINE, "nul", "esc", "surrogate", "huge"),
            _by_name(verb),
            ["message", "name"],
            LOOKUP,
        )
    c += _each(
        f"{r}.deactivate/address",
        _pick(HOSTED, "nul", "traversal", "surrogate"),
        lambda w, v: w.host.responders.deactivate(v, by=OPERATOR),
        ["address", "domain"],
        LOOKUP,
    )
    c += _each(
        f"{r}.set_time_zone/time_zone",
        _pick(TIME_ZONE, "traversal", "absolute", "nul", "surrogate"),
        lambda w, v: w.host.responders.set_time_zone(ANN, v, by=OPERATOR),
        ["time zone"],
    )
    c += _each(
        f"{r}.status/address",
        _pick(HOSTED, "nul", "traversal", "surrogate"),
        lambda w, v: w.host.responders.status(v),
        ["address", "domain"],
        LOOKUP,
    )
    c += _each(
        f"{r}.history/limit",
        {**NUMBER, "zero": 0},
        lambda w, v: w.host.responders.history(ANN, v),
        ["limit"],
    )
    c += _each(
        f"{r}.request_sender_verification/alternative",
        EXTERNAL,
        lambda w, v: w.host.responders.request_sender_verification(ANN, v, by=OPERATOR),
        ["sender"],
    )
    c += _each(
        f"{r}.request_sender_verification/address",
        _pick(HOSTED, "nul", "crlf", "traversal", "surrogate"),
        lambda w, v: w.host.responders.request_sender_verification(
            v, OUTSIDE, by=OPERATOR
        ),
        ["address", "domain"],
        LOOKUP,
    )
    c += _each(
        f"{r}.confirm_sender/code",
        CODE,
        lambda w, v: w.host.responders.confirm_sender(
            ANN, seed.PENDING_SENDER, v, by=OPERATOR
        ),
        ["code"],
    )
    c += _each(
        f"{r}.confirm_sender/alternative",
        _pick(EXTERNAL, "nul", "crlf", "surrogate", "huge"),
        lambda w, v: w.host.responders.confirm_sender(ANN, v, "12345678", by=OPERATOR),
        ["sender"],
    )
    c += _each(
        f"{r}.save_template/name",
        _pick(LINE, *CORE_LINE),
        lambda w, v: w.host.responders.save_template(
            DOMAIN_NAME, v, body="Closed.", by=OPERATOR
        ),
        ["template", "name"],
    )
    c += _each(
        f"{r}.save_template/body",
        _pick(BLOCK, "nul", "esc", "surrogate", "huge"),
        lambda w, v: w.host.responders.save_template(
            DOMAIN_NAME, "Other", body=v, by=OPERATOR
        ),
        ["template", "body"],
    )
    c += _each(
        f"{r}.save_template/subject",
        _pick(LINE, *CORE_LINE, "vt", "u2028"),
        lambda w, v: w.host.responders.save_template(
            DOMAIN_NAME, "Other", body="Closed.", subject=v, by=OPERATOR
        ),
        ["subject"],
    )
    c += _each(
        f"{r}.apply_template/name",
        _pick(LINE, "nul", "esc", "surrogate", "huge"),
        lambda w, v: w.host.responders.apply_template(DOMAIN_NAME, v, by=OPERATOR),
        ["template"],
        LOOKUP,
    )
    c += _each(
        f"{r}.deliver/recipient",
        _pick(HOSTED, *CORE_HOSTED, "esc"),
        lambda w, v: w.host.responders.deliver(v, OUTSIDE, MESSAGE),
        ["recipient", "address", "domain"],
        LOOKUP,
    )
    c += _each(
        f"{r}.deliver/received_at",
        EXTREME_RECEIVED,
        lambda w, v: w.host.responders.deliver(ANN, OUTSIDE, MESSAGE, v),
        ["received"],
    )
    c += [
        Case(
            f"{r}.deliver/raw_message[over-50-MB]",
            lambda w: w.host.responders.deliver(
                ANN, OUTSIDE, b"Subject: x\r\n\r\n" + b"x" * (50 * MB + 1)
            ),
            ("message", "bytes", "larger"),
        )
    ]
    # configuration
    for variable, value in (
        ("MAILHOST_LOGIN_THROTTLE", "nan"),
        ("MAILHOST_LOGIN_THROTTLE", "inf"),
        ("MAILHOST_FAILED_LOGIN_WINDOW", "nan"),
        ("MAILHOST_FAILED_LOGIN_WINDOW", "1e400"),
        ("MAILHOST_MAX_RECIPIENTS", "inf"),
        ("MAILHOST_RESPONDER_HOURLY_CAP", "-inf"),
        ("MAILHOST_SMTP_URL", "smtp://127.0.0.1:25\r\nX-Evil: 1"),
        ("MAILHOST_MAIL_FROM", "alerts@example.org\r\nBcc: evil@example.net"),
        ("MAILHOST_SECRET_KEY", "zz" * 32),
    ):
        c.append(
            Case(
                f"open_engine/{variable}[{value[:20]}]",
                _bind(_open, {variable: value}),
                (variable,),
                (ConfigurationError,),
            )
        )
    return c


MESSAGE = (
    b"From: Bob <bob@example.net>\r\nTo: ann@example.org\r\nSubject: Hello\r\n"
    b"Message-ID: <m1@example.net>\r\n\r\nHello Ann.\r\n"
)


def _by_name(verb: str) -> Callable[[World, Any], object]:
    """``responders.<verb>(ANN, name)``: activate, reset and delete take the same arguments."""

    def call(w: World, name: object) -> object:
        method: Callable[..., object] = getattr(w.host.responders, verb)
        return method(ANN, name, by=OPERATOR)

    return call


def _open(w: World, env: dict[str, str]) -> object:
    from infrastructure.bootstrap import open_engine  # noqa: PLC0415

    engine = open_engine(w.home, env, background=False)
    engine.close()
    return engine


API_CASES = _cases()


@pytest.mark.parametrize("case", API_CASES, ids=[c.id for c in API_CASES])
def test_entry_point_refuses_hostile_input(case: Case, world: World) -> None:
    before = world.pristine
    outcome = _outcome(case, world)
    after = snapshot(world.root)
    world.after.append(after)
    written = changes(before, after)
    wanted = " or ".join(t.__name__ for t in case.refusal)
    if not isinstance(outcome, case.refusal):
        pytest.fail(
            f"expected {wanted}, got {_describe(outcome)}"
            + (f"; and it wrote: {' | '.join(written)}" if written else ""),
            pytrace=False,
        )
    message = str(outcome)
    problems = []
    if not names_field(message, case.words):
        problems.append(f"the message does not name {' or '.join(case.words)}")
    if case.secret is not None and (
        case.secret[:64] in message or repr(case.secret)[1:65] in message
    ):
        problems.append("the message holds the secret")
    if written:
        problems.append("it wrote: " + " | ".join(written))
    if problems:
        pytest.fail(
            f"{type(outcome).__name__} {message[:300]!r}: " + "; ".join(problems),
            pytrace=False,
        )


def _outcome(case: Case, world: World) -> object:
    try:
        return ("accepted", case.call(world))
    except Exception as error:  # noqa: BLE001 - the kind of error is what is checked
        return error


def _describe(outcome: object) -> str:
    if isinstance(outcome, BaseException):
        return f"{type(outcome).__name__}: {str(outcome)[:300]!r}"
    return f"no error (returned {str(outcome)[:200]!r})"


# -- deliver: the MTA's input is never refused for its content ---------------------------

RAW: Mapping[str, bytes] = {
    "invalid-utf8": b"From: \xff\xfe bob@example.net\r\nSubject: \xc3\x28\xa0\xa1\r\n\r\n\xff",
    "nul": b"From: bob@example.net\x00\r\nSubject: a\x00b\r\n\r\nbody\x00",
    "esc-subject": b"From: bob@example.net\r\n"
    b"Subject: \x1b[31mrestore at https://evil.example/ \x07\r\n\r\nx",
    "encoded-crlf-subject": b"From: bob@example.net\r\n"
    b"Subject: =?utf-8?q?Hi=0D=0ABcc:_evil@example.net?=\r\n\r\nx",
    "encoded-esc-subject": b"From: bob@example.net\r\n"
    b"Subject: =?utf-8?b?G1szMW0Hcm91Z2U=?=\r\n\r\nx",
    "huge-header": b"From: bob@example.net\r\nSubject: "
    + b"x" * (2 * MB)
    + b"\r\n\r\nx",
    "many-headers": b"".join(b"X-H%d: v\r\n" % i for i in range(100_000)) + b"\r\nx",
    "folded-forever": b"Subject: a\r\n" + b" b\r\n" * 200_000 + b"\r\nx",
    "no-separator": b"\xff" * 10_000,
    "empty": b"",
    "bad-message-id": b"From: bob@example.net\r\nMessage-ID: <\x1b[31m\r\n evil>\r\nReferences: "
    + b"<a@b> " * 10_000
    + b"\r\n\r\nx",
}
SENDER: Mapping[str, str] = {
    "crlf": "bob@example.net\r\nRCPT TO:<evil@example.net>",
    "nul": "bob\x00@example.net",
    "esc": "\x1b[31mbob@example.net",
    "surrogate": "bob\udcff@example.net",
    "huge": "b" * 100_000 + "@example.net",
}


@pytest.mark.parametrize("raw", RAW.values(), ids=list(RAW))
def test_deliver_decides_on_any_message(raw: bytes, world: World) -> None:
    """A message is data from outside: a decision (or InvalidInput), never a crash, and a
    reply, if decided, carries none of the attacker's control characters or headers."""
    before = snapshot(world.root)
    try:
        decision = world.host.responders.deliver(ANN, "bob@example.net", raw)
    except InvalidInput:
        assert_unchanged(before, snapshot(world.root))
        return
    assert isinstance(decision, Decision)
    if not decision.reply:
        assert_unchanged(before, snapshot(world.root))
        return
    assert decision.plan is not None
    composed = compose_reply(
        decision.plan, date=datetime.now(UTC) + timedelta(seconds=1)
    )
    text = composed.message.as_bytes().decode("utf-8", "backslashreplace")
    headers = text.split("\r\n\r\n", 1)[0].split("\n\n", 1)[0]
    assert not raw_controls(headers.replace("\r\n", "\n")), raw_controls(headers)
    names = {
        line.split(":", 1)[0].casefold()
        for line in headers.splitlines()
        if line and not line[0].isspace()
    }
    assert "bcc" not in names
    assert len(str(composed.message["Subject"])) <= 998


@pytest.mark.parametrize("sender", SENDER.values(), ids=list(SENDER))
def test_deliver_never_answers_a_hostile_envelope_sender(
    sender: str, world: World
) -> None:
    before = snapshot(world.root)
    try:
        decision = world.host.responders.deliver(ANN, sender, MESSAGE)
    except InvalidInput as refused:
        message = str(refused)
        replied = False
    else:
        message, replied = "sender", decision.reply
    assert names_field(message, ["sender"]), message
    assert not replied
    assert_unchanged(before, snapshot(world.root))


# -- controls: the same calls with ordinary values succeed --------------------------------
# Without them a case could pass because its call was refused for another reason.

CONTROLS: Mapping[str, Call] = {
    "accounts.register": lambda w: w.host.accounts.register(
        ORG, NEW, GOOD_PASSWORD, display_name="Carol", by=OPERATOR
    ),
    "accounts.change_recovery_phone": lambda w: w.host.accounts.change_recovery_phone(
        ANN, "41", "79 123 45 67", password=seed.PASSWORD
    ),
    "services.create": lambda w: w.host.services.create(
        ORG, "other.example", quota=10, by=OPERATOR
    ),
    "services.record_dmarc": lambda w: w.host.services.record_dmarc(
        DOMAIN_NAME, "v=DMARC1; p=reject", by=OPERATOR
    ),
    "addresses.create_for_users": lambda w: w.host.addresses.create_for_users(
        NEW, [ANN], signature=seed.SIGNATURE_TEMPLATE, by=OPERATOR
    ),
    "addresses.create_unassigned": lambda w: w.host.addresses.create_unassigned(
        NEW, password=GOOD_PASSWORD, by=OPERATOR
    ),
    "addresses.add_alias": lambda w: w.host.addresses.add_alias(
        ANN, "anna", by=OPERATOR
    ),
    "addresses.invite": lambda w: w.host.addresses.invite(
        NEW, send_to=OUTSIDE, by=OPERATOR
    ),
    "addresses.accept_invitation": lambda w: _accept(w, display_name="Carol"),
    "addresses.record_usage": lambda w: w.host.addresses.record_usage(
        ANN, 10, 100, by=OPERATOR
    ),
    "sending.send": lambda w: w.host.sending.send(
        ANN,
        to=[OUTSIDE],
        cc=[OUTSIDE],
        bcc=[OUTSIDE],
        subject="Hi",
        body="Hello",
        by=OPERATOR,
    ),
    "responders.add": lambda w: w.host.responders.add(
        ANN,
        "Other",
        body="Away.",
        subject="Away",
        weekdays=["mon"],
        start=datetime(2026, 12, 20, 8, 0),  # noqa: DTZ001 - the mailbox's wall clock
        end=date(2027, 1, 3),
        exclusions=["@example.net"],
        time_zone="Europe/Zurich",
        by=OPERATOR,
    ),
    "responders.history": lambda w: w.host.responders.history(ANN, 10),
    "responders.confirm_sender": lambda w: w.host.responders.confirm_sender(
        ANN, seed.PENDING_SENDER, "12345678", by=OPERATOR
    ),
    "responders.deliver": lambda w: w.host.responders.deliver(
        ANN, OUTSIDE, MESSAGE, datetime.now(UTC)
    ),
}


@pytest.mark.parametrize("call", CONTROLS.values(), ids=list(CONTROLS))
def test_ordinary_values_are_accepted(call: Call, world: World) -> None:
    call(world)
