"""Helpers the integration tests share: engines on real stores, store scanning."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from application.authorization import OPERATOR
from application.mailservices import split_address
from infrastructure.bootstrap import Engine, open_engine

if TYPE_CHECKING:
    from tests.servers import SmtpSink

PASSWORD = "canary-Passw0rd-7f3a91"  # a canary: it must never appear in a store
ORG = "Example Co"
LOGIN = "ann@example.org"
# An argon2id encoding as the engine stores it, for the passwd-file and mail stores.
ARGON = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
# A canary inside a secret: it must never appear in an error message or repr.
SECRET_TAIL = "secret-canary-91f2"


class ManualClock:
    """Time the test moves: windows of minutes close without waiting minutes."""

    def __init__(self, at: datetime | None = None) -> None:
        self.at = at or datetime.now(UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


@contextmanager
def engine(
    home: Path,
    env: Mapping[str, str] | None = None,
    *,
    background: bool = True,
    clock: ManualClock | None = None,
) -> Iterator[Engine]:
    opened = open_engine(home, dict(env or {}), background=background, clock=clock)
    try:
        yield opened
    finally:
        opened.close()


def with_user(opened: Engine, login: str = LOGIN, password: str = PASSWORD) -> None:
    host = opened.host
    if not _org_exists(opened):
        host.organisations.found(ORG, by=OPERATOR)
    host.accounts.register(ORG, login, password, display_name="Ann", by=OPERATOR)


def with_unassigned_address(
    opened: Engine, address: str, admin: str = "admin@example.net"
) -> None:
    """``admin``'s organisation, a mail service of five slots, ``address`` in it."""
    with_user(opened, admin)
    opened.host.services.create(ORG, split_address(address)[1], quota=5, by=OPERATOR)
    opened.host.addresses.create_unassigned(address, by=OPERATOR)


def with_active_responder(opened: Engine, address: str) -> None:
    """``address`` answering every sender with its active message, "Holidays"."""
    with_unassigned_address(opened, address)
    opened.host.responders.add(address, "Holidays", body="Away this week.", by=OPERATOR)
    opened.host.responders.activate(address, "Holidays", by=OPERATOR)


def process_env(home: Path, smtp: SmtpSink, *more: Mapping[str, str]) -> dict[str, str]:
    """A child process's settings: the engine's ``home``, the SMTP sink, then ``more``."""
    env = {"MAILHOST_HOME": str(home), "MAILHOST_SMTP_URL": smtp.url}
    for settings in more:
        env.update(settings)
    return env


def _org_exists(opened: Engine) -> bool:
    try:
        opened.host.organisations.get(ORG)
    except LookupError:
        return False
    return True


def event_count(opened: Engine, topic_suffix: str) -> int:
    notifications = opened.host.log.recorder.select_notifications(
        start=1, limit=1_000_000
    )
    return sum(n.topic.endswith(topic_suffix) for n in notifications)


def stored_bytes(home: Path) -> bytes:
    """Every byte the engine wrote under ``home`` (databases, WAL files, outbox)."""
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())
