"""``mailhost send``: a message from one of the service's addresses, its body on stdin."""

from __future__ import annotations

import argparse

from infrastructure.cli.arguments import Subcommands, add_command
from infrastructure.cli.output import Parser, emit, engine_for, read_stdin


def register(sub: Subcommands, common: Parser) -> None:
    send = add_command(
        sub,
        common,
        "send",
        summary="send a message (body on stdin)",
        handler=_send,
        example="mailhost send --from ann@example.org --to bob@example.net "
        "--bcc boss@example.org --subject Hi < body.txt",
    )
    send.add_argument("--from", dest="sender", required=True)
    send.add_argument("--to", action="append", default=[])
    send.add_argument("--cc", action="append", default=[])
    send.add_argument("--bcc", action="append", default=[])
    send.add_argument("--subject", default="")
    send.add_argument("--json", action="store_true")


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
        )
    emit(
        args,
        {"message_id": sent.message_id, "recipients": list(sent.recipients)},
        f"sent {sent.message_id} to {len(sent.recipients)} recipient(s)",
    )
    return 0
