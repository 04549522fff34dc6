"""The engine and the helpers of the bulk-creation tests (ADR-9) on real SQLite.

The engine comes from ``open_engine(tmp_path, background=False)``; ``BulkCreation`` is
built from the parts of ``engine.host.addresses`` (its credential store, hasher, clock
and mail store: the embedded ``MaildirMailStore`` that ``open_engine`` wires by default),
or, on an engine that does not have them yet, from ``engine.host.accounts`` and a
``MaildirMailStore`` of its own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from attrs import frozen

from application.authorization import OPERATOR
from application.bulk import BulkCreation
from application.bulkreport import BulkReport
from application.ports import MailStore
from domain.mailbox import Mailbox
from domain.mailservice import MailService
from infrastructure.bootstrap import Engine, open_engine
from tests.integration.support import PASSWORD

ORG = "Example Co"
DOMAIN = "example.com"
ANN = "ann@example.org"
BOB = "bob@example.org"
HEADER = "address,kind,users,targets,signature\n"


@frozen
class World:
    engine: Engine
    bulk: BulkCreation
    home: Path

    def apply(self, text: str | bytes) -> BulkReport:
        return self.bulk.apply(DOMAIN, _bytes(text), by=OPERATOR)

    def check(self, text: str | bytes) -> BulkReport:
        return self.bulk.check(DOMAIN, _bytes(text), by=OPERATOR)

    @property
    def service(self) -> MailService:
        return self.engine.host.services.get(DOMAIN)

    def mailbox(self, address: str) -> Mailbox:
        return self.engine.host.services.mailbox(address)[1]

    def position(self) -> int:
        return self.engine.host.log.recorder.max_notification_id() or 0

    def secrets(self) -> int:
        with sqlite3.connect(self.home / "credentials.sqlite") as db:
            (count,) = db.execute("SELECT count(*) FROM mh_secrets").fetchone()
        return int(count)

    def passwd(self) -> dict[str, str]:
        """The mail store's passwd-file: address -> hash, as Dovecot would read it."""
        path = getattr(getattr(self.bulk.store, "passwd", None), "path", None)
        assert path is not None, f"{self.bulk.store!r} keeps no passwd-file"
        if not Path(path).exists():
            return {}
        lines = Path(path).read_text(encoding="ascii").splitlines()
        return {
            line.split(":")[0]: line.split(":")[1]
            for line in lines
            if line and not line.startswith("#")
        }


def _count_writes(world: World) -> Callable[[], int]:
    """From now on, count the rewrites of the engine's passwd-file."""
    passwd = world.engine.host.addresses.store.passwd  # type: ignore[attr-defined]
    count = [0]
    original = passwd.update

    def counting(**changes: object) -> None:
        count[0] += 1
        original(**changes)

    passwd.update = counting
    return lambda: count[0]


def _bytes(text: str | bytes) -> bytes:
    return text if isinstance(text, bytes) else text.encode()


def _bulk(engine: Engine, home: Path) -> BulkCreation:
    host = engine.host
    addresses: Any = getattr(host, "addresses", None)
    if addresses is not None:
        parts: Any = addresses
        store: MailStore = addresses.store
    else:  # pragma: no cover - an engine assembled before the mail store was wired
        from infrastructure.maildir import MaildirMailStore  # noqa: PLC0415 - only for an engine without a wired store

        parts = host.accounts
        store = MaildirMailStore(home / "mail")
    shared = {"credentials": parts.credentials, "hasher": parts.hasher}
    return BulkCreation(
        log=host.log, services=host.services, store=store, clock=parts.clock, **shared
    )


def _open(home: Path, *, quota: int = 50) -> Engine:
    engine = open_engine(home, background=False)
    host = engine.host
    host.organisations.found(ORG, by=OPERATOR)
    host.accounts.register(ORG, ANN, PASSWORD, display_name="Ann", by=OPERATOR)
    host.accounts.register(ORG, BOB, PASSWORD, display_name="Bob", by=OPERATOR)
    host.services.create(ORG, DOMAIN, quota=quota, by=OPERATOR)
    host.services.save_signature_template(
        DOMAIN, "Standard", "-- \nExample Co", by=OPERATOR
    )
    return engine


def open_world(tmp_path: Path) -> Iterator[World]:
    """The ``world`` fixture of each test module: an engine with Ann, Bob, the service."""
    engine = _open(tmp_path)
    try:
        yield World(engine, _bulk(engine, tmp_path), tmp_path)
    finally:
        engine.close()


def _errors(report: BulkReport) -> list[tuple[int, str]]:
    return [(e.line, e.column) for e in report.errors]


def _message(report: BulkReport, line: int) -> str:
    return " | ".join(e.message for e in report.errors if e.line == line)


# -- a good file ------------------------------------------------------------------------
