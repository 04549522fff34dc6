"""``mailhost audit verify`` and ``mailhost audit checkpoint ...``: the tamper evidence.

``verify`` only reads: it opens the event store read-only, not the engine, so it runs on
an auditor's copy of the log with nothing but the public key, and it writes no link nor
table (a link written now would vouch for whatever the log holds now). Exit status 0
when the chain and every signed checkpoint hold, 1 when something breaks, naming its
position, 2 when signed checkpoints exist and no public key is at hand.

The signing key sits in the engine's home by default: an intruder with the home can
rewrite the log, its chain and re-sign its heads. Only heads exported with
``checkpoint export`` and kept elsewhere show such a rewrite (``--public-key`` FILE).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from application.log import MailHostLog
from domain.errors import InvalidInput
from infrastructure.chain import ChainBrokenError, ChainedRunner
from infrastructure.chainlinks import EventTable
from infrastructure.chainverify import NoPublicKeyError, Verdict, signed_heads, verify
from infrastructure.checkpoints import (
    Checkpoint,
    SigningKey,
    exported,
    load_public_pem,
)
from infrastructure.cli.arguments import JSON, Command, Subcommands, add_group, argument
from infrastructure.cli.output import Parser, emit, engine_for, say
from infrastructure.settings import Settings
from infrastructure.sql import Database, PostgresDatabase, read_only
from projections.storage import Cursor, Params

SHOWN_BREAKS = 10


def register_verify(audit_sub: Subcommands, common: Parser) -> None:
    """``verify`` and the ``checkpoint`` group, added to ``mailhost audit``."""
    Command(
        "verify",
        "check the hash chain and the signed checkpoints; exit 1 where it breaks",
        _verify,
        (
            JSON,
            argument(
                "--public-key",
                metavar="FILE",
                help="the signing key's public half (PEM), or the JSON of "
                "`checkpoint export` (its key and signed heads are checked too); "
                "default: the key in the engine's home",
            ),
        ),
        example="mailhost audit verify --public-key heads.json",
    ).add_to(audit_sub, common)
    add_group(
        audit_sub,
        common,
        "checkpoint",
        "signed heads of the hash chain",
        (
            Command(
                "export",
                "print the signed heads and the public key as JSON",
                _export,
                (JSON,),
                example="mailhost audit checkpoint export > heads.json",
            ),
            Command(
                "create",
                "sign the chain's head now",
                _create,
                (JSON,),
                example="mailhost audit checkpoint create",
            ),
        ),
    )


class ReadOnlySqlite:
    """The log's SQLite file opened read-only: verify neither creates a table it
    checks nor takes the log's write lock (eventsourcing's own open makes none either,
    with ``CREATE_TABLE`` off)."""

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self._connection = read_only(path)

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        self._connection.execute("BEGIN")
        try:
            yield _Rows(self._connection.cursor())
        finally:
            self._connection.execute("ROLLBACK")

    def ensure_schema(self, statements: Sequence[str]) -> None:
        raise RuntimeError(f"read-only: {len(statements)} statement(s) not run")

    def close(self) -> None:
        self._connection.close()


class _Rows:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Params = ()) -> None:
        self._cursor.execute(sql, params)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._cursor.fetchall()

    def fetchone(self) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._cursor.fetchone()
        return row


def existing_log(home: str | None) -> Settings:
    """The settings of a home whose log exists, or the refusal naming where it is not.

    Opening an engine makes an empty log: an auditor who names the wrong folder would
    be told that nothing differs and nothing happened, as of an untouched log.
    """
    settings = Settings.from_env(home=home)
    if not settings.uses_postgres and not settings.events_file.exists():
        raise InvalidInput(f"no event store at {settings.events_file}")
    return settings


@contextmanager
def event_store(
    args: argparse.Namespace,
) -> Iterator[tuple[Settings, Database | ReadOnlySqlite, EventTable]]:
    """The log's own database and where its events are, without the engine."""
    settings = existing_log(args.home)
    log = MailHostLog(env={**settings.log_env(), "CREATE_TABLE": "n"})
    database: Database | ReadOnlySqlite = (
        PostgresDatabase(settings.env)
        if settings.uses_postgres
        else ReadOnlySqlite(settings.events_file)
    )
    try:
        yield settings, database, EventTable.of(log.recorder)
    finally:
        database.close()
        log.close()


def _verify(args: argparse.Namespace) -> int:
    with event_store(args) as (settings, database, table):
        public, extra = _trusted(args, settings)
        try:
            verdict = verify(database, table, public, extra=extra)
        except NoPublicKeyError as e:
            raise InvalidInput(
                f"{e}: pass --public-key (the PEM, or the JSON of"
                " `mailhost audit checkpoint export`)"
            ) from None
    emit(args, verdict.as_json(), verdict_text(verdict))
    return 0 if verdict.intact else 1


def _trusted(
    args: argparse.Namespace, settings: Settings
) -> tuple[Ed25519PublicKey | None, list[Checkpoint]]:
    """The public key to check signatures with, and the heads held outside the log."""
    if args.public_key is None:
        return SigningKey(settings.audit_key_file).public(), []
    try:
        data = Path(args.public_key).read_bytes()
    except OSError as e:
        raise InvalidInput(f"--public-key: {e.strerror}") from None
    if not data.lstrip().startswith(b"{"):
        return load_public_pem(data), []
    try:
        export: dict[str, Any] = json.loads(data)
        public = load_public_pem(str(export["public_key"]).encode("ascii"))
        heads = [Checkpoint.from_json(c) for c in export["checkpoints"]]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise InvalidInput(
            "--public-key: no checkpoint export (JSON with public_key, checkpoints)"
        ) from None
    return public, heads


def verdict_text(verdict: Verdict) -> str:
    first = verdict.first
    pending = (
        f"; {verdict.pending} event(s) after it not linked yet"
        if verdict.pending
        else ""
    )
    before = (
        f"; {verdict.unchained} event(s) not chained (before genesis at {verdict.genesis})"
        if verdict.genesis
        else ""
    )
    reach = (
        f"{verdict.events} event(s) linked up to position {verdict.head}, "
        f"{verdict.checkpoints} signed checkpoint(s){pending}{before}"
    )
    notes = [f"note: {n}" for n in verdict.notes]
    if first is None:
        return "\n".join([f"intact: {reach}", *notes])
    lines = [
        f"BROKEN at position {first.position}: {first.kind.value} ({first.detail})",
        f"checked: {reach}",
    ]
    ordered = sorted(verdict.breaks, key=lambda b: b.position)
    lines += [
        f"  position {b.position}: {b.kind.value} ({b.detail})"
        for b in ordered[1 : SHOWN_BREAKS + 1]
    ]
    if len(ordered) > SHOWN_BREAKS + 1 or verdict.stopped:
        lines.append("  ... more breaks (--json lists them)")
    return "\n".join(lines + notes)


def _export(args: argparse.Namespace) -> int:
    with event_store(args) as (settings, database, _):
        checkpoints = signed_heads(database)
        public = SigningKey(settings.audit_key_file).public()
    say(json.dumps(exported(checkpoints, public), indent=2))
    return 0


def _create(args: argparse.Namespace) -> int:
    with engine_for(args) as engine:
        if not isinstance(engine.runner, ChainedRunner):
            raise TypeError("this engine keeps no hash chain")
        try:
            checkpoint = engine.runner.chain.checkpoint()
        except ChainBrokenError as e:
            say(f"mailhost: nothing signed: {e}", err=True)
            return 1
        head = engine.runner.chain.position()
    if checkpoint is None:
        text = "nothing to sign: " + (
            "the log is empty" if head == 0 else f"position {head} is signed already"
        )
        emit(args, {"checkpoint": None, "head": head}, text)
        return 0
    emit(
        args,
        {"checkpoint": checkpoint.as_json(), "head": head},
        f"signed position {checkpoint.position}: head {checkpoint.head.hex()} "
        f"(key {checkpoint.key_id}, {checkpoint.signed_at})",
    )
    return 0
