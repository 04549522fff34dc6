"""``mailhost user login|sessions|log-out``: sign-ins as a support desk checks them.

``user login`` is the login page on the command line: the password on stdin, a code
for the second factor, and an answer a script reads (``outcome``). The tokens it
opens are bearer secrets: printed only when asked (``--show-token``), and then only
in JSON, never in a sentence an operator might paste into a ticket.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from application.accounts import LoginResult, Outcome
from application.authorization import OPERATOR
from application.sessions import Sessions, SessionView
from domain.errors import InvalidInput, NotPermitted
from domain.text import neutralise
from infrastructure.bootstrap import Engine
from infrastructure.cli.accountargs import (
    LOGIN,
    identifier,
    password_stdin,
    second_factor_code,
)
from infrastructure.cli.arguments import JSON, Command, OneOf, argument, flag
from infrastructure.cli.output import as_json, emit, engine_for, read_password, say

# The command line itself is the client when no address is given.
LOCAL_CLIENT = "127.0.0.1"
CLI_AGENT = "mailhost command line"
REFUSED = 1


def _login(args: argparse.Namespace) -> int:
    if args.show_token and not args.json:
        raise InvalidInput("--show-token prints tokens only in JSON: add --json")
    password = read_password()
    with engine_for(args) as engine:
        try:
            result = engine.host.accounts.login(
                args.login,
                password,
                ip=args.ip,
                user_agent=args.user_agent,
                code=args.code,
                persistent=not args.no_persist,
            )
        except NotPermitted as refused:
            # Unknown login, wrong password or code, throttled: one answer (ASVS 6.3.8).
            data = {"outcome": "refused", "login": args.login, "reason": str(refused)}
            if args.json:
                emit(args, data, "")
            else:
                say(f"{args.login}: refused: {refused}", err=True)
            return REFUSED
    data = login_json(args.login, result, show_token=args.show_token)
    emit(args, data, login_text(args.login, result))
    return 0


def login_json(
    login: str, result: LoginResult, *, show_token: bool
) -> dict[str, object]:
    """The outcome a script branches on, without any token unless asked for.

    An enrol-only session (MFA-7) is signed in, restricted: the user is in, and the
    only thing the session may do is enrol a second factor.
    """
    pending = result.outcome is Outcome.SECOND_FACTOR_REQUIRED
    data: dict[str, object] = {
        "outcome": str(
            Outcome.SECOND_FACTOR_REQUIRED if pending else Outcome.SIGNED_IN
        ),
        "login": login,
        "account_id": str(result.account_id),
        "second_factor_required": pending,
        "enrol_required": result.outcome is Outcome.ENROL_REQUIRED,
        "persistent": result.persistent,
    }
    if pending:
        data["methods"] = list(result.methods)
    else:
        data["session_id"] = str(result.session_id)
        data["restricted"] = result.restricted
        data["alerted"] = result.alerted
    if show_token:
        tokens = {
            "session_token": result.session_token,
            "device_token": result.device_token,
            "pending_token": result.pending_token,
        }
        data.update({name: token for name, token in tokens.items() if token})
    return data


def login_text(login: str, result: LoginResult) -> str:
    if result.outcome is Outcome.SECOND_FACTOR_REQUIRED:
        return (
            f"{login}: password right; a second factor is required "
            f"({', '.join(result.methods)}): give it with --code"
        )
    if result.outcome is Outcome.ENROL_REQUIRED:
        return (
            f"{login}: signed in to enrol only: the organisation requires two-step "
            f"verification (session {result.session_id})"
        )
    persistent = "" if result.persistent else ", until the browser closes"
    return f"{login}: signed in (session {result.session_id}{persistent})"


def _sessions(args: argparse.Namespace) -> int:
    with engine_for(args) as engine:
        account = engine.host.accounts.get(args.login)
        views = sessions_of(engine).active(account.id)
    emit(args, [as_json(v) for v in views], sessions_table(args.login, views))
    return 0


def _log_out(args: argparse.Namespace) -> int:
    with engine_for(args) as engine:
        account = engine.host.accounts.get(args.login)
        ended = sessions_of(engine).end(
            account.id, None if args.all else args.session, by=OPERATOR
        )
    emit(
        args,
        {"login": args.login, "ended": [str(s) for s in ended]},
        f"{len(ended)} session(s) of {args.login} ended",
    )
    return 0


def sessions_of(engine: Engine) -> Sessions:
    host = engine.host
    return Sessions(host.log, host.accounts.credentials, host.accounts.clock)


def sessions_table(login: str, views: Sequence[SessionView]) -> str:
    """One line per open session; places and User-Agents are outside text (ADV-5)."""
    if not views:
        return f"{login} has no open session"
    lines = [f"open sessions of {login} (oldest first):"]
    for v in views:
        flags = [] if v.persistent else ["until browser closes"]
        flags += ["enrol only"] if v.restricted else []
        lines.append(
            f"  {v.session_id}  {v.started_at:%Y-%m-%d %H:%M:%S} UTC  "
            f"{neutralise(v.place or v.network)}  "
            f"{neutralise(v.user_agent) or 'unknown device'}"
            + (f"  ({', '.join(flags)})" if flags else "")
        )
    return "\n".join(lines)


def commands() -> tuple[Command, ...]:
    """``user login``, ``user sessions`` and ``user log-out``."""
    return (
        _login_command(),
        Command(
            "sessions",
            "list the user's open sessions",
            _sessions,
            (LOGIN, JSON),
            example="mailhost user sessions ann@example.org --json",
        ),
        _log_out_command(),
    )


def _login_command() -> Command:
    return Command(
        "login",
        "check a password (and a second factor) as the login page does",
        _login,
        (
            LOGIN,
            *password_stdin(),
            argument(
                "--code",
                type=second_factor_code,
                help="a code of the authenticator app, or a backup code",
            ),
            argument(
                "--ip",
                default=LOCAL_CLIENT,
                help=f"the client's address (default {LOCAL_CLIENT})",
            ),
            argument(
                "--user-agent",
                default=CLI_AGENT,
                metavar="UA",
                help="the client's User-Agent",
            ),
            flag("--no-persist", "a session for this browser start only (MFA-6)"),
            flag(
                "--show-token",
                "include the session token in the JSON (a bearer secret)",
            ),
            JSON,
        ),
        example="mailhost user login ann@example.org --password-stdin "
        "--code 123456 --json < pw.txt",
    )


def _log_out_command() -> Command:
    return Command(
        "log-out",
        "end one open session, or all of them",
        _log_out,
        (
            LOGIN,
            OneOf(
                (
                    argument(
                        "--session",
                        type=identifier,
                        metavar="ID",
                        help="the session to end (from user sessions)",
                    ),
                    flag("--all", "every session"),
                ),
                required=True,
            ),
            JSON,
        ),
        example="mailhost user log-out ann@example.org --all",
    )
