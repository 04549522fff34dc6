"""``mailhost audit`` attacked: stored bytes changed behind the engine, hostile input (issue 11).

An intruder with write access to the event store's file edits events, links and signed
heads, cuts the log's tail or throws the chain away; ``audit verify`` must say where
(exit 1), and with the heads exported off the machine it must catch a rewrite that is
consistent in the file. An auditor's hostile or odd arguments get exit 2 and a sentence,
and whatever a client sent (a user agent) reaches no terminal as control characters.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from domain.ids import account_id
from tests.hostile.audit_world import (
    AGENT,
    LOGINS,
    copy_home,
    event_position,
    one,
    run,
    seed,
    tamper,
)
from tests.integration.clisupport import controls_in
from tests.integration.support import PASSWORD

ZED = LOGINS[0]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The seeded home and its heads exported to a file outside it."""
    root = tmp_path_factory.mktemp("audit-hostile")
    home = root / "home"
    seed(home)
    exported = run(home, "audit", "checkpoint", "export")
    assert exported.status == 0, exported.err
    heads = root / "heads.json"
    heads.write_text(exported.out)
    assert run(home, "audit", "verify").status == 0
    return home, heads


@pytest.fixture
def home(pristine: tuple[Path, Path], tmp_path: Path) -> Path:
    return copy_home(pristine[0], tmp_path / "home")


@pytest.fixture
def heads(pristine: tuple[Path, Path]) -> Path:
    return pristine[1]


TAMPERING = {
    "event state byte": "UPDATE stored_events SET state = CAST(REPLACE("
    'CAST(state AS TEXT), \'"timestamp":"2\', \'"timestamp":"1\') AS BLOB)'
    " WHERE rowid = {p}",
    "event topic": "UPDATE stored_events SET topic = topic || 'x' WHERE rowid = {p}",
    "event version": "UPDATE stored_events SET originator_version = 99"
    " WHERE rowid = {p}",
    "event deleted": "DELETE FROM stored_events WHERE rowid = {p}",
    "link": "UPDATE mh_audit_chain SET link = randomblob(32) WHERE position = {p}",
    "link digest": "UPDATE mh_audit_chain SET digest = randomblob(32)"
    " WHERE position = {p}",
    "link deleted": "DELETE FROM mh_audit_chain WHERE position = {p}",
}


@pytest.mark.parametrize("statement", TAMPERING.values(), ids=TAMPERING.keys())
def test_verify_names_the_position_of_each_change(home: Path, statement: str) -> None:
    position = event_position(home, "LoggedIn")
    tamper(home, statement.format(p=position))
    verdict = run(home, "audit", "verify", "--json")
    assert verdict.status == 1, verdict.out
    found = json.loads(verdict.out)
    assert found["intact"] is False
    assert position in {b["position"] for b in found["breaks"]}


CHECKPOINT_TAMPERING = (
    "UPDATE mh_audit_checkpoints SET head = randomblob(32)",
    "UPDATE mh_audit_checkpoints SET signed_at = '2020-01-01T00:00:00.000000+00:00'",
    "UPDATE mh_audit_checkpoints SET position = position - 1",
    "UPDATE mh_audit_checkpoints SET signature = randomblob(64)",
)


@pytest.mark.parametrize("statement", CHECKPOINT_TAMPERING)
def test_verify_fails_on_a_changed_signed_head(home: Path, statement: str) -> None:
    tamper(home, statement)
    verdict = run(home, "audit", "verify")
    assert verdict.status == 1
    assert verdict.out.startswith("BROKEN at position ")


def test_a_cut_tail_rewritten_consistently_shows_against_exported_heads(
    home: Path, heads: Path
) -> None:
    head = int(one(home, "SELECT MAX(rowid) FROM stored_events"))
    cut = head - 2
    tamper(
        home,
        f"DELETE FROM stored_events WHERE rowid > {cut}",  # noqa: S608 - test's own numbers
        f"DELETE FROM mh_audit_chain WHERE position > {cut}",  # noqa: S608 - test's own numbers
        f"UPDATE mh_audit_tracking SET position = {cut}",  # noqa: S608 - test's own number
        "DELETE FROM mh_audit_checkpoints",
    )
    # Consistent in the file: only a copy of the heads held elsewhere shows it.
    assert run(home, "audit", "verify").status == 0
    verdict = run(home, "audit", "verify", "--public-key", str(heads), "--json")
    assert verdict.status == 1
    assert json.loads(verdict.out)["first_break"]["kind"] == "head_mismatch"


def _change_an_event_and_drop_the_chain(home: Path) -> None:
    position = event_position(home, "Registered")
    tamper(
        home,
        TAMPERING["event state byte"].format(p=position),
        "DROP TABLE mh_audit_chain",
        "DROP TABLE mh_audit_tracking",
        "DROP TABLE mh_audit_checkpoints",
    )


def test_an_event_changed_and_the_chain_dropped_shows_against_exported_heads(
    home: Path, heads: Path
) -> None:
    _change_an_event_and_drop_the_chain(home)
    first = run(home, "audit", "verify", "--public-key", str(heads))
    assert first.status == 1
    assert "chain missing" in first.out
    # A chain was kept here (the signing key shows it): the engine refuses to link the
    # changed log afresh, and the exported heads still show the change.
    assert run(home, "audit", "checkpoint", "create").status == 1
    verdict = run(home, "audit", "verify", "--public-key", str(heads))
    assert verdict.status == 1
    assert "checkpoint head mismatch" in verdict.out


def test_a_copy_without_the_private_key_verifies_with_the_heads(
    home: Path, heads: Path
) -> None:
    (home / "audit-signing.key").unlink()
    verdict = run(home, "audit", "verify", "--public-key", str(heads), "--json")
    assert verdict.status == 0, verdict.out
    assert json.loads(verdict.out)["intact"] is True


AUDIT_VIEWS = (
    ("audit", "history", ZED),
    ("audit", "timeline", "--user", ZED),
    ("audit", "state", str(account_id(ZED)), "--at", "2999-01-01"),
    ("audit", "history", ZED, "--json"),
    ("audit", "export"),
)


@pytest.mark.parametrize("args", AUDIT_VIEWS, ids=lambda a: " ".join(a[1:3]))
def test_a_hostile_user_agent_reaches_no_terminal(
    pristine: tuple[Path, Path], args: tuple[str, ...]
) -> None:
    shown = run(pristine[0], *args)
    assert shown.status == 0, shown.err
    assert controls_in(shown.out) == []
    assert controls_in(shown.err) == []
    # The data itself is kept as the client sent it (whitespace runs made one space).
    sent = json.dumps(" ".join(AGENT.split()))[1:-1]
    if "--json" in args:
        assert sent in json.dumps(json.loads(shown.out))
    if "export" in args:
        assert sent in json.dumps([json.loads(li) for li in shown.out.splitlines()])


HOSTILE_ARGS = (
    ("history", "nobody@example.org"),
    ("history", "00000000-0000-0000-0000-000000000000"),
    ("history", "x\x1b[31m@example.org"),
    ("history", "änna@exämple.org"),
    ("history", ""),
    ("timeline", "--user", ZED, "--since", "garbage"),
    ("timeline", "--user", ZED, "--since", "2026-13-01"),
    ("timeline", "--user", ZED, "--since", "9999-12-31T23:59:59+14:00"),
    ("timeline", "--user", ZED, "--until", "0001-01-01T00:00-23:59"),
    ("timeline", "--user", ZED, "--since", "2027-01-01", "--until", "2026-01-01"),
    ("state", ZED, "--at", "0001-01-01"),
    ("state", str(account_id(ZED)), "--at", "0001-01-01T00:00:00+14:00"),
    ("trace", "not-a-uuid"),
    ("trace", "00000000-0000-0000-0000-000000000000"),
    ("export", "--since", "-1"),
    ("export", "--since", "1" + "0" * 30),
    ("admin", "No Such Org\u202e"),
)


@pytest.mark.parametrize("args", HOSTILE_ARGS, ids=repr)
def test_hostile_arguments_get_a_sentence_not_a_traceback(
    pristine: tuple[Path, Path], args: tuple[str, ...]
) -> None:
    shown = run(pristine[0], "audit", *args)
    assert shown.status in {0, 2}, shown.err
    assert "Traceback" not in shown.err
    assert "failed:" not in shown.err
    assert controls_in(shown.out + shown.err.replace("\n", "")) == []


def test_state_at_an_events_own_instant_includes_it(
    pristine: tuple[Path, Path],
) -> None:
    home = pristine[0]
    aggregate = str(account_id(ZED))
    history = run(home, "audit", "history", aggregate, "--json").json()
    login = next(e for e in history if e["kind"] == "UserAccount.LoggedIn")
    at = datetime.fromisoformat(login["timestamp"])

    def version_at(moment: str) -> int:
        state = run(home, "audit", "state", aggregate, "--at", moment, "--json")
        return int(state.json()["version"])

    assert version_at(at.isoformat()) == login["version"]
    before = (at - timedelta(microseconds=1)).isoformat()
    assert version_at(before) == login["version"] - 1
    # The same instant in another zone, and with no offset (UTC).
    east = at.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()
    assert version_at(east) == login["version"]
    naive = at.astimezone(UTC).replace(tzinfo=None).isoformat()
    assert version_at(naive) == login["version"]


def test_no_secret_reaches_the_export_or_the_history(
    pristine: tuple[Path, Path],
) -> None:
    home = pristine[0]
    texts = [run(home, "audit", "export").out]
    for login in LOGINS:
        texts.append(run(home, "audit", "history", login, "--json").out)
        texts.append(run(home, "audit", "timeline", "--user", login).out)
    joined = "\n".join(texts)
    assert PASSWORD not in joined
    assert re.search(r"\{S?SHA|\$argon2|\$2[aby]\$|scrypt", joined) is None
