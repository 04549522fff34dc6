"""``mailhost service ...``: a mail service (one domain) and its settings."""

from __future__ import annotations

import argparse

from domain.errors import InvalidInput
from domain.permissions import Permission, parse_permissions
from infrastructure.cli.arguments import Subcommands, add_command, add_group
from infrastructure.cli.output import Parser, emit, engine_for, read_stdin, say


def register(sub: Subcommands, common: Parser) -> None:
    add_group(
        sub,
        common,
        "service",
        "mail services (one domain each)",
        (
            _declare_create,
            _declare_quota,
            _declare_catch_all,
            _declare_permissions,
            _declare_template,
            _declare_dmarc,
        ),
    )


def _declare_create(commands: Subcommands, common: Parser) -> None:
    cmd = add_command(
        commands,
        common,
        "create",
        summary="create a mail service",
        handler=_service_create,
        example='mailhost service create example.org --org "Example Co" --quota 10',
    )
    cmd.add_argument("domain")
    cmd.add_argument("--org", required=True)
    cmd.add_argument(
        "--quota", type=int, required=True, help="number of addresses (ADR-1)"
    )
    cmd.add_argument("--json", action="store_true")


def _declare_quota(commands: Subcommands, common: Parser) -> None:
    cmd = add_command(
        commands,
        common,
        "quota",
        summary="order more address slots",
        handler=_service_quota,
        example="mailhost service quota example.org --add 5",
    )
    cmd.add_argument("domain")
    cmd.add_argument("--add", type=int, required=True)
    cmd.add_argument("--json", action="store_true")


def _declare_catch_all(commands: Subcommands, common: Parser) -> None:
    cmd = add_command(
        commands,
        common,
        "catch-all",
        summary="set or clear the catch-all (ADR-8)",
        handler=_service_catch_all,
        example="mailhost service catch-all example.org info@example.org",
    )
    cmd.add_argument("domain")
    cmd.add_argument(
        "address", nargs="?", help="the mailbox that receives; omit with --none"
    )
    cmd.add_argument("--none", action="store_true", help="no catch-all")


def _declare_permissions(commands: Subcommands, common: Parser) -> None:
    cmd = add_command(
        commands,
        common,
        "permissions",
        summary="default permissions (ORG-3)",
        handler=_service_permissions,
        example="mailhost service permissions example.org send,manage_signature",
    )
    cmd.add_argument("domain")
    cmd.add_argument(
        "permissions",
        help=f"comma-separated names of: {', '.join(p.value for p in Permission)}",
    )


def _declare_template(commands: Subcommands, common: Parser) -> None:
    cmd = add_command(
        commands,
        common,
        "template",
        summary="save a signature template (ADR-12)",
        handler=_service_template,
        example="mailhost service template example.org Standard < sig.txt",
    )
    cmd.add_argument("domain")
    cmd.add_argument("name")
    cmd.add_argument(
        "--apply", action="store_true", help="also apply it to every mailbox now"
    )


def _declare_dmarc(commands: Subcommands, common: Parser) -> None:
    cmd = add_command(
        commands,
        common,
        "dmarc",
        summary="record the domain's DMARC record (ADV-4)",
        handler=_service_dmarc,
        example='mailhost service dmarc example.org "v=DMARC1; p=quarantine"',
    )
    cmd.add_argument("domain")
    cmd.add_argument(
        "record", nargs="?", default="", help="the TXT record; empty: none found"
    )


def _service_create(args: argparse.Namespace) -> int:
    with engine_for(args) as e:
        sid = e.host.services.create(args.org, args.domain, quota=args.quota)
        service = e.host.services.get(args.domain)
    emit(
        args,
        {"service_id": str(sid), "domain": service.domain, "quota": service.quota},
        f"mail service {service.domain} created with {service.quota} address slot(s)",
    )
    return 0


def _service_quota(args: argparse.Namespace) -> int:
    with engine_for(args) as e:
        quota = e.host.services.increase_quota(args.domain, args.add)
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
        e.host.services.set_catch_all(args.domain, None if args.none else args.address)
    say(f"{args.domain}: catch-all {'cleared' if args.none else 'is ' + args.address}")
    return 0


def _service_permissions(args: argparse.Namespace) -> int:
    chosen = parse_permissions(args.permissions)
    with engine_for(args) as e:
        e.host.services.set_default_permissions(args.domain, chosen)
    say(
        f"{args.domain}: default permissions {', '.join(p.value for p in chosen) or 'none'}"
    )
    return 0


def _service_template(args: argparse.Namespace) -> int:
    text = read_stdin("template")
    with engine_for(args) as e:
        e.host.services.save_signature_template(args.domain, args.name, text)
        applied = (
            e.host.addresses.apply_signature_template(args.domain, args.name)
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
        e.host.services.record_dmarc(args.domain, args.record or None)
    say(f"{args.domain}: DMARC {'recorded' if args.record else 'recorded as missing'}")
    return 0
