"""``mailhost org|user|activity``: organisations, user accounts, a user's activity.

The ``user`` group is what a support desk needs for an account: its settings
(``usersettings``), its sign-ins (``sessions``) and, nested under it by ``twostep``,
two-step verification and application passwords.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from application.authorization import OPERATOR
from application.ports import ActivityEntry
from domain.account import UserAccount
from domain.text import neutralise
from infrastructure.bootstrap import Engine
from infrastructure.cli import sessions, usersettings
from infrastructure.cli.accountargs import LOGIN, password_stdin, user_group
from infrastructure.cli.arguments import (
    JSON,
    Command,
    Subcommands,
    add_group,
    argument,
    bounded_int,
    flag,
)
from infrastructure.cli.output import Parser, as_json, emit, engine_for, read_password
from infrastructure.cli.usersettings import preferences_json

# More entries than any screen or script wants; the read model is asked for no more.
MAX_ACTIVITY_LIMIT = 10_000


def register(sub: Subcommands, common: Parser) -> None:
    org_commands, user_commands, activity = _commands()
    add_group(sub, common, "org", "organisations", org_commands)
    user_group(
        sub,
        common,
        "user",
        "user accounts",
        (
            *user_commands,
            *sessions.commands(),
            *usersettings.commands(),
        ),
    )
    activity.add_to(sub, common)


def _org_create(args: argparse.Namespace) -> int:
    with engine_for(args) as engine:
        org_id = engine.host.organisations.found(args.name, by=OPERATOR)
    emit(
        args,
        {"organisation_id": str(org_id), "name": args.name},
        f"organisation {args.name!r} founded ({org_id})",
    )
    return 0


def _user_create(args: argparse.Namespace) -> int:
    password = read_password()
    with engine_for(args) as engine:
        account_id = engine.host.accounts.register(
            args.org, args.login, password, display_name=args.name, by=OPERATOR
        )
    emit(
        args,
        {"account_id": str(account_id), "login": args.login},
        f"user {args.login} registered ({account_id})",
    )
    return 0


def _org_enforce(args: argparse.Namespace) -> int:
    with engine_for(args) as engine:
        organisations = engine.host.organisations
        if args.off:
            organisations.relax_two_step(args.org, by=args.by)
        else:
            organisations.enforce_two_step(args.org, by=args.by)
    state = "no longer enforced" if args.off else "enforced (ORG-2, MFA-7)"
    emit(
        args,
        {"organisation": args.org, "enforces_two_step": not args.off, "by": args.by},
        f"two-step verification {state} in {args.org!r}",
    )
    return 0


def _user_show(args: argparse.Namespace) -> int:
    with engine_for(args) as engine:
        account = engine.host.accounts.get(args.login)
        data = account_json(engine, account)
    emit(args, data, account_text(data))
    return 0


def account_json(engine: Engine, account: UserAccount) -> dict[str, object]:
    """What a support desk checks first; no secret, no token, no hash reference."""
    org = engine.host.organisations.get(account.organisation_id)
    role = org.members.get(account.id)
    return {
        "account_id": str(account.id),
        "login": account.login,
        "display_name": account.display_name,
        "organisation": org.name,
        "organisation_id": str(org.id),
        "role": str(role) if role else "",
        "recovery_phone": account.recovery_phone or "",
        "notifications": preferences_json(account.preferences),
        "open_sessions": len(account.active_sessions),
        "known_devices": len(account.known_devices),
        "throttled_until": (
            account.throttled_until.isoformat() if account.throttled_until else None
        ),
    }


def account_text(data: dict[str, object]) -> str:
    """The account as lines; the display name was typed by a user (outside text)."""
    name = neutralise(str(data["display_name"]))
    lines = [
        f"{data['login']}{f' ({name})' if name else ''}",
        f"  id:             {data['account_id']}",
        f"  organisation:   {neutralise(str(data['organisation']))} ({data['role']})",
        f"  recovery phone: {data['recovery_phone'] or 'none'}",
        f"  open sessions:  {data['open_sessions']}",
    ]
    if data["throttled_until"]:
        lines.append(f"  throttled until {data['throttled_until']}")
    return "\n".join(lines)


def _activity(args: argparse.Namespace) -> int:
    with engine_for(args) as engine:
        engine.runner.catch_up()
        account = engine.host.accounts.get(args.login)
        entries = engine.host.activity.recent(account.id, args.limit)
    emit(args, [as_json(e) for e in entries], activity_table(entries))
    return 0


def activity_table(entries: Sequence[ActivityEntry]) -> str:
    """Newest first, as the user's recent-activity page would list them.

    Places and devices came from outside (geolocation, the browser's User-Agent): each
    is neutralised (ADV-5), so the table carries no control character and no link.
    """
    header = ("when (UTC)", "what", "outcome", "place", "device", "detail")
    rows = [
        (
            f"{e.at:%Y-%m-%d %H:%M:%S}",
            neutralise(e.kind),
            neutralise(e.outcome if e.count == 1 else f"{e.outcome} x{e.count}"),
            neutralise(e.place or e.network),
            _device(e.device),
            neutralise(e.detail, max_length=200) if e.detail else "",
        )
        for e in entries
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _device(device: str) -> str:
    """The User-Agent neutralised, the device fingerprint tag kept whole after it."""
    client, separator, tag = device.rpartition(" [")
    if not separator:
        return neutralise(device) if device else ""
    return f"{neutralise(client) or 'unknown device'} [{neutralise(tag, max_length=20)}"


def _commands() -> tuple[tuple[Command, ...], tuple[Command, ...], Command]:
    """The ``org`` commands, ``user create|show`` and ``activity``."""
    org_create = Command(
        "create",
        "found an organisation",
        _org_create,
        (argument("name"), JSON),
        example='mailhost org create "Example Co"',
    )
    user_create = Command(
        "create",
        "register a user in an organisation",
        _user_create,
        (
            argument("login"),
            argument("--org", required=True),
            argument("--name", default="", help="display name"),
            *password_stdin("the new account's password"),
            JSON,
        ),
        example="mailhost user create ann@example.org --org 'Example Co' "
        "--password-stdin < pw.txt",
    )
    org_enforce = Command(
        "enforce-2fa",
        "require two-step verification of every member (ORG-2)",
        _org_enforce,
        (
            argument("org", metavar="ORG", help="the organisation's name or id"),
            argument("--by", required=True, metavar="ADMIN", help="the admin's login"),
            flag("--off", "stop enforcing it (relax)"),
            JSON,
        ),
        example='mailhost org enforce-2fa "Example Co" --by ann@example.org',
    )
    user_show = Command(
        "show",
        "an account as a support desk sees it (no secret)",
        _user_show,
        (LOGIN, JSON),
        example="mailhost user show ann@example.org --json",
    )
    activity = Command(
        "activity",
        "a user's recent activity (SEC-3)",
        _activity,
        (
            argument("login"),
            argument(
                "--limit",
                type=bounded_int(1, MAX_ACTIVITY_LIMIT),
                default=50,
                help=f"newest entries to show (1 to {MAX_ACTIVITY_LIMIT}, default 50)",
            ),
            JSON,
        ),
        example="mailhost activity ann@example.org --limit 20 --json",
    )
    return (org_create, org_enforce), (user_create, user_show), activity
