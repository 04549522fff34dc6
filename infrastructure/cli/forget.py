"""``mailhost user forget LOGIN --yes``: forget a person (crypto-shredding), for good.

Nested under ``user`` (registered after it). Their keys are deleted, the forgetting is
recorded, and the read models are rebuilt and compacted; there is no undo, hence
``--yes``. The account itself stays (its login, its mailboxes): only the personal data
its events held reads as forgotten from now on, and an unfinished two-step sign-in of
theirs is cancelled (it held where it came from). Not touched: their mailbox, and the
mails already sent to them (alerts in the outbox, delivered or due), which are theirs.

The login is the operator's own argument, shown as typed: ``say`` keeps it printable,
and ``neutralise`` (for outside text) would cut a login's domain as a link.
"""

from __future__ import annotations

import argparse

from application.authorization import OPERATOR
from domain.errors import InvalidInput
from infrastructure.cli.accountargs import LOGIN, subcommands_of
from infrastructure.cli.arguments import JSON, Command, Subcommands, argument
from infrastructure.cli.output import Parser, emit, engine_for
from infrastructure.settings import ConfigurationError

YES = argument(
    "--yes", action="store_true", help="confirm: the person's data cannot come back"
)


def register(sub: Subcommands, common: Parser) -> None:
    user = subcommands_of(sub, "user")
    Command(
        "forget",
        "forget a person: their personal data in the log becomes unreadable",
        _forget,
        (LOGIN, YES, JSON),
        example="mailhost user forget ann@example.org --yes --json",
    ).add_to(user, common)


def _forget(args: argparse.Namespace) -> int:
    if not args.yes:
        raise InvalidInput("forgetting cannot be undone: add --yes to go ahead")
    with engine_for(args) as engine:
        forgetting = engine.host.forgetting
        if forgetting is None:
            raise ConfigurationError("forgetting is not configured here")
        done = forgetting.forget(args.login, by=OPERATOR)
    emit(
        args,
        {
            "login": args.login,
            "account_id": str(done.account_id),
            "erasure_id": str(done.erasure_id),
            "keys_deleted": done.keys_deleted,
            "sign_ins_cancelled": done.sign_ins_cancelled,
            "at": done.at.isoformat(),
        },
        f"{args.login} forgotten: {done.keys_deleted} key(s) deleted,"
        f" {done.sign_ins_cancelled} unfinished sign-in(s) cancelled, read models"
        " rebuilt; mails already sent to them (the outbox) are not taken back",
    )
    return 0
