"""The hash chain on real stores: the demo's log, an auditor's copy, PostgreSQL's gaps."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import psycopg

from infrastructure.chain import ChainedRunner, EventTable, HashChain, chain_rows
from infrastructure.chainlinks import StoredEvent
from infrastructure.chainverify import Kind, verify
from infrastructure.sql import PostgresDatabase
from tests.chainlog import PASSWORD, editing, verdict, write_pristine
from tests.integration.clisupport import mailhost, mailhost_bytes
from tests.integration.support import engine, with_user


def _flip_state(events_file: Path, position: int) -> None:
    with editing(events_file) as connection:
        (state,) = connection.execute(
            "SELECT state FROM stored_events WHERE rowid = ?", (position,)
        ).fetchone()
        changed = bytes([state[0] ^ 1]) + bytes(state[1:])
        connection.execute(
            "UPDATE stored_events SET state = ? WHERE rowid = ?", (changed, position)
        )


def test_the_demo_log_verifies_and_one_changed_byte_fails_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert mailhost("demo", "--home", str(home)).returncode == 0
    # The demo's close linked its last event and signed its head: nothing left to sign.
    created = mailhost("audit", "checkpoint", "create", "--home", str(home), "--json")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["checkpoint"] is None
    head = json.loads(created.stdout)["head"]
    ok = mailhost("audit", "verify", "--home", str(home), "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    found = json.loads(ok.stdout)
    assert (found["events"], found["head"], found["pending"]) == (head, head, 0)
    assert found["checkpoints"] >= 1
    said = mailhost("audit", "verify", "--home", str(home))
    assert said.stdout.startswith(f"intact: {head} event(s) linked up to position")
    # An auditor's copy: the events file and the exported heads, no private key.
    export = mailhost("audit", "checkpoint", "export", "--home", str(home))
    assert "PRIVATE" not in export.stdout
    copy = tmp_path / "copy"
    copy.mkdir()
    with (
        closing(sqlite3.connect(home / "events.sqlite")) as source,
        closing(sqlite3.connect(copy / "events.sqlite")) as target,
    ):
        source.backup(target)
    heads = tmp_path / "heads.json"
    heads.write_text(export.stdout)
    audited = mailhost(
        "audit", "verify", "--home", str(copy), "--public-key", str(heads)
    )
    assert audited.returncode == 0, audited.stdout + audited.stderr
    assert not (copy / "audit-signing.key").exists()
    _flip_state(copy / "events.sqlite", 40)
    broken = mailhost(
        "audit", "verify", "--home", str(copy), "--public-key", str(heads), "--json"
    )
    assert broken.returncode == 1
    first = json.loads(broken.stdout)["first_break"]
    assert (first["position"], first["kind"]) == (40, "event_changed")
    said = mailhost("audit", "verify", "--home", str(copy), "--public-key", str(heads))
    assert said.stdout.startswith("BROKEN at position 40: event bytes changed")


def test_a_copy_without_its_key_cannot_vouch_for_its_checkpoints(
    tmp_path: Path,
) -> None:
    log = write_pristine(tmp_path / "home")
    (tmp_path / "home" / "audit-signing.key").unlink()
    result = mailhost("audit", "verify", "--home", str(tmp_path / "home"))
    # A question for the auditor (exit 2), not a tamper alarm (exit 1).
    assert result.returncode == 2, result.stdout
    assert "BROKEN" not in result.stdout
    assert f"{len(log.checkpoints)} signed checkpoint(s) and no public key" in (
        result.stderr
    )
    assert "--public-key" in result.stderr
    missing = mailhost("audit", "verify", "--home", str(tmp_path / "none"))
    assert missing.returncode == 2
    assert "no event store" in missing.stderr
    assert log.checkpoints


def test_a_chain_rewritten_after_a_change_fails_at_the_next_checkpoint(
    tmp_path: Path,
) -> None:
    log = write_pristine(tmp_path / "home")
    changed = log.positions[2]
    _flip_state(log.path, changed)
    with engine(tmp_path / "home", background=False) as opened:
        events = opened.host.log.recorder.select_notifications(
            start=changed, limit=1000
        )
    # The intruder relinks everything from the change on: each link then holds.
    with editing(log.path) as connection:
        (previous,) = connection.execute(
            "SELECT link FROM mh_audit_chain WHERE position = ?", (changed - 1,)
        ).fetchone()
        connection.execute("DELETE FROM mh_audit_chain WHERE position >= ?", (changed,))
        stored = [
            StoredEvent.of(
                (n.id, n.originator_id, n.originator_version, n.topic, n.state)
            )
            for n in events
        ]
        for row in chain_rows(previous, changed - 1, stored):
            connection.execute(
                "INSERT INTO mh_audit_chain VALUES (?, ?, ?, ?)",
                (row.position, row.first, row.digest, row.link),
            )
    found = verdict(log.path, log.public)
    first = found.first
    assert first is not None
    signed_after = min(p for p in log.checkpoints if p >= changed)
    assert (first.position, first.kind) == (signed_after, Kind.HEAD_MISMATCH)


def test_the_chain_on_postgres_records_a_rolled_back_id_as_a_gap(
    tmp_path: Path, postgres_env: dict[str, str]
) -> None:
    env = {**postgres_env, "MAILHOST_AUDIT_CHECKPOINT_EVERY": "5"}
    with engine(tmp_path, env, background=False) as opened:
        with_user(opened)
        runner = opened.runner
        assert isinstance(runner, ChainedRunner)
        runner.catch_up()
        table = EventTable.of(opened.host.log.recorder)
        assert table.dialect == "postgres"
        gap = _roll_back_an_insert(postgres_env, table)
        with_user(opened, "bob@example.org", PASSWORD)
        opened.drain()
        database = runner.chain.database
        public = (
            runner.chain.checkpoints.key.public() if runner.chain.checkpoints else None
        )
        intact = verify(database, table, public)
        assert intact.intact, intact.breaks
        assert intact.checkpoints >= 1
        with database.transaction() as cursor:
            cursor.execute(
                "SELECT first, position FROM mh_audit_chain WHERE first = ?", (gap,)
            )
            assert cursor.fetchone() == (gap, gap)
            # An event slipped into the gap later, and a changed byte elsewhere.
            cursor.execute(
                f"INSERT INTO {table.name} SELECT gen_random_uuid(), originator_version,"  # noqa: S608 - the recorder's table
                f" topic, state, ? FROM {table.name} WHERE notification_id = 1",
                (gap,),
            )
        inserted = verify(database, table, public).first
        assert inserted is not None
        assert (inserted.position, inserted.kind) == (gap, Kind.EVENT_INSERTED)
    cli = mailhost_bytes(
        "audit", "verify", "--json", stdin=b"", home=tmp_path, env=postgres_env
    )
    assert cli.returncode == 1
    assert json.loads(cli.stdout)["first_break"]["position"] == gap


def _roll_back_an_insert(env: dict[str, str], table: EventTable) -> int:
    """What a failed save leaves in PostgreSQL: a sequence value no row ever holds."""
    with psycopg.connect(
        dbname=env["POSTGRES_DBNAME"],
        host=env.get("POSTGRES_HOST", "127.0.0.1"),
        port=env.get("POSTGRES_PORT", "5432"),
        user=env.get("POSTGRES_USER", ""),
        password=env.get("POSTGRES_PASSWORD", ""),
    ) as connection:
        row = connection.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'notification_id'))",
            (table.name.split(".")[-1].strip('"'),),
        ).fetchone()
        connection.rollback()
    assert row is not None
    return int(row[0])


def test_two_followers_at_once_write_each_link_once(
    tmp_path: Path, postgres_env: dict[str, str]
) -> None:
    with engine(tmp_path, postgres_env, background=False) as opened:
        for i in range(6):
            with_user(opened, f"user{i}@example.org")
        recorder = opened.host.log.recorder
        database = PostgresDatabase(opened.settings.env)
        try:
            followers = [HashChain(recorder, database, batch=2) for _ in range(3)]
            threads = [threading.Thread(target=f.catch_up) for f in followers]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            found = verify(database, EventTable.of(recorder), None)
            assert found.intact, found.breaks
            assert found.head == recorder.max_notification_id()
        finally:
            database.close()


def test_the_follower_runs_where_the_projections_run(tmp_path: Path) -> None:
    with engine(tmp_path) as opened:  # the relay thread
        with_user(opened)
        opened.host.settle()
        runner = opened.runner
        assert isinstance(runner, ChainedRunner)
        assert runner.chain.position() == runner.log_position() > 0
    shutil.rmtree(tmp_path / "outbox", ignore_errors=True)
