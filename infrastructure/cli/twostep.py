"""``mailhost user 2fa ...`` and ``mailhost user app-password ...`` (MFA-1..MFA-5).

Nested under ``user`` (registered after it). What is shown once (the provisioning URI,
backup codes, an app password) is printed once, by the command that made it; no other
command can print it again, since the engine keeps only sealed seeds and digests.
Every change asks for the account password on stdin (and, with two-step verification
on, a code): the re-authentication the use cases require.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from uuid import UUID

from application.twostep import Reauth, TwoStepVerification
from domain.errors import InvalidInput, NotFound
from domain.text import neutralise
from domain.twostepfacts import Factor, FactorKind
from infrastructure.bootstrap import Engine
from infrastructure.cli import twostepview
from infrastructure.cli.accountargs import (
    LOGIN,
    identifier,
    password_stdin,
    subcommands_of,
    user_group,
)
from infrastructure.cli.arguments import JSON, Command, Subcommands, argument
from infrastructure.cli.output import (
    Parser,
    as_json,
    emit,
    engine_for,
    read_password,
)
from infrastructure.cli.twostepargs import (
    METHODS,
    app_name,
    code_option,
    factor_name,
    sms_phone,
)
from infrastructure.settings import ConfigurationError


def register(sub: Subcommands, common: Parser) -> None:
    user = subcommands_of(sub, "user")
    user_group(user, common, "2fa", "two-step verification", _two_step_commands())
    user_group(user, common, "app-password", "application passwords", _app_commands())


def verification(engine: Engine) -> TwoStepVerification:
    """The engine's two-step use cases; an engine assembled without them refuses."""
    found = engine.host.twostep
    if found is None:
        raise ConfigurationError("two-step verification is not configured here")
    return found


def _auth(args: argparse.Namespace) -> Reauth:
    """The re-authentication every change needs: password (stdin), and a code."""
    return Reauth(password=read_password(), code=args.code)


def _enrol(args: argparse.Namespace) -> int:
    kind = METHODS[args.method]
    if (kind is FactorKind.SMS) != (args.phone is not None):
        raise InvalidInput(
            "--phone is required with --method sms"
            if kind is FactorKind.SMS
            else f"--phone is for --method sms, not {args.method}"
        )
    auth = _auth(args)
    with engine_for(args) as engine:
        enrolment = verification(engine).enrol(
            args.login, kind.value, auth, label=args.label, phone=args.phone
        )
    data = twostepview.enrolment_json(enrolment)
    emit(args, data, twostepview.enrolment_text(args.login, enrolment))
    return 0


def _verify(args: argparse.Namespace) -> int:
    with engine_for(args) as engine:
        twostep = verification(engine)
        factor = _pending_factor(twostep.status(args.login).factors, args.factor)
        if factor.kind is FactorKind.PUSH:
            # Confirmed by the push its enrolment sent, once the device approved it.
            twostep.confirm(args.login, factor.factor_id, push=args.challenge)
        else:
            if args.code is None:
                raise InvalidInput(f"--code is required to confirm {factor.kind}")
            twostep.confirm(
                args.login,
                factor.factor_id,
                code=args.code,
                challenge_id=args.challenge,
            )
        status = twostep.status(args.login)
    confirmed = next(f for f in status.factors if f.factor_id == factor.factor_id)
    emit(
        args,
        twostepview.factor_json(confirmed),
        f"{neutralise(confirmed.label)} confirmed: two-step verification is on "
        f"for {args.login}",
    )
    return 0


def _pending_factor(factors: tuple[Factor, ...], chosen: UUID | None) -> Factor:
    """The factor ``--factor`` names, or the only one waiting for its first code."""
    if chosen is not None:
        for factor in factors:
            if factor.factor_id == chosen:
                return factor
        raise NotFound(f"two-step factor {chosen} is not enrolled")
    pending = [f for f in factors if not f.confirmed]
    if len(pending) != 1:
        raise InvalidInput(
            "no enrolment is waiting for a code"
            if not pending
            else f"{len(pending)} enrolments wait for a code: name one with --factor"
        )
    return pending[0]


def _remove(args: argparse.Namespace) -> int:
    return _withdraw(
        args,
        lambda twostep, auth: twostep.remove(args.login, args.factor_id, auth),
        {"removed": str(args.factor_id)},
        f"factor {args.factor_id} of {args.login} removed",
    )


def _withdraw(
    args: argparse.Namespace,
    act: Callable[[TwoStepVerification, Reauth], None],
    data: dict[str, str],
    text: str,
) -> int:
    """A removal that needs the password again (SEC-4), then says what went."""
    auth = _auth(args)
    with engine_for(args) as engine:
        act(verification(engine), auth)
    emit(args, {"login": args.login, **data}, text)
    return 0


def _disable(args: argparse.Namespace) -> int:
    auth = _auth(args)
    with engine_for(args) as engine:
        verification(engine).disable(args.login, auth)
    emit(
        args,
        {"login": args.login, "enabled": False},
        f"two-step verification is off for {args.login}; its factors, backup codes "
        "and app passwords are gone",
    )
    return 0


def _backup_codes(args: argparse.Namespace) -> int:
    auth = _auth(args)
    with engine_for(args) as engine:
        codes = verification(engine).regenerate_backup_codes(args.login, auth)
    emit(
        args,
        {"login": args.login, "backup_codes": list(codes)},
        twostepview.codes_text(codes),
    )
    return 0


def _status(args: argparse.Namespace) -> int:
    with engine_for(args) as engine:
        status = verification(engine).status(args.login)
        app_passwords = len(verification(engine).app_passwords(args.login))
    data = twostepview.status_json(args.login, status, app_passwords=app_passwords)
    emit(args, data, twostepview.status_text(data))
    return 0


def _app_create(args: argparse.Namespace) -> int:
    auth = _auth(args)
    with engine_for(args) as engine:
        created = verification(engine).create_app_password(args.login, args.name, auth)
    emit(
        args,
        {
            "app_id": str(created.app_id),
            "name": created.name,
            "password": created.password,
        },
        f"app password {neutralise(created.name)!r} ({created.app_id}), shown this "
        f"once:\n  {created.password}",
    )
    return 0


def _app_list(args: argparse.Namespace) -> int:
    with engine_for(args) as engine:
        views = verification(engine).app_passwords(args.login)
    emit(
        args,
        [as_json(v) for v in views],
        twostepview.apps_table(args.login, views),
    )
    return 0


def _app_revoke(args: argparse.Namespace) -> int:
    return _withdraw(
        args,
        lambda twostep, auth: twostep.revoke_app_password(
            args.login, args.app_id, auth
        ),
        {"revoked": str(args.app_id)},
        f"app password {args.app_id} of {args.login} revoked",
    )


def _two_step_commands() -> tuple[Command, ...]:
    return (
        _enrol_command(),
        _verify_command(),
        _remove_command(),
        Command(
            "disable",
            "turn two-step verification off (factors, codes, app passwords gone)",
            _disable,
            (LOGIN, *password_stdin(), code_option(), JSON),
            example="mailhost user 2fa disable ann@example.org --password-stdin "
            "--code 123456 < pw.txt",
        ),
        Command(
            "backup-codes",
            "new backup codes, shown once (the old set stops working)",
            _backup_codes,
            (LOGIN, *password_stdin(), code_option(required=True), JSON),
            example="mailhost user 2fa backup-codes ann@example.org --password-stdin "
            "--code 123456 --json < pw.txt",
        ),
        Command(
            "status",
            "the user's factors, backup codes left, lock and policy",
            _status,
            (LOGIN, JSON),
            example="mailhost user 2fa status ann@example.org --json",
        ),
    )


def _enrol_command() -> Command:
    return Command(
        "enrol",
        "start enrolling a second factor (the URI and backup codes shown once)",
        _enrol,
        (
            LOGIN,
            argument("--method", required=True, choices=sorted(METHODS)),
            argument(
                "--label",
                type=factor_name,
                default="",
                help="a name for the factor",
            ),
            argument(
                "--phone",
                type=sms_phone,
                help="with --method sms: a CH, FR, BE or DE mobile number, +41...",
            ),
            *password_stdin(),
            code_option(),
            JSON,
        ),
        example="mailhost user 2fa enrol ann@example.org --method totp "
        "--password-stdin --json < pw.txt",
    )


def _verify_command() -> Command:
    return Command(
        "verify",
        "confirm a pending enrolment with a code it produced",
        _verify,
        (
            LOGIN,
            code_option(totp_only=True),
            argument(
                "--factor",
                type=identifier,
                metavar="ID",
                help="the factor (default: the one pending)",
            ),
            argument(
                "--challenge",
                type=identifier,
                metavar="ID",
                help="with an SMS or push factor: the challenge its enrolment printed",
            ),
            JSON,
        ),
        example="mailhost user 2fa verify ann@example.org --code 123456",
    )


def _remove_command() -> Command:
    return Command(
        "remove",
        "remove one factor (the others stay)",
        _remove,
        (
            LOGIN,
            argument(
                "factor_id",
                type=identifier,
                metavar="FACTOR_ID",
                help="from status",
            ),
            *password_stdin(),
            code_option(),
            JSON,
        ),
        example="mailhost user 2fa remove ann@example.org FACTOR_ID "
        "--password-stdin --code 123456 < pw.txt",
    )


def _app_commands() -> tuple[Command, ...]:
    return (
        _app_create_command(),
        Command(
            "list",
            "the user's app passwords: name, created, last used, protocol",
            _app_list,
            (LOGIN, JSON),
            example="mailhost user app-password list ann@example.org --json",
        ),
        _app_revoke_command(),
    )


def _app_create_command() -> Command:
    return Command(
        "create",
        "a password for one sync tool (MFA-4), shown once",
        _app_create,
        (
            LOGIN,
            argument(
                "--name",
                type=app_name,
                required=True,
                help="what it is for, e.g. Thunderbird",
            ),
            *password_stdin(),
            code_option(),
            JSON,
        ),
        example="mailhost user app-password create ann@example.org --name "
        "Thunderbird --password-stdin --code 123456 < pw.txt",
    )


def _app_revoke_command() -> Command:
    return Command(
        "revoke",
        "revoke one app password",
        _app_revoke,
        (
            LOGIN,
            argument("app_id", type=identifier, metavar="APP_ID", help="from the list"),
            *password_stdin(),
            code_option(),
            JSON,
        ),
        example="mailhost user app-password revoke ann@example.org APP_ID "
        "--password-stdin --code 123456 < pw.txt",
    )
