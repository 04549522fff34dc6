"""A projection of envelopes writes the same rows however the events were decoded.

The rebuild and the live runner decode lazily: the audit trail gets envelopes read by
the mapper without structuring a field (``projections.envelope``). These check that
such an envelope equals the one made from the fully decoded event, for every event of
the demo's log, and that the trail's rows are the same both ways (issue 11: a rebuilt
read model equals the live one).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from infrastructure.bootstrap import open_engine
from infrastructure.mapper import _utc_text
from infrastructure.sql import SqliteDatabase
from projections.audit import AuditTrail
from projections.envelope import Envelope, FullDecoding, LazyDecoding, decoding_for
from projections.runner import ProjectionRunner
from tests.integration.clisupport import mailhost
from tests.integration.stack import PG_REDIS


def _fields(envelope: Envelope) -> tuple[Any, ...]:
    return tuple(
        getattr(envelope, name) for name in Envelope.__slots__ if name != "event"
    )


# On the pg-redis stack each test has its own database, which a module's demo would
# precede: there the demo runs for each test, into that test's database.
@pytest.fixture(scope="function" if PG_REDIS else "module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("envelopes") / "home"
    assert mailhost("demo", "--home", str(home)).returncode == 0
    return home


def test_an_envelope_read_lazily_equals_the_decoded_events(demo_home: Path) -> None:
    engine = open_engine(demo_home, background=False)
    try:
        log = engine.host.log
        decoding = decoding_for(log)
        assert isinstance(decoding, LazyDecoding)
        notifications = log.recorder.select_notifications(start=1, limit=100_000)
        assert len({n.topic for n in notifications}) > 10
        for notification in notifications:
            event = log.mapper.to_domain_event(notification)
            expected = _fields(Envelope.of(event))
            assert _fields(decoding.envelope(notification)) == expected
            decoded, envelope = decoding.both(notification)
            assert _fields(envelope) == expected
            assert envelope.event is decoded
    finally:
        engine.close()


def test_the_trail_caught_up_lazily_equals_the_trail_of_decoded_events(
    demo_home: Path, tmp_path: Path
) -> None:
    engine = open_engine(demo_home, background=False)
    try:
        log = engine.host.log
        rows = []
        for label, decoding in (
            ("lazy", decoding_for(log)),
            ("full", FullDecoding(log)),
        ):
            database = SqliteDatabase(tmp_path / f"{label}.sqlite")
            runner = ProjectionRunner(log, database, [AuditTrail()], decoding)
            assert runner.catch_up() > 0
            with database.transaction() as cursor:
                tables = []
                for table in AuditTrail.tables:
                    cursor.execute(f"SELECT * FROM {table} ORDER BY 1, 2")  # noqa: S608 - our names
                    tables.append(cursor.fetchall())
            rows.append(tables)
            database.close()
        assert rows[0] == rows[1]
        assert rows[0][0]
    finally:
        engine.close()


@pytest.mark.parametrize(
    "at",
    [
        datetime(2024, 6, 1, 8, 0, 9, tzinfo=UTC),
        datetime(2024, 6, 1, 8, 0, 9, 120, tzinfo=UTC),
        datetime(2024, 6, 1, 8, 0, 9, 999_999, tzinfo=timezone(timedelta(hours=2))),
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_a_stored_time_reads_as_the_decoded_time_prints(at: datetime) -> None:
    expected = at.astimezone(UTC).isoformat(timespec="microseconds")
    assert _utc_text(at.isoformat()) == expected
