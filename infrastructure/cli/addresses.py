"""``mailhost address ...``: the addresses of a mail service, one at a time.

Each command opens the engine on ``--home``/the environment, runs one use case as the
operator, and prints a line (or ``--json``). Passwords are read from standard input,
never from arguments (which other users of the machine can see in the process list).
"""

from __future__ import annotations

import argparse
from typing import Any
from uuid import UUID

from application.authorization import OPERATOR
from application.creation import CreatedAddress
from application.ports import Directory
from domain.errors import InvalidInput
from domain.invitation import LoginChoice
from domain.permissions import parse_permissions
from infrastructure.bootstrap import Engine
from infrastructure.cli import importcsv
from infrastructure.cli.arguments import (
    JSON,
    Command,
    Subcommands,
    add_group,
    argument,
    flag,
)
from infrastructure.cli.output import (
    WORKERS_ONLY,
    Parser,
    as_json,
    emit,
    engine_for,
    read_password,
    say,
)

CREATE_EXAMPLES = """\
examples:
  mailhost address create info@example.org                 unassigned (ADR-6)
  mailhost address create ann@example.org --for ann@example.org --for bob@example.org
  mailhost address create me@example.org --self ann@example.org --password-stdin
  mailhost address create new@example.org --invite [--send-to x@gmail.example]
  mailhost address create sales@example.org --redirect a@example.org
  mailhost address create no-reply@example.org --no-reply"""


def register(sub: Subcommands, common: Parser) -> None:
    add_group(sub, common, "address", "addresses of a mail service", _commands())


def _password(args: argparse.Namespace) -> str | None:
    if not getattr(args, "password_stdin", False):
        return None
    return read_password()


def _address_create(args: argparse.Namespace) -> int:
    ways = [args.users, args.creator, args.invite, args.redirect, args.no_reply]
    if sum(bool(way) for way in ways) > 1:
        raise InvalidInput(
            "choose one of --for, --self, --invite, --redirect, --no-reply"
        )
    if args.invite:
        return _address_invite(args)
    password = _password(args)
    with engine_for(args) as e:
        created = _create(e, args, password)
    text = f"{created.address} created"
    if created.password:
        text += f"\npassword (shown once): {created.password}"
    emit(
        args,
        {
            "address": created.address,
            "mailbox_id": str(created.mailbox_id),
            "password": created.password,
        },
        text,
    )
    return 0


def _create(
    e: Engine, args: argparse.Namespace, password: str | None
) -> CreatedAddress:
    """The address in the one way the options chose (``--invite`` aside)."""
    addresses = e.host.addresses
    if args.creator:
        if password is None:
            raise InvalidInput(
                "--self needs --password-stdin (a strong password, ADR-3)"
            )
        return addresses.create_for_self(
            args.address,
            password,
            by=e.host.accounts.get(args.creator).id,
            responder_template=args.responder_template,
        )
    if args.users:
        return addresses.create_for_users(
            args.address,
            args.users,
            signature=args.signature,
            responder_template=args.responder_template,
            by=OPERATOR,
        )
    if args.redirect:
        return addresses.create_redirect(args.address, args.redirect, by=OPERATOR)
    if args.no_reply:
        return addresses.create_no_reply(args.address, password=password, by=OPERATOR)
    return addresses.create_unassigned(
        args.address,
        password=password,
        signature=args.signature,
        responder_template=args.responder_template,
        by=OPERATOR,
    )


def _address_alias(args: argparse.Namespace) -> int:
    with engine_for(args) as e:
        alias = e.host.addresses.add_alias(args.address, args.alias, by=OPERATOR)
    say(f"{alias} now delivers to {args.address}")
    return 0


def _address_invite(args: argparse.Namespace) -> int:
    choice = LoginChoice.OWN_CHOICE if args.own_login else LoginChoice.THE_ADDRESS
    with engine_for(args) as e:
        invitation = e.host.addresses.invite(
            args.address,
            send_to=args.send_to,
            login_choice=choice,
            signature=args.signature,
            by=OPERATOR,
        )
        mailed = _mailed(e, invitation)
    emit(
        args,
        {"address": args.address, "invitation_id": str(invitation), "mailed": mailed},
        f"{args.address} created; {_invitation_said(invitation, mailed=mailed)}",
    )
    return 0


def _mailed(e: Engine, invitation: UUID) -> bool:
    """The mail is a job: run it here (unless workers do), then say what the log says."""
    e.drain(exclude=WORKERS_ONLY)
    return e.host.addresses.invitation_mailed(invitation)


def _invitation_said(invitation: UUID, *, mailed: bool) -> str:
    if mailed:
        return f"invitation {invitation} mailed"
    return f"invitation {invitation} saved; its mail has not gone out yet (a job)"


def _address_reinvite(args: argparse.Namespace) -> int:
    choice = LoginChoice.OWN_CHOICE if args.own_login else LoginChoice.THE_ADDRESS
    with engine_for(args) as e:
        invitation = e.host.addresses.reinvite(
            args.address, send_to=args.send_to, login_choice=choice, by=OPERATOR
        )
        mailed = _mailed(e, invitation)
    say(f"{args.address}: new {_invitation_said(invitation, mailed=mailed)}")
    return 0


def _address_resync(args: argparse.Namespace) -> int:
    with engine_for(args) as e:
        e.host.addresses.resync_store(args.address)
    say(f"{args.address}: password hash written to the mail store")
    return 0


def _address_delete(args: argparse.Namespace) -> int:
    with engine_for(args) as e:
        deleted = e.host.addresses.delete(args.addresses, by=OPERATOR)
    emit(args, {"deleted": list(deleted)}, "deleted: " + ", ".join(deleted))
    return 0


def _address_list(args: argparse.Namespace) -> int:
    with engine_for(args) as e:
        e.runner.catch_up()
        service = e.host.services.get(args.domain)
        directory = e.host.directory.directory(service.domain)
    if directory is None:
        raise InvalidInput(f"mail service {args.domain} is not in the directory yet")
    emit(args, _directory_json(directory), directory_table(directory))
    return 0


def _directory_json(d: Directory) -> dict[str, Any]:
    """The directory as its view has it, its entries under the name ``addresses``."""
    data = as_json(d)
    data["addresses"] = data.pop("entries")
    return data


def directory_table(d: Directory) -> str:
    lines = [f"{d.display_domain}: {d.used} of {d.quota} address slot(s) used", ""]
    rows = [("address", "kind", "users", "notes")] + [
        (
            x.address,
            x.kind,
            ", ".join(x.users) or "-",
            "catch-all" if x.catch_all else "",
        )
        for x in d.entries
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in rows
    ]
    return "\n".join(lines)


def _address_password(args: argparse.Namespace) -> int:
    password = _password(args) or ""
    with engine_for(args) as e:
        kept = e.host.addresses.change_password(args.address, password, by=OPERATOR)
    say(
        f"{args.address}: password changed; clients using the old one must be updated "
        f"({len(kept)} linked mail app(s) keep access)"
    )
    return 0


def _address_permission(args: argparse.Namespace) -> int:
    chosen = parse_permissions(args.permission)
    if len(chosen) != 1:
        names = ", ".join(p.value for p in chosen)
        raise InvalidInput(
            f"permission: name exactly one permission, not {len(chosen)}"
            + (f" ({names})" if names else "")
        )
    (permission,) = chosen
    allowed = {"allow": True, "deny": False, "default": None}[args.decision]
    with engine_for(args) as e:
        e.host.addresses.set_permission(
            args.address, args.user, permission, allowed, by=OPERATOR
        )
    say(f"{args.address}: {permission.value} for {args.user}: {args.decision}")
    return 0


def _commands() -> tuple[Command, ...]:
    """The group's commands in ``--help`` order; the longer declarations in their own
    functions below."""
    return (
        _create_command(),
        Command(
            "alias",
            "add an alias to a mailbox",
            _address_alias,
            (argument("address"), argument("alias")),
            example="mailhost address alias ann@example.org anna",
        ),
        importcsv.command(),
        Command(
            "reinvite",
            "a new invitation for an address nobody accepted yet (ADR-5)",
            _address_reinvite,
            (
                argument("address"),
                argument("--send-to", help="the person's existing address"),
                flag("--own-login", "the user chooses their login"),
            ),
            example="mailhost address reinvite new@example.org --send-to x@mail.example",
        ),
        Command(
            "resync",
            "write an address's password hash to the mail store again",
            _address_resync,
            (argument("address"),),
            example="mailhost address resync ann@example.org",
        ),
        Command(
            "delete",
            "delete addresses and their content",
            _address_delete,
            (argument("addresses", nargs="+"), JSON),
            example="mailhost address delete a@example.org b@example.org",
        ),
        Command(
            "list",
            "the address directory of a domain",
            _address_list,
            (argument("domain"), JSON),
            example="mailhost address list example.org --json",
        ),
        Command(
            "password",
            "set an address password (PWD-1)",
            _address_password,
            (
                argument("address"),
                flag("--password-stdin", required=True),
            ),
            example="mailhost address password ann@example.org --password-stdin",
        ),
        _permission_command(),
    )


def _create_command() -> Command:
    return Command(
        "create",
        "create an address",
        _address_create,
        (
            argument("address", help="LOCAL@DOMAIN"),
            argument(
                "--for",
                dest="users",
                action="append",
                default=[],
                metavar="USER",
                help="a member of the organisation (ADR-4; repeat for several)",
            ),
            argument(
                "--self",
                dest="creator",
                metavar="USER",
                help="for that user themself (ADR-3): needs --password-stdin",
            ),
            flag("--invite", "invite by mail (ADR-5)"),
            argument("--send-to", help="with --invite: the person's existing address"),
            flag("--own-login", "with --invite: the user chooses their login"),
            argument(
                "--redirect",
                action="append",
                default=[],
                metavar="TARGET",
                help="a redirection to TARGET (ADR-10; repeat for several)",
            ),
            flag("--no-reply", "a send-only address (ADR-8)"),
            argument("--signature", help="a signature template of the service"),
            argument(
                "--responder-template",
                help="a responder template of the service, saved (ADR-12)",
            ),
            flag("--password-stdin"),
            JSON,
        ),
        epilog=CREATE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _permission_command() -> Command:
    return Command(
        "permission",
        "grant or withdraw (ORG-3)",
        _address_permission,
        (
            argument("address"),
            argument("user"),
            argument("permission"),
            argument("decision", choices=["allow", "deny", "default"]),
        ),
        example="mailhost address permission ann@example.org "
        "bob@example.org change_password deny",
    )
