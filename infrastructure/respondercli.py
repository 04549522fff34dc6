"""``mailhost responder ...`` and ``mailhost deliver``: auto-responders from the shell.

``mailhost deliver`` reads one message on standard input and prints the decision as one
JSON object, so an MTA can pipe mail through it (a pipe transport). Its exit status is
what a pipe transport understands (sysexits.h): 0 once the decision is recorded, even
when the reply could not be sent before the process ends ("queued": the send job is in
the log and is retried); 75 (EX_TEMPFAIL, the MTA tries again later) when nothing could
be decided; 2 for bad input. It never prints a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from application.responders import MAX_MESSAGE_BYTES
from domain.address import EmailAddress
from domain.autoreply import Decision
from domain.errors import DomainError, InvalidInput
from domain.text import neutralise
from infrastructure.bootstrap import Engine, open_engine
from infrastructure.commandline import emit, engine_for, say
from infrastructure.settings import ConfigurationError

EX_TEMPFAIL = 75  # sysexits.h: a temporary failure, the MTA retries the delivery
# How long ``deliver`` waits for its reply to be sent: enough for a working mail server,
# short enough that a down one does not hold the MTA's delivery slot (the send job
# stays queued and is retried).
SETTLE_S = 3.0


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


def register(sub: Any, common: argparse.ArgumentParser) -> None:  # noqa: ANN401 - argparse's private type
    parser_class = type(common)
    responder = sub.add_parser("responder", help="auto-responders (RSP-1..RSP-9)")
    r = responder.add_subparsers(parser_class=parser_class)
    for verb in ("add", "edit"):
        cmd = r.add_parser(
            verb,
            parents=[common],
            help=f"{verb} a message",
            epilog=f"example: mailhost responder {verb} ann@example.org --name Holidays "
            "--body 'Back on Monday.' --start 2026-12-20 --end 2027-01-03 "
            "--timezone Europe/Zurich --exclude @example.org",
        )
        cmd.add_argument("address")
        cmd.add_argument("--name", required=True)
        cmd.add_argument("--body", required=True)
        cmd.add_argument("--subject")
        cmd.add_argument("--start", help="ISO 8601 date or date-time (mailbox zone)")
        cmd.add_argument("--end", help="ISO 8601; a date covers that whole day")
        cmd.add_argument("--weekdays", help="e.g. mon,tue,fri")
        cmd.add_argument(
            "--exclude",
            action="append",
            default=[],
            help="an address or @domain that never gets the reply",
        )
        cmd.add_argument("--sender", help="a verified alternative From address")
        if verb == "add":
            cmd.add_argument(
                "--timezone", help="IANA zone of the mailbox, e.g. Europe/Zurich"
            )
        else:
            cmd.add_argument(
                "--reset", action="store_true", help="also reset the 7-day memory"
            )
        cmd.add_argument("--json", action="store_true")
        cmd.set_defaults(handler=_add if verb == "add" else _edit)
    for verb, helptext in (
        ("activate", "make NAME the active message (RSP-1)"),
        ("reset", "reset the 7-day memory of NAME (RSP-5)"),
        ("delete", "delete the message NAME"),
    ):
        cmd = r.add_parser(
            verb,
            parents=[common],
            help=helptext,
            epilog=f"example: mailhost responder {verb} ann@example.org Holidays",
        )
        cmd.add_argument("address")
        cmd.add_argument("name")
        cmd.set_defaults(handler=_simple, verb=verb)
    cmd = r.add_parser(
        "deactivate",
        parents=[common],
        help="no message active",
        epilog="example: mailhost responder deactivate ann@example.org",
    )
    cmd.add_argument("address")
    cmd.set_defaults(handler=_simple, verb="deactivate", name=None)
    cmd = r.add_parser(
        "show",
        parents=[common],
        help="status and per-sender history",
        epilog="example: mailhost responder show ann@example.org --json",
    )
    cmd.add_argument("address")
    cmd.add_argument("--limit", type=int, default=50)
    cmd.add_argument("--json", action="store_true")
    cmd.set_defaults(handler=_show)
    cmd = r.add_parser(
        "verify-sender",
        parents=[common],
        help="mail a code to an alternative sender (RSP-2)",
        epilog="example: mailhost responder verify-sender ann@example.org "
        "office@example.org",
    )
    cmd.add_argument("address")
    cmd.add_argument("sender")
    cmd.set_defaults(handler=_verify)
    cmd = r.add_parser(
        "confirm-sender",
        parents=[common],
        help="enter the mailed code",
        epilog="example: mailhost responder confirm-sender ann@example.org "
        "office@example.org 12345678",
    )
    cmd.add_argument("address")
    cmd.add_argument("sender")
    cmd.add_argument("code")
    cmd.set_defaults(handler=_confirm)
    cmd = r.add_parser(
        "template",
        parents=[common],
        help="save a responder template (ADR-12)",
        epilog="example: mailhost responder template example.org Holidays "
        "--body 'Closed until January.' --apply --activate",
    )
    cmd.add_argument("domain")
    cmd.add_argument("name")
    cmd.add_argument("--body", required=True)
    cmd.add_argument("--subject")
    cmd.add_argument(
        "--apply", action="store_true", help="save it on every mailbox now"
    )
    cmd.add_argument(
        "--activate", action="store_true", help="with --apply: and activate it"
    )
    cmd.set_defaults(handler=_template)

    deliver = sub.add_parser(
        "deliver",
        parents=[common],
        help="decide the auto-reply for one message on stdin; prints JSON",
        epilog="example: mailhost deliver --recipient ann@example.org --sender "
        "bob@example.net < message.eml",
    )
    deliver.add_argument("--recipient", required=True)
    deliver.add_argument(
        "--sender", required=True, help="the envelope sender ('' for <>)"
    )
    deliver.add_argument("--received-at", help="ISO 8601 with offset; default now")
    deliver.set_defaults(handler=_deliver)


def _add(args: argparse.Namespace) -> int:
    with engine_for(args) as e:
        message = e.host.responders.add(
            args.address,
            args.name,
            body=args.body,
            subject=args.subject,
            weekdays=_weekdays(args.weekdays),
            start=_when(args.start, "--start"),
            end=_when(args.end, "--end"),
            exclusions=args.exclude,
            sender=args.sender,
            time_zone=args.timezone,
        )
    emit(
        args,
        {"address": args.address, "name": message.name},
        f"{args.address}: message {message.name!r} saved (not active until activated)",
    )
    return 0


def _edit(args: argparse.Namespace) -> int:
    with engine_for(args) as e:
        message = e.host.responders.edit(
            args.address,
            args.name,
            body=args.body,
            subject=args.subject,
            weekdays=_weekdays(args.weekdays),
            start=_when(args.start, "--start"),
            end=_when(args.end, "--end"),
            exclusions=args.exclude,
            sender=args.sender,
            reset_memory=args.reset,
        )
    emit(
        args,
        {
            "address": args.address,
            "name": message.name,
            "generation": message.generation,
        },
        f"{args.address}: message {message.name!r} edited",
    )
    return 0


def _simple(args: argparse.Namespace) -> int:
    with engine_for(args) as e:
        r = e.host.responders
        if args.verb == "activate":
            r.activate(args.address, args.name)
        elif args.verb == "reset":
            r.reset(args.address, args.name)
        elif args.verb == "delete":
            r.delete(args.address, args.name)
        else:
            r.deactivate(args.address)
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
        say(
            json.dumps(
                {
                    "address": status.address,
                    "time_zone": status.time_zone,
                    "active": status.active,
                    "next_change": status.next_change.isoformat()
                    if status.next_change
                    else None,
                    "messages": [
                        {
                            "name": m.name,
                            "subject": m.subject,
                            "active": m.active,
                            "schedule": m.schedule,
                            "generation": m.generation,
                        }
                        for m in status.messages
                    ],
                    "history": [
                        {
                            "sender": h.sender,
                            "message": h.message,
                            "at": h.at.isoformat(),
                            "message_id": h.message_id,
                            "sent": h.sent,
                        }
                        for h in history
                    ],
                },
                indent=2,
            )
        )
        return 0
    say(
        f"{status.address} ({status.time_zone}): active message: {status.active or 'none'}"
    )
    if status.next_change:
        say(f"  next change: {status.next_change:%Y-%m-%d %H:%M} UTC")
    for m in status.messages:
        say(f"  {'*' if m.active else ' '} {m.name}: {m.schedule}")
    say("replies (newest first):" if history else "no replies yet")
    for h in history:
        state = "sent" if h.sent else "queued"
        say(
            f"  {h.at:%Y-%m-%d %H:%M} UTC  {_outside_address(h.sender)}  "
            f"{h.message!r}  {state}"
        )
    return 0


def _outside_address(text: str) -> str:
    """A sender as the terminal may show it: came from outside (the MTA's envelope).

    A valid address can hold no control, format or bidi character (email_validator
    refuses them), and is shown whole: :func:`neutralise` would read its domain as a
    link and remove it, and the operator needs to know who got the reply. Anything
    else is neutralised as outside text.
    """
    try:
        parsed = EmailAddress.parse(text)
    except InvalidInput:
        return neutralise(text)
    return text if str(parsed) == text else neutralise(text)


def _verify(args: argparse.Namespace) -> int:
    with engine_for(args) as e:
        expires = e.host.responders.request_sender_verification(
            args.address, args.sender
        )
    say(f"a code was mailed to {args.sender}; it expires {expires:%Y-%m-%d %H:%M} UTC")
    return 0


def _confirm(args: argparse.Namespace) -> int:
    with engine_for(args) as e:
        ok = e.host.responders.confirm_sender(args.address, args.sender, args.code)
    if not ok:
        raise InvalidInput(f"the code for {args.sender} is wrong")
    say(f"{args.sender} is verified as a sender for {args.address}")
    return 0


def _template(args: argparse.Namespace) -> int:
    with engine_for(args) as e:
        e.host.responders.save_template(
            args.domain, args.name, body=args.body, subject=args.subject
        )
        applied = (
            e.host.responders.apply_template(
                args.domain, args.name, activate=args.activate
            )
            if args.apply
            else 0
        )
    say(
        f"{args.domain}: responder template {args.name!r} saved"
        + (f", applied to {applied} mailbox(es)" if args.apply else "")
    )
    return 0


def _received_at(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        received = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"--received-at {text!r} is not ISO 8601") from None
    if received.tzinfo is None:
        raise InvalidInput(
            "--received-at needs a UTC offset, e.g. 2026-11-28T10:00+01:00"
        )
    try:
        return received.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 has no UTC instant
        raise InvalidInput(
            f"--received-at {text!r} is outside the range of dates this engine keeps"
        ) from None


class _OneLine(logging.Formatter):
    """A log record as one neutralised line: the worker threads' errors (a mail server
    down) are news for the operator, their tracebacks are not, on an MTA's stderr."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            text += f" ({type(error).__name__}: {error})"
        return (
            f"mailhost: {record.levelname.lower()}: {neutralise(text, max_length=300)}"
        )


@contextmanager
def _quiet_logs() -> Iterator[None]:
    """Every log line of this process, the background threads' too, as one line."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine())
    handler.setLevel(logging.WARNING)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


def _bad_input(error: Exception) -> bool:
    return isinstance(error, DomainError | ConfigurationError | ValueError)


def _deliver(args: argparse.Namespace) -> int:
    # At most one byte more than the limit: the refusal needs no more, and a message of
    # any size costs at most that much memory.
    raw = sys.stdin.buffer.read(MAX_MESSAGE_BYTES + 1)
    received = _received_at(args.received_at)
    with _quiet_logs():
        try:
            # Embedded, this process sends the reply itself before it exits; with Redis
            # the reply job waits for `mailhost run` to relay it to the workers.
            engine = open_engine(
                args.home, background=not os.environ.get("MAILHOST_BROKER_URL")
            )
        except Exception as e:
            if _bad_input(e):
                raise
            return _not_decided(e)
        try:
            try:
                decision = engine.host.responders.deliver(
                    args.recipient, args.sender, raw, received
                )
            except Exception as e:
                if _bad_input(e):
                    raise
                return _not_decided(e)
            _report(engine, decision)
        finally:
            _close(engine)
    return 0


def _not_decided(error: Exception) -> int:
    """Nothing was recorded: the MTA keeps the message and delivers it again later."""
    text = neutralise(f"{type(error).__name__}: {error}", max_length=300)
    say(f"mailhost: temporary failure, nothing decided: {text}", err=True)
    return EX_TEMPFAIL


def _report(engine: Engine, decision: Decision) -> None:
    """Print the decision once it is recorded; wait a little for its reply to go out."""
    out = decision.as_dict()
    if decision.reply:
        sent = False
        try:
            engine.host.settle(SETTLE_S)
            sent = engine.host.responders.reply_sent(decision)
        except Exception as e:  # noqa: BLE001 - the decision stands; the job retries the send
            logging.getLogger(__name__).warning(
                "the reply is queued, not sent yet: %s: %s", type(e).__name__, e
            )
        out["queued"] = not sent
    say(json.dumps(out))
    # Out before anything closing the engine may log: the MTA reads this line first.
    sys.stdout.flush()


def _close(engine: Engine) -> None:
    try:
        engine.close()
    except Exception as e:  # noqa: BLE001 - after the decision, closing cannot undo it
        logging.getLogger(__name__).warning(
            "closing the engine failed: %s: %s", type(e).__name__, e
        )
