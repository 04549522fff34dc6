"""``mailhost send``: a message from one of the service's addresses, its body on stdin."""

from __future__ import annotations

import argparse

from infrastructure.cli.arguments import Subcommands
from infrastructure.cli.output import Parser, emit, engine_for, read_stdin


def register(sub: Subcommands, common: Parser) -> None:
    send = sub.add_parser(
        "send",
        parents=[common],
        help="send a message (body on stdin)",
        epilog="example: mailhost send --from ann@example.org --to bob@example.net "
        "--bcc boss@example.org --subject Hi < body.txt",
    )
    send.add_argument("--from", dest="sender", required=True)
    send.add_argument("--to", action="append", default=[])
    send.add_argument("--cc", action="append", default=[])
    send.add_argument("--bcc", action="append", default=[])
    send.add_argument("--subject", default="")
    send.add_argument("--json", action="store_true")
    send.set_defaults(handler=_send)


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
