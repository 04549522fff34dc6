"""Outside input that once stopped the log's readers (issue 11): each case is one edge.

An event of a class this release lacks, and a client's user agent that is no valid
UTF-8: both reached every command or every read model behind them.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from application.authorization import OPERATOR
from domain.errors import InvalidInput
from domain.ids import account_id
from tests.hostile.audit_world import Ran, copy_home, run
from tests.hostile.test_audit_hostile import (  # noqa: F401 - pristine: a fixture used by name
    ZED,
    pristine,
)
from tests.integration.support import ORG, PASSWORD, engine


@pytest.fixture
def home(pristine: tuple[Path, Path], tmp_path: Path) -> Path:  # noqa: F811 - the fixture
    return copy_home(pristine[0], tmp_path / "home")


def export_after_storing(home: Path, topic: str, version: int) -> Ran:
    """``audit export`` refused (exit 2) once an event of ``topic`` v``version`` is in."""
    state = json.dumps({"timestamp": "2026-12-02T05:00:00+00:00", "_v": version})
    with closing(sqlite3.connect(home / "events.sqlite")) as connection:
        connection.execute(
            "INSERT INTO stored_events VALUES (?, 1, ?, ?)",
            ("1" * 32, topic, state.encode()),
        )
        connection.commit()
    exported = run(home, "audit", "export")
    assert exported.status == 2, exported.err
    return exported


def test_an_unknown_topic_is_named_with_its_remedy(home: Path) -> None:
    """An event of a class this release lacks: exit 2, the topic named as stored and
    the alias remedy (infrastructure.upcasting.unreadable), not "failed: TopicError"
    with the topic neutralised to "[link removed]"."""
    exported = export_after_storing(home, "domain.future:Future.Happened", 1)
    assert "domain.future:Future.Happened" in exported.err
    assert "alias" in exported.err


def test_a_lone_surrogate_in_a_user_agent_does_not_stop_the_read_models(
    tmp_path: Path,
) -> None:
    """The mapper stores it (surrogatepass), but the activity projection's insert into
    SQLite then raised UnicodeEncodeError on every catch-up: one client's header stopped
    every read model behind it. The login context now replaces it with U+FFFD; a
    display name, the user's own text, is refused instead (domain.text rules)."""
    with engine(tmp_path / "home", {}, background=False) as e:
        e.host.organisations.found(ORG, by=OPERATOR)
        with pytest.raises(InvalidInput, match=r"U\+DCFF"):
            e.host.accounts.register(
                ORG, ZED, PASSWORD, display_name="Z\udcff", by=OPERATOR
            )
        e.host.accounts.register(ORG, ZED, PASSWORD, display_name="Z", by=OPERATOR)
        e.host.accounts.login(ZED, PASSWORD, ip="198.51.100.7", user_agent="A\udcffB")
        e.runner.catch_up()
        assert e.runner.is_current()
        seen = e.host.activity.recent(account_id(ZED))
    assert any("A\ufffdB" in (entry.device + entry.detail) for entry in seen), seen


def test_an_event_of_a_newer_release_is_named_with_its_remedy(home: Path) -> None:
    """A known class in a version this release lacks: exit 2, the topic as stored, the
    reason (a newer release wrote it), never the neutralised "[link removed]"."""
    exported = export_after_storing(home, "application.forgetting:Erasure.Recorded", 9)
    assert "application.forgetting:Erasure.Recorded" in exported.err
    assert "newer release" in exported.err
    assert "[link removed]" not in exported.err
