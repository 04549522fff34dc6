"""``mailhost audit rebuild``: the read models replayed into a fresh store, then compared.

The fresh store is of the live one's kind, so both speak the same SQL and return the
same types: a temporary SQLite file in the engine's home (0700: the read models hold
personal data) for the embedded engine, a temporary schema of the same database on
PostgreSQL. Either is removed when the comparison ends.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from domain.address import shown
from domain.errors import InvalidInput
from infrastructure.bootstrap import Engine, open_engine
from infrastructure.cli.auditverify import existing_log
from infrastructure.cli.auditview import difference_json, difference_line
from infrastructure.cli.output import emit, say
from infrastructure.sql import PostgresDatabase, SqliteDatabase
from infrastructure.storedpages import StoredPages
from projections.auditrebuild import Difference, compare, replay
from projections.runner import Projection
from projections.storage import Cursor, Database


class _Schema:
    """A fresh PostgreSQL schema of the live database: every transaction works in it."""

    dialect = "postgres"

    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database
        self.name = f"mh_rebuild_{secrets.token_hex(6)}"
        with database.transaction() as cursor:
            cursor.execute(f"CREATE SCHEMA {self.name}")

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        with self._database.transaction() as cursor:
            cursor.execute(f"SET LOCAL search_path TO {self.name}")
            yield cursor

    def ensure_schema(self, statements: Sequence[str]) -> None:
        # A schema nobody else knows of: no lock, and made whatever CREATE_TABLE says.
        with self.transaction() as cursor:
            for statement in statements:
                cursor.execute(statement)

    def drop(self) -> None:
        with self._database.transaction() as cursor:
            cursor.execute(f"DROP SCHEMA {self.name} CASCADE")


@contextmanager
def fresh_store(engine: Engine) -> Iterator[Database]:
    live = engine.runner.database
    if isinstance(live, PostgresDatabase):
        schema = _Schema(live)
        try:
            yield schema
        finally:
            schema.drop()
        return
    folder = Path(tempfile.mkdtemp(prefix="rebuild-", dir=engine.settings.home))
    database = SqliteDatabase(folder / "views.sqlite")
    try:
        yield database
    finally:
        database.close()
        shutil.rmtree(folder, ignore_errors=True)


def chosen(engine: Engine, name: str | None) -> list[Projection]:
    """The live projections to compare: the one named, or all of them."""
    projections = list(engine.runner.projections)
    if name is None:
        return projections
    found = [p for p in projections if p.name == name]
    if not found:
        names = ", ".join(p.name for p in projections)
        raise InvalidInput(f"PROJECTION: no read model {shown(name)} (one of: {names})")
    return found


def rebuilt_differences(
    engine: Engine,
    projections: Sequence[Projection],
    store: AbstractContextManager[Database] | None = None,
) -> tuple[int, list[Difference]]:
    """Events replayed and every difference, the live views caught up first."""
    engine.runner.catch_up()
    with store or fresh_store(engine) as fresh:
        # Instances of their own: a projection may remember facts between events.
        replayed = replay(
            engine.host.log,
            fresh,
            [type(p)() for p in projections],
            pages=StoredPages.of(engine.host.log.recorder, engine.settings),
        )
        engine.runner.catch_up()
        found = [
            d for p in projections for d in compare(engine.runner.database, fresh, p)
        ]
    return replayed, found


def rebuild(args: argparse.Namespace) -> int:
    existing_log(args.home)
    engine = open_engine(args.home, background=False)
    try:
        projections = chosen(engine, args.projection)
        replayed, found = rebuilt_differences(engine, projections)
    finally:
        engine.close()
    names = ", ".join(p.name for p in projections)
    summary = f"{replayed} events replayed into a fresh store; {names}: " + (
        f"{len(found)} difference(s)" if found else "no difference"
    )
    emit(
        args,
        {
            "events": replayed,
            "projections": [p.name for p in projections],
            "differences": [difference_json(d) for d in found],
        },
        "\n".join([summary, *(difference_line(d) for d in found)]),
    )
    if found and not getattr(args, "json", False):
        say("mailhost: the rebuilt read models differ from the live ones", err=True)
    return 1 if found else 0
