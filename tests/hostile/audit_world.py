"""A small audited home for the hostile audit cases, and ``mailhost`` run against it.

Seeded once in this process (an organisation, a few accounts, sign-ins with a hostile
user agent, a signed checkpoint), its signed heads exported off the home; every case then
works on a copy of the closed home, as an intruder or an auditor with the files would.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from attrs import frozen

from application.authorization import OPERATOR
from infrastructure.chain import ChainedRunner
from tests.integration.clisupport import mailhost_bytes
from tests.integration.support import ORG, PASSWORD, engine

# Every character class a terminal obeys: CSI, OSC title, BEL, a bidi override, C1 CSI,
# a line separator.
AGENT = "Evil\x1b[2J\x1b]0;pwned\x07\u202eRTL\x9b31m\u2028X/1.0"
LOGINS = ("zed@example.org", "yan@example.org", "xia@example.org")


@frozen
class Ran:
    status: int
    out: str
    err: str

    def json(self) -> Any:  # noqa: ANN401 - JSON
        assert self.status == 0, self.err
        return json.loads(self.out)


def run(home: Path, *args: str, env: dict[str, str] | None = None) -> Ran:
    done = mailhost_bytes(*args, "--home", str(home), stdin=b"", home=home, env=env)
    return Ran(
        done.returncode,
        done.stdout.decode("utf-8", "surrogateescape"),
        done.stderr.decode("utf-8", "surrogateescape"),
    )


def seed(home: Path, env: dict[str, str] | None = None) -> None:
    """The world every case starts from; the head signed, so a checkpoint exists."""
    with engine(home, env or {}, background=False) as e:
        e.host.organisations.found(ORG, by=OPERATOR)
        for i, login in enumerate(LOGINS):
            e.host.accounts.register(
                ORG, login, PASSWORD, display_name=f"Person {i}", by=OPERATOR
            )
            e.host.accounts.login(
                login, PASSWORD, ip=f"198.51.100.{i + 1}", user_agent=AGENT
            )
        runner = e.runner
        assert isinstance(runner, ChainedRunner)
        runner.catch_up()
        assert runner.chain.checkpoint() is not None


def copy_home(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def tamper(home: Path, *statements: str) -> None:
    """SQL run on the event store's file behind the engine's back."""
    with closing(sqlite3.connect(home / "events.sqlite")) as connection:
        for statement in statements:
            connection.execute(statement)
        connection.commit()


def one(home: Path, sql: str) -> Any:  # noqa: ANN401 - an SQLite value
    with closing(sqlite3.connect(home / "events.sqlite")) as connection:
        row = connection.execute(sql).fetchone()
    return None if row is None else row[0]


def event_position(home: Path, topic_suffix: str) -> int:
    position = one(
        home,
        f"SELECT MIN(rowid) FROM stored_events WHERE topic LIKE '%{topic_suffix}'",  # noqa: S608 - a test's own constant
    )
    assert position is not None
    return int(position)
