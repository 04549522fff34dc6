"""``mailhost audit ...`` on the demo's log, on SQLite and on PostgreSQL (issue 11).

The demo runs once per store (it takes seconds); every test then asks its question of
that log as an auditor would, through the real command in its own process.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from domain.ids import account_id, two_step_id
from tests.integration.clisupport import mailhost_bytes, mailhost_to_gone_reader
from tests.servers import RunningPostgres

ANN = "ann@example.org"
EXPORT_FIELDS = {
    "position",
    "originator_id",
    "version",
    "topic",
    "timestamp",
    "actor",
    "correlation",
    "causation",
    "schema_version",
    "data",
}


class Demo:
    """The demo's home and store, and ``mailhost`` run against them."""

    def __init__(self, home: Path, env: dict[str, str], store: str) -> None:
        self.home = home
        self.env = env
        self.store = store

    def run(self, *args: str) -> tuple[int, str, str]:
        done = mailhost_bytes(*args, stdin=b"", home=self.home, env=self.env)
        return done.returncode, done.stdout.decode(), done.stderr.decode()

    def json(self, *args: str) -> Any:  # noqa: ANN401 - JSON
        status, out, err = self.run(*args, "--json")
        assert status == 0, err
        return json.loads(out)

    def execute(self, sql: str) -> None:
        """A change made behind the engine's back, to a live read model."""
        if self.store == "sqlite":
            with sqlite3.connect(self.home / "views.sqlite") as connection:
                connection.execute(sql)
            return
        conninfo = psycopg.conninfo.make_conninfo(
            dbname=self.env["POSTGRES_DBNAME"],
            host=self.env["POSTGRES_HOST"],
            port=self.env["POSTGRES_PORT"],
            user=self.env["POSTGRES_USER"],
            password=self.env["POSTGRES_PASSWORD"],
        )
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(sql.encode())


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    home = tmp_path_factory.mktemp(f"audit-{request.param}")
    env: dict[str, str] = {}
    server: RunningPostgres | None = None
    name = ""
    if request.param == "postgres":
        server = request.getfixturevalue("postgres_server")
        name = server.create_database()
        env = server.env(name)
    found = Demo(home, env, request.param)
    status, _, err = found.run("demo", "--home", str(home))
    assert status == 0, err
    yield found
    if server is not None:
        server.drop_database(name)


def test_history_of_a_login_lists_every_event_in_log_order(demo: Demo) -> None:
    events = demo.json("audit", "history", str(account_id(ANN)))
    positions = [e["position"] for e in events]
    assert positions == sorted(positions)
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["kind"] == "UserAccount.Registered"
    assert events[0]["data"]["login"] == ANN
    assert all(e["actor"] and e["correlation"] for e in events)
    status, out, _ = demo.run("audit", "history", "example.org")
    assert status == 0
    assert "MailService.Created" in out
    assert "by " in out


def test_history_of_an_address_takes_its_mailbox_and_responder(demo: Demo) -> None:
    kinds = {e["kind"] for e in demo.json("audit", "history", ANN)}
    assert {"UserAccount.Registered", "AutoResponder.Provisioned"} <= kinds
    assert "Mailbox.Created" in kinds


def test_timeline_of_a_user_spans_their_aggregates(demo: Demo) -> None:
    entries = demo.json("audit", "timeline", "--user", ANN)
    aggregates = {e["originator_id"] for e in entries}
    assert str(account_id(ANN)) in aggregates
    assert str(two_step_id(account_id(ANN))) in aggregates
    assert "Mailbox.Created" in {e["kind"] for e in entries}
    positions = [e["position"] for e in entries]
    assert positions == sorted(positions)
    later = datetime.fromisoformat(entries[-1]["timestamp"]) + timedelta(seconds=1)
    assert (
        demo.json("audit", "timeline", "--user", ANN, "--since", later.isoformat())
        == []
    )
    until = demo.json(
        "audit", "timeline", "--user", ANN, "--until", entries[0]["timestamp"]
    )
    first = entries[0]["timestamp"]
    assert until == [e for e in entries if e["timestamp"] == first]


def test_timeline_of_an_address_holds_its_replies(demo: Demo) -> None:
    kinds = {e["kind"] for e in demo.json("audit", "timeline", "--address", ANN)}
    assert {
        "Mailbox.Created",
        "AutoResponder.Provisioned",
        "AutoReply.Decided",
    } <= kinds


def test_state_at_a_moment_is_the_aggregate_replayed_to_then(demo: Demo) -> None:
    events = demo.json("audit", "history", str(account_id(ANN)))
    changed = next(e for e in events if e["kind"] == "UserAccount.PasswordChanged")
    before = datetime.fromisoformat(changed["timestamp"]) - timedelta(microseconds=1)
    state = demo.json(
        "audit", "state", str(account_id(ANN)), "--at", before.isoformat()
    )
    assert state["version"] == changed["version"] - 1
    assert state["attributes"]["login"] == ANN
    assert state["attributes"]["credential_id"] != changed["data"]["credential_id"]
    after = demo.json(
        "audit", "state", str(account_id(ANN)), "--at", changed["timestamp"]
    )
    assert after["attributes"]["credential_id"] == changed["data"]["credential_id"]


def test_trace_shows_the_command_its_events_and_its_jobs(demo: Demo) -> None:
    events = demo.json("audit", "history", str(account_id(ANN)))
    alerted = next(
        e for e in events if e["kind"] == "UserAccount.LoggedIn" and e["data"]["alert"]
    )
    trace = demo.json("audit", "trace", alerted["correlation"])
    assert alerted["position"] in [e["position"] for e in trace["events"]]
    jobs = [j for j in trace["jobs"] if j["position"] == alerted["position"]]
    assert [j["kind"] for j in jobs] == ["send_security_alert"]
    assert jobs[0]["done_at"] is not None
    status, out, _ = demo.run("audit", "trace", alerted["correlation"])
    assert status == 0
    assert "job send_security_alert" in out


def test_export_is_the_log_as_json_lines(demo: Demo) -> None:
    status, out, err = demo.run("audit", "export")
    assert status == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [e["position"] for e in lines] == sorted(e["position"] for e in lines)
    assert all(set(e) == EXPORT_FIELDS for e in lines)
    assert lines[0]["schema_version"] >= 1
    status, out, _ = demo.run("audit", "export", "--since", str(lines[-3]["position"]))
    assert [json.loads(line)["position"] for line in out.splitlines()] == [
        e["position"] for e in lines[-2:]
    ]


def test_counts_add_up_to_the_log(demo: Demo) -> None:
    _, out, _ = demo.run("audit", "export")
    total = len(out.splitlines())
    for by in ("actor", "day", "kind"):
        counts = demo.json("audit", "counts", "--by", by)
        assert sum(c["events"] for c in counts) == total
    assert demo.json("audit", "admin", "Example Co") is not None


def test_rebuild_finds_no_difference_then_a_changed_cell(demo: Demo) -> None:
    status, out, err = demo.run("audit", "rebuild")
    assert status == 0, out + err
    assert "no difference" in out
    demo.execute("UPDATE mh_logins SET login = 'mallory@example.org'")
    try:
        status, out, _ = demo.run("audit", "rebuild", "address_directory")
        assert status == 1
        assert f"mh_logins [{account_id(ANN)}] login" in out
        assert "'mallory@example.org'" in out
        assert f"'{ANN}'" in out
    finally:
        demo.execute(f"UPDATE mh_logins SET login = '{ANN}'")  # noqa: S608 - a constant
    assert demo.run("audit", "rebuild", "address_directory")[0] == 0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("history", "nobody@example.org"), "nothing in the log is named"),
        (("history", "\x1b[31mred"), "AGGREGATE: nothing in the log is named"),
        (("timeline", "--user", "nobody@example.org"), "--user: there is no account"),
        (("timeline", "--address", "no-at-sign"), "is not an address"),
        (("state", ANN, "--at", "yesterday"), "is not an ISO 8601 time"),
        (("state", "example.org", "--at", "2000-01-01"), "did not exist yet"),
        (("trace", "not-a-uuid"), "is not a UUID"),
        (("trace", "00000000-0000-4000-8000-000000000000"), "no event records"),
        (("rebuild", "nothing"), "no read model 'nothing'"),
        (("export", "--since", "-1"), "must be from 0"),
        (("admin", "No Such Org"), "there is no organisation"),
    ],
)
def test_bad_input_exits_2_naming_it(
    demo: Demo, args: tuple[str, ...], says: str
) -> None:
    if demo.store == "postgres" and args[0] != "history":
        pytest.skip("the refusals are the store's no more than the parser's")
    status, _, err = demo.run("audit", *args)
    assert status == 2, err
    assert says in err


@pytest.mark.parametrize(
    "args",
    [("rebuild",), ("history", ANN), ("counts", "--by", "kind"), ("export",)],
)
def test_a_home_with_no_log_is_refused_and_left_as_it_was(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    """Opening the engine there would make an empty log, and rebuild would find no
    difference in it, as if the auditor's log were untouched."""
    done = mailhost_bytes("audit", *args, stdin=b"", home=tmp_path)
    assert done.returncode == 2
    assert f"no event store at {tmp_path / 'events.sqlite'}" in done.stderr.decode()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args",
    [("export",), ("counts", "--by", "day")],  # many lines, and one
)
def test_output_to_a_reader_that_has_left_stops_quietly(
    demo: Demo, args: tuple[str, ...]
) -> None:
    status, err = mailhost_to_gone_reader("audit", *args, home=demo.home, env=demo.env)
    assert (status, err) == (141, "")  # SIGPIPE's status, as a Unix filter's
