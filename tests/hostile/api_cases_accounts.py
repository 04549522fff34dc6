"""Hostile cases for organisations and their accounts: founding, registration, sign-in,
sessions and an account's own settings (see ``test_api_hostile``)."""

from __future__ import annotations

from collections.abc import Mapping

from application.accounts import LoginRefused
from application.authorization import OPERATOR
from domain.errors import NotPermitted
from domain.security import NotificationPreferences
from tests.hostile import seed
from tests.hostile.api_cases import (
    ANN,
    GOOD_PASSWORD,
    LOOKUP,
    NEW,
    ORG,
    TOKEN,
    Case,
    Entry,
    pick,
)
from tests.hostile.support import EXTERNAL, HOSTED, LINE, MB, PASSWORD

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
IP: Mapping[str, str] = {
    "nul": "192.0.2.10\x00",
    "crlf": "192.0.2.10\r\nX-Evil: 1",
    "esc": "\x1b[31m192.0.2.10",
    "zone-id-escape": "fe80::1%\x1b[31m",
    "surrogate": "192.0.2.\udcff",
    "huge": "1" * MB,
}


REGISTER = Entry(
    "accounts.register",
    organisation=ORG,
    login=NEW,
    password=GOOD_PASSWORD,
    by=OPERATOR,
)
# No account has the ordinary login: a refused login names only the login, so the
# password case is refused as any unknown login is, whatever the password.
LOGIN = Entry(
    "accounts.login",
    login="nobody@example.org",
    password=seed.PASSWORD,
    ip="192.0.2.10",
    user_agent="Firefox",
)
RECOVERY_PHONE = Entry(
    "accounts.change_recovery_phone",
    login=ANN,
    country_code="41",
    number="79 123 45 67",
    password=seed.PASSWORD,
)


def cases() -> list[Case]:
    return [*_organisations(), *_registration(), *_sign_in(), *_account_settings()]


def _organisations() -> list[Case]:
    return [
        *Entry("organisations.found", by=OPERATOR).vary("name", LINE, ["organisation"]),
        *Entry("organisations.get").vary(
            "name_or_id",
            pick(LINE, "nul", "esc", "surrogate", "huge"),
            ["organisation"],
            LOOKUP,
            label="name",
        ),
    ]


def _registration() -> list[Case]:
    return [
        *REGISTER.vary("login", EXTERNAL, ["login"]),
        *REGISTER.vary(
            "login",
            pick(HOSTED, "passwd-colon", "traversal"),
            ["login"],
            label="login-hosted",
        ),
        *REGISTER.vary("password", PASSWORD, ["password"], secret=True),
        *REGISTER.vary("display_name", LINE, ["display name"]),
        *REGISTER.vary(
            "organisation",
            pick(LINE, "nul", "esc", "surrogate", "huge"),
            ["organisation"],
            LOOKUP,
        ),
        *Entry("accounts.get").vary(
            "login_or_id",
            pick(EXTERNAL, "nul", "crlf", "esc", "surrogate", "huge"),
            ["account", "login"],
            LOOKUP,
            label="login",
        ),
    ]


def _sign_in() -> list[Case]:
    session: list[Case] = []
    for verb in ("session", "log_out"):
        session += Entry(f"accounts.{verb}").vary(
            "session_token",
            TOKEN,
            ["session"],
            (NotPermitted,),
            secret=True,
            label="token",
        )
    return [
        *LOGIN.vary(
            "login",
            pick(EXTERNAL, "nul", "crlf", "surrogate", "huge"),
            ["login"],
            (LoginRefused,),
        ),
        *LOGIN.vary(
            "password",
            PASSWORD,
            ["login"],
            (LoginRefused,),
            secret=True,
            label="password-unknown-login",
        ),
        *Entry("accounts.login", login=ANN, password=seed.PASSWORD).vary(
            "ip", IP, ["ip"]
        ),
        *session,
    ]


def _account_settings() -> list[Case]:
    return [
        *Entry(
            "accounts.change_password", login=ANN, current_password=seed.PASSWORD
        ).vary("new_password", PASSWORD, ["password"], secret=True, label="new"),
        *RECOVERY_PHONE.vary("country_code", PHONE_CODE, ["country"]),
        *RECOVERY_PHONE.vary("number", PHONE_NUMBER, ["phone"]),
        *Entry(
            "accounts.choose_notifications",
            preferences=NotificationPreferences(),
            by=OPERATOR,
        ).vary(
            "login", pick(EXTERNAL, "nul", "surrogate"), ["account", "login"], LOOKUP
        ),
    ]
