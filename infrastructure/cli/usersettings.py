"""``mailhost user password|phone|notifications``: what a user changes in their settings.

The operator runs them for a user at the support desk: each needs what the user's own
settings page needs (the current password on stdin for a password or phone change).
"""

from __future__ import annotations

import argparse

from attrs import asdict, evolve

from application.authorization import OPERATOR
from domain.errors import InvalidInput
from domain.security import NotificationPreferences
from infrastructure.cli.accountargs import (
    LOGIN,
    password_stdin,
    read_two_passwords,
    second_factor_code,
)
from infrastructure.cli.arguments import JSON, Command, argument
from infrastructure.cli.output import emit, engine_for, read_password

# The choices of --enable/--disable, each naming a field of NotificationPreferences.
KINDS = {
    "new-location": "new_location",
    "failed-login": "failed_login",
    "security-change": "security_change",
}


def _password(args: argparse.Namespace) -> int:
    current, new = read_two_passwords()
    with engine_for(args) as engine:
        ended = engine.host.accounts.change_password(args.login, current, new)
    emit(
        args,
        {"login": args.login, "ended_sessions": [str(s) for s in ended]},
        f"password of {args.login} changed; {len(ended)} session(s) ended (SEC-4)",
    )
    return 0


def _phone(args: argparse.Namespace) -> int:
    password = read_password()
    with engine_for(args) as engine:
        e164 = engine.host.accounts.change_recovery_phone(
            args.login,
            args.country_code,
            args.number,
            password=password,
            code=args.code,
        )
    emit(
        args,
        {"login": args.login, "recovery_phone": e164},
        f"recovery phone of {args.login} is now {e164}",
    )
    return 0


def _notifications(args: argparse.Namespace) -> int:
    enable, disable = set(args.enable or ()), set(args.disable or ())
    both = sorted(enable & disable)
    if both:
        raise InvalidInput(
            f"--enable and --disable both name {', '.join(both)}: choose one"
        )
    with engine_for(args) as engine:
        accounts = engine.host.accounts
        current = accounts.get(args.login).preferences
        chosen = evolve(
            current,
            **{KINDS[k]: True for k in enable},
            **{KINDS[k]: False for k in disable},
        )
        if chosen != current:
            accounts.choose_notifications(args.login, chosen, by=OPERATOR)
    emit(args, preferences_json(chosen), preferences_text(args.login, chosen))
    return 0


def preferences_json(preferences: NotificationPreferences) -> dict[str, bool]:
    names = {field: kind for kind, field in KINDS.items()}
    return {names[k]: bool(v) for k, v in asdict(preferences).items()}


def preferences_text(login: str, preferences: NotificationPreferences) -> str:
    lines = [f"security mails of {login}:"]
    lines += [
        f"  {kind:<16} {'on' if on else 'off'}"
        for kind, on in preferences_json(preferences).items()
    ]
    return "\n".join(lines)


def commands() -> tuple[Command, ...]:
    """``user password``, ``user phone`` and ``user notifications``."""
    kind = {"choices": sorted(KINDS), "action": "append", "metavar": "KIND"}
    return (
        Command(
            "password",
            "change the account password (ends the other sessions, SEC-4)",
            _password,
            (
                LOGIN,
                *password_stdin("two lines: the current password, then the new one"),
                JSON,
            ),
            example='printf \'%s\\n%s\\n\' "$OLD" "$NEW" | '
            "mailhost user password ann@example.org --password-stdin",
        ),
        Command(
            "phone",
            "change the recovery mobile number (SEC-5)",
            _phone,
            (
                LOGIN,
                argument("--country-code", required=True, help="calling code, e.g. 41"),
                argument(
                    "--number", required=True, help="the number as dialled at home"
                ),
                *password_stdin(),
                argument(
                    "--code",
                    type=second_factor_code,
                    help="with two-step verification on: a code, or a backup code",
                ),
                JSON,
            ),
            example="mailhost user phone ann@example.org --country-code 41 "
            "--number '079 123 45 67' --password-stdin < pw.txt",
        ),
        Command(
            "notifications",
            "show or choose which security mails the user gets",
            _notifications,
            (
                LOGIN,
                argument("--enable", help="turn a kind of mail on", **kind),
                argument("--disable", help="turn a kind of mail off", **kind),
                JSON,
            ),
            example="mailhost user notifications ann@example.org "
            "--disable new-location --json",
        ),
    )
