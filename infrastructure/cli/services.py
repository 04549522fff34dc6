"""``mailhost service ...``: a mail service (one domain) and its settings."""

from __future__ import annotations

import argparse

from application.authorization import OPERATOR
from domain.errors import InvalidInput
from domain.permissions import Permission, parse_permissions
from infrastructure.cli.arguments import (
    JSON,
    Command,
    Subcommands,
    add_group,
    argument,
    flag,
)
from infrastructure.cli.output import Parser, emit, engine_for, read_stdin, say


def register(sub: Subcommands, common: Parser) -> None:
    add_group(sub, common, "service", "mail services (one domain each)", _commands())


def _service_create(args: argparse.Namespace) -> int:
    with engine_for(args) as e:
        sid = e.host.services.create(
            args.org, args.domain, quota=args.quota, by=OPERATOR
        )
        service = e.host.services.get(args.domain)
    emit(
        args,
        {"service_id": str(sid), "domain": service.domain, "quota": service.quota},
        f"mail service {service.domain} created with {service.quota} address slot(s)",
    )
    return 0


def _service_quota(args: argparse.Namespace) -> int:
    with engine_for(args) as e:
        quota = e.host.services.increase_quota(args.domain, args.add, by=OPERATOR)
    emit(
        args,
        {"domain": args.domain, "quota": quota},
        f"{args.domain}: quota now {quota}",
    )
    return 0


def _service_catch_all(args: argparse.Namespace) -> int:
    if bool(args.address) == bool(args.none):
        raise InvalidInput("give the catch-all address, or --none")
    with engine_for(args) as e:
        e.host.services.set_catch_all(
            args.domain, None if args.none else args.address, by=OPERATOR
        )
    say(f"{args.domain}: catch-all {'cleared' if args.none else 'is ' + args.address}")
    return 0


def _service_permissions(args: argparse.Namespace) -> int:
    chosen = parse_permissions(args.permissions)
    with engine_for(args) as e:
        e.host.services.set_default_permissions(args.domain, chosen, by=OPERATOR)
    say(
        f"{args.domain}: default permissions {', '.join(p.value for p in chosen) or 'none'}"
    )
    return 0


def _service_template(args: argparse.Namespace) -> int:
    text = read_stdin("template")
    with engine_for(args) as e:
        e.host.services.save_signature_template(
            args.domain, args.name, text, by=OPERATOR
        )
        applied = (
            e.host.addresses.apply_signature_template(
                args.domain, args.name, by=OPERATOR
            )
            if args.apply
            else 0
        )
    say(
        f"{args.domain}: template {args.name!r} saved"
        + (f", applied to {applied} mailbox(es)" if args.apply else "")
    )
    return 0


def _service_dmarc(args: argparse.Namespace) -> int:
    with engine_for(args) as e:
        e.host.services.record_dmarc(args.domain, args.record or None, by=OPERATOR)
    say(f"{args.domain}: DMARC {'recorded' if args.record else 'recorded as missing'}")
    return 0


def _commands() -> tuple[Command, ...]:
    return (
        _create_command(),
        Command(
            "quota",
            "order more address slots",
            _service_quota,
            (argument("domain"), argument("--add", type=int, required=True), JSON),
            example="mailhost service quota example.org --add 5",
        ),
        Command(
            "catch-all",
            "set or clear the catch-all (ADR-8)",
            _service_catch_all,
            (
                argument("domain"),
                argument(
                    "address",
                    nargs="?",
                    help="the mailbox that receives; omit with --none",
                ),
                flag("--none", "no catch-all"),
            ),
            example="mailhost service catch-all example.org info@example.org",
        ),
        Command(
            "permissions",
            "default permissions (ORG-3)",
            _service_permissions,
            (
                argument("domain"),
                argument(
                    "permissions",
                    help=f"comma-separated names of: {', '.join(p.value for p in Permission)}",
                ),
            ),
            example="mailhost service permissions example.org send,manage_signature",
        ),
        Command(
            "template",
            "save a signature template (ADR-12)",
            _service_template,
            (
                argument("domain"),
                argument("name"),
                flag("--apply", "also apply it to every mailbox now"),
            ),
            example="mailhost service template example.org Standard < sig.txt",
        ),
        _dmarc_command(),
    )


def _create_command() -> Command:
    return Command(
        "create",
        "create a mail service",
        _service_create,
        (
            argument("domain"),
            argument("--org", required=True),
            argument(
                "--quota",
                type=int,
                required=True,
                help="number of addresses (ADR-1)",
            ),
            JSON,
        ),
        example='mailhost service create example.org --org "Example Co" --quota 10',
    )


def _dmarc_command() -> Command:
    return Command(
        "dmarc",
        "record the domain's DMARC record (ADV-4)",
        _service_dmarc,
        (
            argument("domain"),
            argument(
                "record",
                nargs="?",
                default="",
                help="the TXT record; empty: none found",
            ),
        ),
        example='mailhost service dmarc example.org "v=DMARC1; p=quarantine"',
    )
