"""``mailhost responder ...``: auto-responders from the shell (RSP-1..RSP-9).

Each subcommand is one entry of the command table at the end; the fields of a message are
read into one :class:`MessageDraft`, checked where they enter. ``mailhost deliver`` is
:mod:`infrastructure.cli.deliver`, registered from here after the responder commands.
"""

from __future__ import annotations

import argparse
import json
from datetime import date, datetime

from application.authorization import OPERATOR
from domain.errors import InvalidInput
from domain.respondermessage import MessageDraft, ResponderMessage
from infrastructure.cli import deliver
from infrastructure.cli.arguments import (
    JSON,
    Argument,
    Command,
    Handler,
    Subcommands,
    add_group,
    argument,
    flag,
)
from infrastructure.cli.output import Parser, emit, engine_for, say
from infrastructure.cli.responderview import status_data, status_lines


def _when(text: str | None, what: str) -> date | datetime | None:
    """ISO 8601: a date (whole day) or a date-time (naive: the mailbox's zone)."""
    if not text:
        return None
    try:
        if len(text.strip()) == 10:  # noqa: PLR2004 - YYYY-MM-DD
            return date.fromisoformat(text.strip())
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"{what} {text!r} is not an ISO 8601 date or date-time"
        ) from None


def _weekdays(text: str | None) -> tuple[str, ...]:
    return tuple(d.strip() for d in (text or "").split(",") if d.strip())


def _draft(args: argparse.Namespace) -> MessageDraft:
    """The message fields of ``add`` and ``edit``, checked once."""
    return MessageDraft(
        name=args.name,
        body=args.body,
        subject=args.subject,
        weekdays=_weekdays(args.weekdays),
        start=_when(args.start, "--start"),
        end=_when(args.end, "--end"),
        sender=args.sender,
        exclusions=tuple(args.exclude),
    )


def register(sub: Subcommands, common: Parser) -> None:
    add_group(sub, common, "responder", "auto-responders (RSP-1..RSP-9)", _commands())
    deliver.register(sub, common)


def _add(args: argparse.Namespace) -> int:
    draft = _draft(args)
    with engine_for(args) as e:
        message = e.host.responders.save_message(
            args.address, draft, time_zone=args.timezone, by=OPERATOR
        )
    return _saved(args, message, "saved (not active until activated)")


def _edit(args: argparse.Namespace) -> int:
    draft = _draft(args)
    with engine_for(args) as e:
        message = e.host.responders.edit_message(
            args.address, draft, reset_memory=args.reset, by=OPERATOR
        )
    return _saved(args, message, "edited", generation=message.generation)


def _saved(
    args: argparse.Namespace, message: ResponderMessage, outcome: str, **more: object
) -> int:
    """One report for ``add`` and ``edit``: a script finds the same keys after either."""
    emit(
        args,
        {"address": args.address, "name": message.name, **more},
        f"{args.address}: message {message.name!r} {outcome}",
    )
    return 0


def _simple(args: argparse.Namespace) -> int:
    with engine_for(args) as e:
        r = e.host.responders
        if args.verb == "activate":
            r.activate(args.address, args.name, by=OPERATOR)
        elif args.verb == "reset":
            r.reset(args.address, args.name, by=OPERATOR)
        elif args.verb == "delete":
            r.delete(args.address, args.name, by=OPERATOR)
        else:
            r.deactivate(args.address, by=OPERATOR)
    say(f"{args.address}: {args.verb} {args.name or ''}".rstrip())
    return 0


def _show(args: argparse.Namespace) -> int:
    # The limit is checked where every caller's is (Responders.history): 1..10,000.
    with engine_for(args) as e:
        e.runner.catch_up()
        status = e.host.responders.status(args.address)
        history = e.host.responders.history(args.address, args.limit)
    if status is None:
        raise InvalidInput(f"{args.address} has no auto-responder")
    if args.json:
        say(json.dumps(status_data(status, history), indent=2))
        return 0
    for line in status_lines(status, history):
        say(line)
    return 0


def _verify(args: argparse.Namespace) -> int:
    with engine_for(args) as e:
        expires = e.host.responders.request_sender_verification(
            args.address, args.sender, by=OPERATOR
        )
    say(f"a code was mailed to {args.sender}; it expires {expires:%Y-%m-%d %H:%M} UTC")
    return 0


def _confirm(args: argparse.Namespace) -> int:
    with engine_for(args) as e:
        ok = e.host.responders.confirm_sender(
            args.address, args.sender, args.code, by=OPERATOR
        )
    if not ok:
        raise InvalidInput(f"the code for {args.sender} is wrong")
    say(f"{args.sender} is verified as a sender for {args.address}")
    return 0


def _template(args: argparse.Namespace) -> int:
    with engine_for(args) as e:
        e.host.responders.save_template(
            args.domain, args.name, body=args.body, subject=args.subject, by=OPERATOR
        )
        applied = (
            e.host.responders.apply_template(
                args.domain, args.name, activate=args.activate, by=OPERATOR
            )
            if args.apply
            else 0
        )
    say(
        f"{args.domain}: responder template {args.name!r} saved"
        + (f", applied to {applied} mailbox(es)" if args.apply else "")
    )
    return 0


def _message(verb: str, handler: Handler, own: Argument) -> Command:
    """``add`` or ``edit``: every field of a message, and the one option of its own."""
    return Command(
        verb,
        f"{verb} a message",
        handler,
        (
            argument("address"),
            argument("--name", required=True),
            argument("--body", required=True),
            argument("--subject"),
            argument("--start", help="ISO 8601 date or date-time (mailbox zone)"),
            argument("--end", help="ISO 8601; a date covers that whole day"),
            argument("--weekdays", help="e.g. mon,tue,fri"),
            argument(
                "--exclude",
                action="append",
                default=[],
                help="an address or @domain that never gets the reply",
            ),
            argument("--sender", help="a verified alternative From address"),
            own,
            JSON,
        ),
        example=f"mailhost responder {verb} ann@example.org --name Holidays "
        "--body 'Back on Monday.' --start 2026-12-20 --end 2027-01-03 "
        "--timezone Europe/Zurich --exclude @example.org",
    )


def _named(verb: str, summary: str) -> Command:
    """A command on one message, NAME, of an address."""
    return Command(
        verb,
        summary,
        _simple,
        (argument("address"), argument("name")),
        example=f"mailhost responder {verb} ann@example.org Holidays",
        defaults={"verb": verb},
    )


def _commands() -> tuple[Command, ...]:
    return (
        _message(
            "add",
            _add,
            argument("--timezone", help="IANA zone of the mailbox, e.g. Europe/Zurich"),
        ),
        _message(
            "edit",
            _edit,
            flag("--reset", "also reset the 7-day memory"),
        ),
        _named("activate", "make NAME the active message (RSP-1)"),
        _named("reset", "reset the 7-day memory of NAME (RSP-5)"),
        _named("delete", "delete the message NAME"),
        Command(
            "deactivate",
            "no message active",
            _simple,
            (argument("address"),),
            example="mailhost responder deactivate ann@example.org",
            defaults={"verb": "deactivate", "name": None},
        ),
        Command(
            "show",
            "status and per-sender history",
            _show,
            (argument("address"), argument("--limit", type=int, default=50), JSON),
            example="mailhost responder show ann@example.org --json",
        ),
        Command(
            "verify-sender",
            "mail a code to an alternative sender (RSP-2)",
            _verify,
            (argument("address"), argument("sender")),
            example="mailhost responder verify-sender ann@example.org office@example.org",
        ),
        Command(
            "confirm-sender",
            "enter the mailed code",
            _confirm,
            (argument("address"), argument("sender"), argument("code")),
            example="mailhost responder confirm-sender ann@example.org "
            "office@example.org 12345678",
        ),
        _template_command(),
    )


def _template_command() -> Command:
    return Command(
        "template",
        "save a responder template (ADR-12)",
        _template,
        (
            argument("domain"),
            argument("name"),
            argument("--body", required=True),
            argument("--subject"),
            flag("--apply", "save it on every mailbox now"),
            flag("--activate", "with --apply: and activate it"),
        ),
        example="mailhost responder template example.org Holidays "
        "--body 'Closed until January.' --apply --activate",
    )
