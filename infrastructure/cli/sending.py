"""``mailhost send``: a message from one of the service's addresses, its body on stdin."""

from __future__ import annotations

import argparse

from application.authorization import OPERATOR
from infrastructure.cli.arguments import JSON, Command, Subcommands, argument
from infrastructure.cli.output import Parser, emit, engine_for, read_stdin


def register(sub: Subcommands, common: Parser) -> None:
    _command().add_to(sub, common)


def _send(args: argparse.Namespace) -> int:
    body = read_stdin("body")
    with engine_for(args) as e:
        sent = e.host.sending.send(
            args.sender,
            to=args.to,
            cc=args.cc,
            bcc=args.bcc,
            subject=args.subject,
            body=body,
            by=OPERATOR,
        )
    emit(
        args,
        {"message_id": sent.message_id, "recipients": list(sent.recipients)},
        f"sent {sent.message_id} to {len(sent.recipients)} recipient(s)",
    )
    return 0


def _command() -> Command:
    return Command(
        "send",
        "send a message (body on stdin)",
        _send,
        (
            argument("--from", dest="sender", required=True),
            argument("--to", action="append", default=[]),
            argument("--cc", action="append", default=[]),
            argument("--bcc", action="append", default=[]),
            argument("--subject", default=""),
            JSON,
        ),
        example="mailhost send --from ann@example.org --to bob@example.net "
        "--bcc boss@example.org --subject Hi < body.txt",
    )
