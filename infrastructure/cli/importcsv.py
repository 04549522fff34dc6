"""``mailhost address import-csv``: many addresses from one file (ADR-9)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from application.authorization import OPERATOR
from application.bulk import BulkCreation
from application.bulkreport import BulkReport
from application.host import MailHost
from application.ports import Sealer
from domain.errors import InvalidInput
from infrastructure.cli.arguments import JSON, Command, argument, flag
from infrastructure.cli.bulkreport import report_json, report_text
from infrastructure.cli.csvinput import read_csv_file
from infrastructure.cli.output import emit, engine_for
from infrastructure.sealing import AesGcmSealer


def _address_import(args: argparse.Namespace) -> int:
    """Create, then print the report, then destroy its sealed copy.

    Killed before the save: nothing was created, run it again. Killed after it: running
    the same file again prints the passwords of that run from the sealed copy (once).
    """
    if args.check and args.recover:
        raise InvalidInput("choose --check or --recover, not both")
    data = read_csv_file(args.file, "file")
    with engine_for(args) as e:
        sealer = AesGcmSealer.derived_from(e.host.addresses.fingerprints)
        bulk = bulk_creation(e.host, sealer)
        if args.check:
            report = bulk.check(args.domain, data, by=OPERATOR)
        elif args.recover:
            report = _recovered(bulk, args, data)
        else:
            report = bulk.apply(args.domain, data, by=OPERATOR)
        emit(args, report_json(report), report_text(report).rstrip("\n"))
        sys.stdout.flush()  # shown (or failed loudly) before the copy is destroyed
        bulk.acknowledge(report)
    return 0 if report.ok else 2


def bulk_creation(host: MailHost, sealer: Sealer | None = None) -> BulkCreation:
    """The bulk use case on the host's own stores; without a ``sealer`` it seals nothing."""
    addresses = host.addresses
    return BulkCreation(
        host.log,
        host.services,
        addresses.credentials,
        addresses.hasher,
        addresses.store,
        addresses.clock,
        sealer,
    )


def _recovered(bulk: BulkCreation, args: argparse.Namespace, data: bytes) -> BulkReport:
    found = bulk.recover(args.domain, data, by=OPERATOR)
    if found is None:
        raise InvalidInput(
            f"file: no interrupted run of {args.file} on {args.domain} holds "
            "passwords: it never saved (run it again without --recover), or "
            "its passwords were shown already (set new ones with address "
            "password)"
        )
    return found


def command() -> Command:
    """Added to ``mailhost address`` (its place in that group's list is set there)."""
    return Command(
        "import-csv",
        "create addresses from a CSV (ADR-9)",
        _address_import,
        (
            argument("domain"),
            argument("file", type=Path),
            flag("--check", "validate only, create nothing"),
            flag(
                "--recover",
                "only show the passwords of an earlier run of this file that was "
                "interrupted after it saved (once), create nothing",
            ),
            JSON,
        ),
        example="mailhost address import-csv example.org people.csv --check",
    )
