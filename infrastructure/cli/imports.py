"""``mailhost import start|batch|status``: mailboxes imported over IMAP (IMP-1..IMP-9).

Passwords come from standard input (``--password-stdin``) or a numbered file
descriptor (``--second-password-fd N``), never from an argument: every user of the
machine can read another's argv (``ps``). ``--password`` exists only to say so.

Every source is checked before the engine opens (host, port, security, user, a
password, no OAuth2-only provider), and the destination before the request: bad input
is exit status 2, its message names the argument, and no job is created.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from application.importbatch import BatchReport, ImportBatch
from application.imports import SourceRequest
from domain.address import shown
from domain.errors import DomainError, InvalidInput
from domain.hosted import AddressKind
from domain.importsource import (
    ImportSource,
    Security,
    needs_oauth,
    parse_host,
    parse_user,
    preset,
)
from infrastructure.bootstrap import Engine, open_engine
from infrastructure.cli import importargs
from infrastructure.cli.arguments import (
    Command,
    Subcommands,
    add_group,
)
from infrastructure.cli.csvinput import read_csv_file
from infrastructure.cli.importfollow import follow, follow_all
from infrastructure.cli.importview import (
    batch_json,
    batch_text,
    progress_json,
    status_table,
    status_text,
)
from infrastructure.cli.output import Parser, emit, engine_for, read_password, say

MAX_PASSWORD_BYTES = 4096  # more than any password; a descriptor is not read whole
MAX_STATUS = 1000


def register(sub: Subcommands, common: Parser) -> None:
    add_group(
        sub,
        common,
        "import",
        "mailbox imports over IMAP (IMP-1..IMP-9)",
        _commands(),
    )


# -- start --------------------------------------------------------------------------


def _start(args: argparse.Namespace) -> int:
    requests = _requests(args)
    if args.wait:
        engine = open_engine(args.home, background=True)
        try:
            job_id = _request(engine, args, requests)
            _announce(args, job_id)
            return follow(engine, job_id)
        finally:
            engine.close()
    with engine_for(args) as engine:
        job_id = _request(engine, args, requests)
        _announce(args, job_id)
        if not engine.settings.broker_url:
            say(
                "mailhost: the import runs when the workers run (`mailhost run`); "
                "`--wait` runs them here and follows the job",
                err=True,
            )
    return 0


def _announce(args: argparse.Namespace, job_id: UUID) -> None:
    emit(
        args,
        {"job_id": str(job_id), "destination": args.destination},
        str(job_id),
    )
    sys.stdout.flush()


def _request(
    engine: Engine, args: argparse.Namespace, requests: Sequence[SourceRequest]
) -> UUID:
    host = engine.host
    by = _account(engine, args.by)
    try:
        _, mailbox = host.services.mailbox(args.destination)
    except DomainError as e:
        raise type(e)(f"--destination: {e}") from None
    if mailbox.deleted or mailbox.kind is not AddressKind.MAILBOX:
        raise InvalidInput(
            f"--destination: {mailbox.address} has no mailbox to import into "
            f"(it is a {mailbox.kind.value.replace('_', '-')} address)"
        )
    return host.imports.start(args.destination, requests, by=by)


def _account(engine: Engine, login: str | None) -> UUID | None:
    if login is None:
        return None
    try:
        return engine.host.accounts.get(login).id
    except DomainError as e:
        raise type(e)(f"--by: {e}") from None


def _requests(args: argparse.Namespace) -> list[SourceRequest]:
    """Both sources checked and both passwords read, before the engine opens."""
    first = _source(args, "", args.user)
    requests = [SourceRequest(first, _user(args.user, "--user"), read_password())]
    second_given = any(
        getattr(args, f"second_{name}") not in (None, False)
        for name in ("host", "preset", "hosted", "user", "password_fd", "port")
    )
    if not second_given:
        return requests
    if args.second_user is None or args.second_password_fd is None:
        raise InvalidInput(
            "--second-user: a second source needs --second-user and "
            "--second-password-fd N"
        )
    own = args.second_host or args.second_preset or args.second_hosted
    second = _source(args, "second-", args.second_user) if own else None
    if not own and first is not None:
        second = ImportSource.of(
            first.host,
            first.port,
            first.security,
            args.second_user,
            ca_file=first.ca_file,
            insecure=first.insecure,
        )
    password = _read_descriptor(args.second_password_fd)
    requests.append(
        SourceRequest(second, _user(args.second_user, "--second-user"), password)
    )
    return requests


def _user(user: str, option: str) -> str:
    try:
        return parse_user(user)
    except InvalidInput as e:
        raise InvalidInput(f"{option}: {e}") from None


def _source(args: argparse.Namespace, prefix: str, user: str) -> ImportSource | None:
    """The source of ``--{prefix}host|preset|hosted``; None: hosted here (IMP-5)."""
    key = prefix.replace("-", "_")

    def value(name: str) -> Any:  # noqa: ANN401 - argparse's values are untyped
        return getattr(args, f"{key}{name.replace('-', '_')}")

    option = f"--{prefix}"
    if value("hosted"):
        given = [n for n in ("port", "security", "ca-file") if value(n) is not None]
        if given or value("insecure"):
            name = given[0] if given else "insecure"
            raise InvalidInput(
                f"{option}{name}: a hosted source is read through this provider's "
                "own store; it has no server settings"
            )
        return None
    host, port, security = value("host"), value("port"), value("security")
    if value("preset") is not None:
        try:
            found = preset(value("preset"))
        except InvalidInput as e:
            raise InvalidInput(f"{option}preset: {e}") from None
        host, port = found.host, port or found.port
        security = security or found.security
    try:
        parse_host(host)
    except InvalidInput as e:
        raise InvalidInput(f"{option}host: {e}") from None
    try:
        source = ImportSource.of(
            host,
            port,
            security or Security.TLS,
            _user(user, f"{option}user"),
            ca_file=value("ca-file"),
            insecure=value("insecure"),
        )
    except InvalidInput as e:
        name = "ca-file" if str(e).startswith("ca_file") else "security"
        raise InvalidInput(f"{option}{name}: {e}") from None
    _refuse_oauth(source, option)
    return source


def _refuse_oauth(source: ImportSource, option: str) -> None:
    """Google and Microsoft 365 take only XOAUTH2 logins; imports use passwords."""
    by_host = needs_oauth(source.host)
    provider = by_host or needs_oauth("", source.user)
    if provider is None:
        return
    name = "host" if by_host else "user"
    raise InvalidInput(
        f"{option}{name}: {source.user} at {source.host} is a {provider} mailbox, "
        f"which accepts only OAuth2 (XOAUTH2) logins, not passwords; it cannot be "
        "imported over IMAP with a password"
    )


def _read_descriptor(fd: int) -> str:
    """The second password: one line from descriptor ``fd`` (3 or more)."""
    if fd <= 2:  # noqa: PLR2004 - stdin, stdout, stderr
        raise InvalidInput(
            f"--second-password-fd: {fd} is standard input or output; open the "
            "password on a descriptor of its own, e.g. 3<pw.txt --second-password-fd 3"
        )
    try:
        with os.fdopen(fd, "rb", closefd=True) as f:
            data = f.read(MAX_PASSWORD_BYTES + 1)
    except OSError:
        raise InvalidInput(
            f"--second-password-fd: descriptor {fd} is not open for reading"
        ) from None
    if len(data) > MAX_PASSWORD_BYTES:
        raise InvalidInput(
            f"--second-password-fd: more than {MAX_PASSWORD_BYTES} bytes on "
            f"descriptor {fd}; it holds one password"
        )
    try:
        return data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise InvalidInput(
            f"--second-password-fd: the password on descriptor {fd} is not UTF-8"
        ) from None


# -- batch --------------------------------------------------------------------------


def _batch(args: argparse.Namespace) -> int:
    if args.check and args.wait:
        raise InvalidInput("--wait: a --check requests nothing to wait for")
    data = read_csv_file(args.file, "FILE")
    if args.wait:
        engine = open_engine(args.home, background=True)
        try:
            report = _batch_report(engine, args, data)
            emit(args, batch_json(report), batch_text(report))
            sys.stdout.flush()
            if not report.ok:
                return 2
            return follow_all(engine, [j.job_id for j in report.jobs])
        finally:
            engine.close()
    with engine_for(args) as engine:
        report = _batch_report(engine, args, data)
        emit(args, batch_json(report), batch_text(report))
        sys.stdout.flush()
    return 0 if report.ok else 2


def _batch_report(engine: Engine, args: argparse.Namespace, data: bytes) -> BatchReport:
    host = engine.host
    batch = ImportBatch(host.log, host.services, host.imports)
    by = _account(engine, args.by)
    if args.check:
        return batch.check(args.domain, data, by=by)
    return batch.apply(args.domain, data, by=by)


# -- status -------------------------------------------------------------------------


def _status(args: argparse.Namespace) -> int:
    job_id = _job_id(args.job) if args.job is not None else None
    with engine_for(args) as engine:
        engine.runner.catch_up()
        imports = engine.host.imports
        now = engine.host.alerts.clock.now()
        if job_id is not None:
            row = imports.progress(job_id)
            if row is None:
                imports.get(job_id)  # NotFound names it when there is no such job
                raise InvalidInput(f"JOB: import {job_id} is not in the read model yet")
            emit(args, progress_json(row, now), status_text(row, now))
            return 0
        if args.destination is not None:
            rows = imports.for_destination(args.destination)
        else:
            rows = imports.recent(MAX_STATUS)
        emit(args, [progress_json(r, now) for r in rows], status_table(rows))
    return 0


def _job_id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise InvalidInput(f"JOB: {shown(text)} is not an import id (a UUID)") from None


def _commands() -> tuple[Command, ...]:
    return (
        Command(
            "start",
            "import a mailbox over IMAP into an address (prints the job id)",
            _start,
            importargs.start_arguments(),
            epilog=importargs.START_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        ),
        Command(
            "batch",
            "one import per row of a CSV file, at most 25 rows (IMP-8)",
            _batch,
            importargs.batch_arguments(),
            example="mailhost import batch example.org imports.csv --check",
        ),
        Command(
            "status",
            "one import's progress, or every import (newest first)",
            _status,
            importargs.status_arguments(),
            example="mailhost import status 0b8c4f0e-3f59-5d7e-8a55-6a3c1f2d9e41 --json",
        ),
    )
