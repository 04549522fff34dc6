"""``mailhost service|address|send|advise``: the operator's mail-service commands.

Each command opens the engine on ``--home``/the environment, runs one use case as the
operator, and prints a line (or ``--json``). Passwords are read from standard input,
never from arguments (which other users of the machine can see in the process list).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from application.ports import Directory
from domain.errors import InvalidInput
from domain.invitation import LoginChoice
from domain.permissions import Permission, parse_permissions
from infrastructure.commandline import emit, engine_for, read_password, read_stdin, say
from infrastructure.sealing import AesGcmSealer

if TYPE_CHECKING:
    from application.bulk import BulkReport

Handler = Callable[[argparse.Namespace], int]


def _password(args: argparse.Namespace) -> str | None:
    if not getattr(args, "password_stdin", False):
        return None
    return read_password()


def register(sub: Any, common: argparse.ArgumentParser) -> None:  # noqa: ANN401 - argparse's private type
    """Add the mail-service commands to the ``mailhost`` parser."""
    service = sub.add_parser("service", help="mail services (one domain each)")
    s = service.add_subparsers(parser_class=type(common))
    cmd = s.add_parser(
        "create",
        parents=[common],
        help="create a mail service",
        epilog='example: mailhost service create example.org --org "Example Co" --quota 10',
    )
    cmd.add_argument("domain")
    cmd.add_argument("--org", required=True)
    cmd.add_argument(
        "--quota", type=int, required=True, help="number of addresses (ADR-1)"
    )
    cmd.add_argument("--json", action="store_true")
    cmd.set_defaults(handler=_service_create)
    cmd = s.add_parser(
        "quota",
        parents=[common],
        help="order more address slots",
        epilog="example: mailhost service quota example.org --add 5",
    )
    cmd.add_argument("domain")
    cmd.add_argument("--add", type=int, required=True)
    cmd.add_argument("--json", action="store_true")
    cmd.set_defaults(handler=_service_quota)
    cmd = s.add_parser(
        "catch-all",
        parents=[common],
        help="set or clear the catch-all (ADR-8)",
        epilog="example: mailhost service catch-all example.org info@example.org",
    )
    cmd.add_argument("domain")
    cmd.add_argument(
        "address", nargs="?", help="the mailbox that receives; omit with --none"
    )
    cmd.add_argument("--none", action="store_true", help="no catch-all")
    cmd.set_defaults(handler=_service_catch_all)
    cmd = s.add_parser(
        "permissions",
        parents=[common],
        help="default permissions (ORG-3)",
        epilog="example: mailhost service permissions example.org send,manage_signature",
    )
    cmd.add_argument("domain")
    cmd.add_argument(
        "permissions",
        help=f"comma-separated names of: {', '.join(p.value for p in Permission)}",
    )
    cmd.set_defaults(handler=_service_permissions)
    cmd = s.add_parser(
        "template",
        parents=[common],
        help="save a signature template (ADR-12)",
        epilog="example: mailhost service template example.org Standard < sig.txt",
    )
    cmd.add_argument("domain")
    cmd.add_argument("name")
    cmd.add_argument(
        "--apply", action="store_true", help="also apply it to every mailbox now"
    )
    cmd.set_defaults(handler=_service_template)
    cmd = s.add_parser(
        "dmarc",
        parents=[common],
        help="record the domain's DMARC record (ADV-4)",
        epilog='example: mailhost service dmarc example.org "v=DMARC1; p=quarantine"',
    )
    cmd.add_argument("domain")
    cmd.add_argument(
        "record", nargs="?", default="", help="the TXT record; empty: none found"
    )
    cmd.set_defaults(handler=_service_dmarc)

    address = sub.add_parser("address", help="addresses of a mail service")
    a = address.add_subparsers(parser_class=type(common))
    cmd = a.add_parser(
        "create",
        parents=[common],
        help="create an address",
        epilog="examples:\n"
        "  mailhost address create info@example.org                 unassigned (ADR-6)\n"
        "  mailhost address create ann@example.org --for ann@example.org --for bob@example.org\n"
        "  mailhost address create me@example.org --self ann@example.org --password-stdin\n"
        "  mailhost address create new@example.org --invite [--send-to x@gmail.example]\n"
        "  mailhost address create sales@example.org --redirect a@example.org\n"
        "  mailhost address create no-reply@example.org --no-reply",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmd.add_argument("address", help="LOCAL@DOMAIN")
    cmd.add_argument(
        "--for",
        dest="users",
        action="append",
        default=[],
        metavar="USER",
        help="a member of the organisation (ADR-4; repeat for several)",
    )
    cmd.add_argument(
        "--self",
        dest="creator",
        metavar="USER",
        help="for that user themself (ADR-3): needs --password-stdin",
    )
    cmd.add_argument("--invite", action="store_true", help="invite by mail (ADR-5)")
    cmd.add_argument("--send-to", help="with --invite: the person's existing address")
    cmd.add_argument(
        "--own-login",
        action="store_true",
        help="with --invite: the user chooses their login",
    )
    cmd.add_argument(
        "--redirect",
        action="append",
        default=[],
        metavar="TARGET",
        help="a redirection to TARGET (ADR-10; repeat for several)",
    )
    cmd.add_argument(
        "--no-reply", action="store_true", help="a send-only address (ADR-8)"
    )
    cmd.add_argument("--signature", help="a signature template of the service")
    cmd.add_argument(
        "--responder-template",
        help="a responder template of the service, saved (ADR-12)",
    )
    cmd.add_argument("--password-stdin", action="store_true")
    cmd.add_argument("--json", action="store_true")
    cmd.set_defaults(handler=_address_create)
    cmd = a.add_parser(
        "alias",
        parents=[common],
        help="add an alias to a mailbox",
        epilog="example: mailhost address alias ann@example.org anna",
    )
    cmd.add_argument("address")
    cmd.add_argument("alias")
    cmd.set_defaults(handler=_address_alias)
    cmd = a.add_parser(
        "import-csv",
        parents=[common],
        help="create addresses from a CSV (ADR-9)",
        epilog="example: mailhost address import-csv example.org people.csv --check",
    )
    cmd.add_argument("domain")
    cmd.add_argument("file", type=Path)
    cmd.add_argument(
        "--check", action="store_true", help="validate only, create nothing"
    )
    cmd.add_argument(
        "--recover",
        action="store_true",
        help="only show the passwords of an earlier run of this file that was "
        "interrupted after it saved (once), create nothing",
    )
    cmd.add_argument("--json", action="store_true")
    cmd.set_defaults(handler=_address_import)
    cmd = a.add_parser(
        "reinvite",
        parents=[common],
        help="a new invitation for an address nobody accepted yet (ADR-5)",
        epilog="example: mailhost address reinvite new@example.org --send-to x@mail.example",
    )
    cmd.add_argument("address")
    cmd.add_argument("--send-to", help="the person's existing address")
    cmd.add_argument(
        "--own-login", action="store_true", help="the user chooses their login"
    )
    cmd.set_defaults(handler=_address_reinvite)
    cmd = a.add_parser(
        "resync",
        parents=[common],
        help="write an address's password hash to the mail store again",
        epilog="example: mailhost address resync ann@example.org",
    )
    cmd.add_argument("address")
    cmd.set_defaults(handler=_address_resync)
    cmd = a.add_parser(
        "delete",
        parents=[common],
        help="delete addresses and their content",
        epilog="example: mailhost address delete a@example.org b@example.org",
    )
    cmd.add_argument("addresses", nargs="+")
    cmd.add_argument("--json", action="store_true")
    cmd.set_defaults(handler=_address_delete)
    cmd = a.add_parser(
        "list",
        parents=[common],
        help="the address directory of a domain",
        epilog="example: mailhost address list example.org --json",
    )
    cmd.add_argument("domain")
    cmd.add_argument("--json", action="store_true")
    cmd.set_defaults(handler=_address_list)
    cmd = a.add_parser(
        "password",
        parents=[common],
        help="set an address password (PWD-1)",
        epilog="example: mailhost address password ann@example.org --password-stdin",
    )
    cmd.add_argument("address")
    cmd.add_argument("--password-stdin", action="store_true", required=True)
    cmd.set_defaults(handler=_address_password)
    cmd = a.add_parser(
        "permission",
        parents=[common],
        help="grant or withdraw (ORG-3)",
        epilog="example: mailhost address permission ann@example.org "
        "bob@example.org change_password deny",
    )
    cmd.add_argument("address")
    cmd.add_argument("user")
    cmd.add_argument("permission")
    cmd.add_argument("decision", choices=["allow", "deny", "default"])
    cmd.set_defaults(handler=_address_permission)

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

    advise = sub.add_parser(
        "advise",
        parents=[common],
        help="advisories (ADV-1..4)",
        epilog="example: mailhost advise example.org --json",
    )
    advise.add_argument("domain")
    advise.add_argument("--json", action="store_true")
    advise.set_defaults(handler=_advise)


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
            if (args.apply)
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


def _address_create(args: argparse.Namespace) -> int:
    ways = sum(
        [
            bool(args.users),
            bool(args.creator),
            args.invite,
            bool(args.redirect),
            args.no_reply,
        ]
    )
    if ways > 1:
        raise InvalidInput(
            "choose one of --for, --self, --invite, --redirect, --no-reply"
        )
    password = _password(args)
    with engine_for(args) as e:
        addresses = e.host.addresses
        if args.creator:
            if password is None:
                raise InvalidInput(
                    "--self needs --password-stdin (a strong password, ADR-3)"
                )
            creator = e.host.accounts.get(args.creator).id
            created = addresses.create_for_self(
                args.address,
                password,
                by=creator,
                responder_template=args.responder_template,
            )
        elif args.users:
            created = addresses.create_for_users(
                args.address,
                args.users,
                signature=args.signature,
                responder_template=args.responder_template,
            )
        elif args.invite:
            choice = (
                LoginChoice.OWN_CHOICE if args.own_login else LoginChoice.THE_ADDRESS
            )
            invitation = addresses.invite(
                args.address,
                send_to=args.send_to,
                login_choice=choice,
                signature=args.signature,
            )
            emit(
                args,
                {"address": args.address, "invitation_id": str(invitation)},
                f"{args.address} created; invitation {invitation} mailed",
            )
            return 0
        elif args.redirect:
            created = addresses.create_redirect(args.address, args.redirect)
        elif args.no_reply:
            created = addresses.create_no_reply(args.address, password=password)
        else:
            created = addresses.create_unassigned(
                args.address,
                password=password,
                signature=args.signature,
                responder_template=args.responder_template,
            )
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


def _address_alias(args: argparse.Namespace) -> int:
    with engine_for(args) as e:
        alias = e.host.addresses.add_alias(args.address, args.alias)
    say(f"{alias} now delivers to {args.address}")
    return 0


def _address_import(args: argparse.Namespace) -> int:
    """Create, then print the report, then destroy its sealed copy.

    Killed before the save: nothing was created, run it again. Killed after it: running
    the same file again prints the passwords of that run from the sealed copy (once).
    """
    from application.bulk import BulkCreation  # noqa: PLC0415 - only this command needs it

    if args.check and args.recover:
        raise InvalidInput("choose --check or --recover, not both")
    data = _read_file(args.file)
    with engine_for(args) as e:
        host = e.host
        bulk = BulkCreation(
            host.log,
            host.services,
            host.addresses.credentials,
            host.addresses.hasher,
            host.addresses.store,
            host.addresses.clock,
            AesGcmSealer.derived_from(host.addresses.fingerprints),
        )
        if args.check:
            report = bulk.check(args.domain, data)
        elif args.recover:
            found = bulk.recover(args.domain, data)
            if found is None:
                raise InvalidInput(
                    f"file: no interrupted run of {args.file} on {args.domain} holds "
                    "passwords: it never saved (run it again without --recover), or "
                    "its passwords were shown already (set new ones with address "
                    "password)"
                )
            report = found
        else:
            report = bulk.apply(args.domain, data)
        _print_report(args, report)
        sys.stdout.flush()  # shown (or failed loudly) before the copy is destroyed
        bulk.acknowledge(report)
    return 0 if report.ok else 2


def _read_file(path: Path) -> bytes:
    """At most one byte past the limit: a huge file (or /dev/zero) is not read whole."""
    from application.bulk import MAX_FILE_BYTES  # noqa: PLC0415 - as BulkCreation

    try:
        with path.open("rb") as f:
            return f.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise InvalidInput(f"file: cannot read {path}: {error.strerror}") from None


def _print_report(args: argparse.Namespace, report: BulkReport) -> None:
    if args.json:
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "rows": report.rows,
                    "recovered": report.recovered,
                    "errors": [list(x) for x in report.errors],
                    "created": [list(x) for x in report.created],
                },
                indent=2,
            )
        )
    else:
        say(report.as_text().rstrip("\n"))


def _address_reinvite(args: argparse.Namespace) -> int:
    choice = LoginChoice.OWN_CHOICE if args.own_login else LoginChoice.THE_ADDRESS
    with engine_for(args) as e:
        invitation = e.host.addresses.reinvite(
            args.address, send_to=args.send_to, login_choice=choice
        )
    say(f"{args.address}: new invitation {invitation} mailed")
    return 0


def _address_resync(args: argparse.Namespace) -> int:
    with engine_for(args) as e:
        e.host.addresses.resync_store(args.address)
    say(f"{args.address}: password hash written to the mail store")
    return 0


def _address_delete(args: argparse.Namespace) -> int:
    with engine_for(args) as e:
        deleted = e.host.addresses.delete(args.addresses)
    emit(args, {"deleted": list(deleted)}, "deleted: " + ", ".join(deleted))
    return 0


def _address_list(args: argparse.Namespace) -> int:
    with engine_for(args) as e:
        e.runner.catch_up()
        service = e.host.services.get(args.domain)
        directory = e.host.directory.directory(service.domain)
    if directory is None:
        raise InvalidInput(f"mail service {args.domain} is not in the directory yet")
    if args.json:
        print(json.dumps(_directory_json(directory), indent=2))
    else:
        say(directory_table(directory))
    return 0


def _directory_json(d: Directory) -> dict[str, Any]:
    return {
        "domain": d.domain,
        "display_domain": d.display_domain,
        "quota": d.quota,
        "used": d.used,
        "addresses": [
            {
                "address": x.address,
                "kind": x.kind,
                "users": list(x.users),
                "linked": list(x.linked),
                "permissions": x.permissions,
                "catch_all": x.catch_all,
            }
            for x in d.entries
        ],
    }


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
        kept = e.host.addresses.change_password(args.address, password)
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
        e.host.addresses.set_permission(args.address, args.user, permission, allowed)
    say(f"{args.address}: {permission.value} for {args.user}: {args.decision}")
    return 0


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


def _advise(args: argparse.Namespace) -> int:
    with engine_for(args) as e:
        e.runner.catch_up()
        found = e.host.advise(args.domain)
    if args.json:
        print(
            json.dumps(
                [{"rule": a.rule, "address": a.address, "text": a.text} for a in found],
                indent=2,
            )
        )
    elif not found:
        say(f"{args.domain}: nothing to advise")
    else:
        for a in found:
            say(f"[{a.rule}] {a.address}: {a.text}")
    return 0
