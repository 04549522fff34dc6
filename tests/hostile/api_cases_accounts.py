"""Hostile cases for organisations and their accounts: founding, registration, sign-in,
sessions and an account's own settings (see ``test_api_hostile``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

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
    each,
    pick,
)
from tests.hostile.support import EXTERNAL, HOSTED, LINE, MB, PASSWORD

if TYPE_CHECKING:
    from tests.hostile.conftest import World

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


def cases() -> list[Case]:
    return [*_organisations(), *_registration(), *_sign_in(), *_account_settings()]


def _login_refused(w: World, login: str, password: str) -> object:
    return w.host.accounts.login(login, password, ip="192.0.2.10", user_agent="Firefox")


def _organisations() -> list[Case]:
    c: list[Case] = []
    c += each(
        "organisations.found/name",
        LINE,
        lambda w, v: w.host.organisations.found(v, by=OPERATOR),
        ["organisation"],
    )
    c += each(
        "organisations.get/name",
        pick(LINE, "nul", "esc", "surrogate", "huge"),
        lambda w, v: w.host.organisations.get(v),
        ["organisation"],
        LOOKUP,
    )
    return c


def _registration() -> list[Case]:
    c: list[Case] = []
    c += each(
        "accounts.register/login",
        EXTERNAL,
        lambda w, v: w.host.accounts.register(ORG, v, GOOD_PASSWORD, by=OPERATOR),
        ["login"],
    )
    c += each(
        "accounts.register/login-hosted",
        pick(HOSTED, "passwd-colon", "traversal"),
        lambda w, v: w.host.accounts.register(ORG, v, GOOD_PASSWORD, by=OPERATOR),
        ["login"],
    )
    c += each(
        "accounts.register/password",
        PASSWORD,
        lambda w, v: w.host.accounts.register(ORG, NEW, v, by=OPERATOR),
        ["password"],
        secret=True,
    )
    c += each(
        "accounts.register/display_name",
        LINE,
        lambda w, v: w.host.accounts.register(
            ORG, NEW, GOOD_PASSWORD, display_name=v, by=OPERATOR
        ),
        ["display name"],
    )
    c += each(
        "accounts.register/organisation",
        pick(LINE, "nul", "esc", "surrogate", "huge"),
        lambda w, v: w.host.accounts.register(v, NEW, GOOD_PASSWORD, by=OPERATOR),
        ["organisation"],
        LOOKUP,
    )
    c += each(
        "accounts.get/login",
        pick(EXTERNAL, "nul", "crlf", "esc", "surrogate", "huge"),
        lambda w, v: w.host.accounts.get(v),
        ["account", "login"],
        LOOKUP,
    )
    return c


def _sign_in() -> list[Case]:
    c: list[Case] = []
    c += each(
        "accounts.login/login",
        pick(EXTERNAL, "nul", "crlf", "surrogate", "huge"),
        lambda w, v: _login_refused(w, v, seed.PASSWORD),
        ["login"],
        (LoginRefused,),
    )
    c += each(
        "accounts.login/password-unknown-login",
        PASSWORD,
        lambda w, v: _login_refused(w, "nobody@example.org", v),
        ["login"],
        (LoginRefused,),
        secret=True,
    )
    c += each(
        "accounts.login/ip",
        IP,
        lambda w, v: w.host.accounts.login(ANN, seed.PASSWORD, ip=v),
        ["ip"],
    )
    c += each(
        "accounts.session/token",
        TOKEN,
        lambda w, v: w.host.accounts.session(v),
        ["session"],
        (NotPermitted,),
        secret=True,
    )
    c += each(
        "accounts.log_out/token",
        TOKEN,
        lambda w, v: w.host.accounts.log_out(v),
        ["session"],
        (NotPermitted,),
        secret=True,
    )
    return c


def _account_settings() -> list[Case]:
    c: list[Case] = []
    c += each(
        "accounts.change_password/new",
        PASSWORD,
        lambda w, v: w.host.accounts.change_password(ANN, seed.PASSWORD, v),
        ["password"],
        secret=True,
    )
    c += each(
        "accounts.change_recovery_phone/country_code",
        PHONE_CODE,
        lambda w, v: w.host.accounts.change_recovery_phone(
            ANN, v, "79 123 45 67", password=seed.PASSWORD
        ),
        ["country"],
    )
    c += each(
        "accounts.change_recovery_phone/number",
        PHONE_NUMBER,
        lambda w, v: w.host.accounts.change_recovery_phone(
            ANN, "41", v, password=seed.PASSWORD
        ),
        ["phone"],
    )
    c += each(
        "accounts.choose_notifications/login",
        pick(EXTERNAL, "nul", "surrogate"),
        lambda w, v: w.host.accounts.choose_notifications(
            v, NotificationPreferences(), by=OPERATOR
        ),
        ["account", "login"],
        LOOKUP,
    )
    return c
