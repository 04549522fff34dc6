"""``mailhost user forget`` attacked on the demo's home: every stored byte scanned (issue 11).

The demo's Ann signs in from Geneva and Lisbon with two browsers, is attacked with curl
from a hosting network and starts a two-step sign-in she never finishes. Once she is
forgotten no file of the home (outside her own mailbox and the mails already sent to
her) may hold any of that, in any common encoding; the log still verifies, replays and
rebuilds, and shows her data as forgotten.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.hostile.audit_world import LOGINS, Ran, run, seed
from tests.integration.clisupport import controls_in
from tests.integration.support import PASSWORD, engine
from tests.integration.test_forgetting import encodings

ANN = "ann@example.org"
CANARIES = (
    "Ann Example",
    "Firefox 133 on Linux",
    "Safari 18 on iPhone",
    "curl/8.5",
    "192.0.2.0/24",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "Geneva",
    "Lisbon",
)
# What is not the engine's to forget: her mailbox, the mails sent to her, the demo's
# own place table (configuration).
NOT_SCANNED = ("mail", "outbox", "demo-places.csv")


def canaries_in(blob: bytes) -> list[str]:
    return [c for c in CANARIES if any(form in blob for form in encodings(c))]


def scan(home: Path) -> dict[str, list[str]]:
    """Each file of the home (but NOT_SCANNED) that holds a canary, and which."""
    hits: dict[str, list[str]] = {}
    for path in sorted(home.rglob("*")):
        relative = path.relative_to(home)
        if not path.is_file() or relative.parts[0] in NOT_SCANNED:
            continue
        found = canaries_in(path.read_bytes())
        if found:
            hits[str(relative)] = found
    return hits


def stored_events(home: Path) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(home / "events.sqlite")) as connection:
        return connection.execute(
            "SELECT rowid, originator_id, originator_version, topic, state"
            " FROM stored_events ORDER BY rowid"
        ).fetchall()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("forget-demo") / "home"
    made = run(home, "demo")
    assert made.status == 0, made.err
    assert scan(home), "the demo's home holds Ann's data before she is forgotten"
    return home


@pytest.fixture
def home(demo: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(demo, tmp_path / "home"))


def forget(home: Path, login: str = ANN) -> Ran:
    return run(home, "user", "forget", login, "--yes", "--json")


def test_the_log_verifies_replays_and_rebuilds_after_a_forget(home: Path) -> None:
    before = stored_events(home)
    done = forget(home)
    assert done.status == 0, done.err
    assert done.json()["keys_deleted"] >= 1
    # The log is never rewritten: only the erasure's own event(s) are added.
    assert stored_events(home)[: len(before)] == before
    assert run(home, "audit", "verify").status == 0
    rebuilt = run(home, "audit", "rebuild")
    assert rebuilt.status == 0, rebuilt.out
    exported = run(home, "audit", "export")
    assert exported.status == 0, exported.err
    assert canaries_in(exported.out.encode()) == []
    assert '"display_name": "[forgotten]"' in exported.out
    history = run(home, "audit", "history", ANN, "--json").json()
    assert any(e["kind"] == "Erasure.Recorded" for e in history) or history


def test_forgetting_again_unknown_or_hostile_logins(home: Path) -> None:
    assert forget(home).status == 0
    again = forget(home)
    assert again.status == 0, again.err
    assert again.json()["keys_deleted"] == 0
    for login in ("nobody@example.org", "x\x1b[2J\u202e@example.org", ""):
        refused = forget(home, login)
        assert refused.status == 2, refused.err
        assert "Traceback" not in refused.err
        assert controls_in(refused.err.replace("\n", "")) == []
    refused = run(home, "user", "forget", ANN)
    assert refused.status == 2
    assert "--yes" in refused.err
    assert run(home, "audit", "verify").status == 0


def test_a_sign_in_after_the_forget_is_readable_and_the_old_stay_forgotten(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    seed(home)
    zed = LOGINS[0]
    assert forget(home, zed).status == 0
    with engine(home, {}, background=False) as e:
        e.host.accounts.login(
            zed, PASSWORD, ip="192.0.2.9", user_agent="Brand-New-Agent/2.0"
        )
        e.runner.catch_up()
    events = run(home, "audit", "history", zed, "--json").json()
    agents = [
        e["data"]["context"]["user_agent"]
        for e in events
        if e["kind"] == "UserAccount.LoggedIn"
    ]
    assert agents[-1] == "Brand-New-Agent/2.0"
    assert set(agents[:-1]) == {"[forgotten]"}
    assert run(home, "audit", "verify").status == 0
    assert run(home, "audit", "rebuild").status == 0


def test_forget_json_is_parseable_and_holds_no_personal_data(home: Path) -> None:
    done = forget(home)
    data = json.loads(done.out)
    assert data["login"] == ANN
    assert canaries_in(done.out.encode()) == []
