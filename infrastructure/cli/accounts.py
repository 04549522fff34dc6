"""``mailhost org|user|activity``: organisations, user accounts, a user's activity."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from application.ports import ActivityEntry
from domain.text import neutralise
from infrastructure.cli.arguments import (
    JSON,
    Command,
    Subcommands,
    add_group,
    argument,
    bounded_int,
)
from infrastructure.cli.output import Parser, emit, engine_for, read_password

# More entries than any screen or script wants; the read model is asked for no more.
MAX_ACTIVITY_LIMIT = 10_000


def register(sub: Subcommands, common: Parser) -> None:
    org_create, user_create, activity = _commands()
    add_group(sub, common, "org", "organisations", (org_create,))
    add_group(sub, common, "user", "user accounts", (user_create,))
    activity.add_to(sub, common)


def _org_create(args: argparse.Namespace) -> int:
    with engine_for(args) as engine:
        org_id = engine.host.organisations.found(args.name)
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
            args.org, args.login, password, display_name=args.name
        )
    emit(
        args,
        {"account_id": str(account_id), "login": args.login},
        f"user {args.login} registered ({account_id})",
    )
    return 0


def _activity(args: argparse.Namespace) -> int:
    with engine_for(args) as engine:
        engine.runner.catch_up()
        account = engine.host.accounts.get(args.login)
        entries = engine.host.activity.recent(account.id, args.limit)
    emit(args, [entry_json(e) for e in entries], activity_table(entries))
    return 0


def entry_json(entry: ActivityEntry) -> dict[str, str | int]:
    return {
        "at": entry.at.isoformat(),
        "kind": entry.kind,
        "outcome": entry.outcome,
        "place": entry.place,
        "network": entry.network,
        "device": entry.device,
        "detail": entry.detail,
        "count": entry.count,
    }


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


def _commands() -> tuple[Command, Command, Command]:
    """``org create``, ``user create`` and ``activity``."""
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
            argument(
                "--password-stdin",
                action="store_true",
                required=True,
                help="read the password from standard input (never an argument)",
            ),
            JSON,
        ),
        example="mailhost user create ann@example.org --org 'Example Co' "
        "--password-stdin < pw.txt",
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
    return org_create, user_create, activity
