"""Auto-responder read models: status per address, and the per-sender reply history.

They store and return data (a message's :class:`Schedule`, not a sentence about it); how
a schedule reads on a terminal is the CLI's (:mod:`infrastructure.cli.responderview`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from eventsourcing.utils import get_topic

from application.ports import MessageStatus, ReplyHistoryEntry, ResponderStatus
from domain.autoreply import AutoReply
from domain.replyplan import ReplyPlan
from domain.responder import AutoResponder
from domain.respondermessage import ResponderMessage
from domain.schedule import Schedule, next_change, parse_time_zone
from projections.storage import Cursor, Database, row_with_children

EVENTS = (
    AutoResponder.Provisioned,
    AutoResponder.TimeZoneChanged,
    AutoResponder.MessageSaved,
    AutoResponder.MessageEdited,
    AutoResponder.MessageDeleted,
    AutoResponder.MessageActivated,
    AutoResponder.MessageDeactivated,
    AutoResponder.MemoryReset,
    AutoResponder.Retired,
    AutoReply.Decided,
    AutoReply.Sent,
)


class ResponderViews:
    name = "responders"
    tables: tuple[str, ...] = ("mh_responders", "mh_responder_messages", "mh_replies")
    topics: tuple[str, ...] = tuple(get_topic(cls) for cls in EVENTS)
    schema: tuple[str, ...] = (
        (
            "CREATE TABLE IF NOT EXISTS mh_responders (responder_id TEXT PRIMARY KEY,"
            " address TEXT NOT NULL UNIQUE, time_zone TEXT NOT NULL, active TEXT)"
        ),
        (
            "CREATE TABLE IF NOT EXISTS mh_responder_messages (responder_id TEXT NOT NULL,"
            " name_key TEXT NOT NULL, message TEXT NOT NULL,"
            " PRIMARY KEY (responder_id, name_key))"
        ),
        (
            "CREATE TABLE IF NOT EXISTS mh_replies (reply_id TEXT PRIMARY KEY,"
            " address TEXT NOT NULL, sender TEXT NOT NULL, message TEXT NOT NULL,"
            " at TEXT NOT NULL, message_id TEXT NOT NULL, sent_at TEXT,"
            " position BIGINT NOT NULL)"
        ),
        "CREATE INDEX IF NOT EXISTS mh_replies_by_address ON mh_replies (address, position)",
    )

    def process(self, event: object, position: int, cursor: Cursor) -> None:  # noqa: C901 - a case per event
        match event:
            case AutoResponder.Provisioned(
                originator_id=rid, address=address, time_zone=tz
            ):
                cursor.execute(
                    "INSERT INTO mh_responders (responder_id, address, time_zone)"
                    " VALUES (?, ?, ?)",
                    (str(rid), address.casefold(), tz),
                )
            case AutoResponder.TimeZoneChanged(originator_id=rid, time_zone=tz):
                cursor.execute(
                    "UPDATE mh_responders SET time_zone = ? WHERE responder_id = ?",
                    (tz, str(rid)),
                )
            case AutoResponder.MessageSaved(originator_id=rid, message=m) | (
                AutoResponder.MessageEdited(originator_id=rid, message=m)
            ):
                cursor.execute(
                    "INSERT INTO mh_responder_messages (responder_id, name_key, message)"
                    " VALUES (?, ?, ?) ON CONFLICT (responder_id, name_key)"
                    " DO UPDATE SET message = excluded.message",
                    (str(rid), m.key, json.dumps(_message(m))),
                )
            case AutoResponder.MessageDeleted(originator_id=rid, name_key=key):
                cursor.execute(
                    "DELETE FROM mh_responder_messages WHERE responder_id = ? AND name_key = ?",
                    (str(rid), key),
                )
                cursor.execute(
                    "UPDATE mh_responders SET active = NULL"
                    " WHERE responder_id = ? AND active = ?",
                    (str(rid), key),
                )
            case AutoResponder.MessageActivated(originator_id=rid, name_key=key):
                cursor.execute(
                    "UPDATE mh_responders SET active = ? WHERE responder_id = ?",
                    (key, str(rid)),
                )
            case AutoResponder.MessageDeactivated(originator_id=rid):
                cursor.execute(
                    "UPDATE mh_responders SET active = NULL WHERE responder_id = ?",
                    (str(rid),),
                )
            case AutoResponder.MemoryReset(
                originator_id=rid, name_key=key, generation=g
            ):
                _reset(cursor, str(rid), key, g)
            case AutoResponder.Retired(originator_id=rid):
                _retired(cursor, str(rid))
            case AutoReply.Decided(originator_id=reply_id, plan=plan):
                _decided(cursor, str(reply_id), plan, position)
            case AutoReply.Sent(originator_id=reply_id, timestamp=at):
                cursor.execute(
                    "UPDATE mh_replies SET sent_at = ? WHERE reply_id = ?",
                    (at.isoformat(), str(reply_id)),
                )


def _reset(cursor: Cursor, rid: str, key: str, generation: int) -> None:
    """A memory reset changes the stored generation of one message (RSP-5)."""
    cursor.execute(
        "SELECT message FROM mh_responder_messages"
        " WHERE responder_id = ? AND name_key = ?",
        (rid, key),
    )
    row = cursor.fetchone()
    if row is not None:
        data = json.loads(row[0]) | {"generation": generation}
        cursor.execute(
            "UPDATE mh_responder_messages SET message = ?"
            " WHERE responder_id = ? AND name_key = ?",
            (json.dumps(data), rid, key),
        )


def _retired(cursor: Cursor, rid: str) -> None:
    """A deleted address keeps no messages and no history (ADR-11)."""
    cursor.execute(
        "DELETE FROM mh_responder_messages WHERE responder_id = ?",
        (rid,),
    )
    cursor.execute(
        "UPDATE mh_responders SET active = NULL WHERE responder_id = ?",
        (rid,),
    )
    cursor.execute(
        "DELETE FROM mh_replies WHERE address ="
        " (SELECT address FROM mh_responders WHERE responder_id = ?)",
        (rid,),
    )


def _decided(cursor: Cursor, reply_id: str, plan: ReplyPlan, position: int) -> None:
    cursor.execute(
        "INSERT INTO mh_replies (reply_id, address, sender, message, at,"
        " message_id, position) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            reply_id,
            plan.address.casefold(),
            plan.to,
            plan.message_name,
            # When the reply was decided (the engine's clock, which starts
            # its window, RSP-4), not the MTA's received_at; a plan
            # recorded before decided_at existed gives its received_at.
            plan.window_start.isoformat(),
            plan.message_id,
            position,
        ),
    )


def _message(m: ResponderMessage) -> dict[str, object]:
    s = m.schedule
    return {
        "name": m.name,
        "subject": m.subject,
        "generation": m.generation,
        "weekdays": [d.value for d in s.weekdays],
        "start": None if s.start is None else s.start.isoformat(),
        "end": None if s.end is None else s.end.isoformat(),
        "end_is_date": s.end_is_date,
    }


def _schedule(data: dict[str, object]) -> Schedule:
    start, end = data["start"], data["end"]
    return Schedule(
        weekdays=tuple(str(d) for d in data["weekdays"]),  # type: ignore[attr-defined]
        start=None if start is None else datetime.fromisoformat(str(start)),
        end=None if end is None else datetime.fromisoformat(str(end)),
        end_is_date=bool(data["end_is_date"]),
    )


class SqlResponderQueries:
    def __init__(self, database: Database) -> None:
        self.database = database

    def status(self, address: str, now: datetime) -> ResponderStatus | None:
        with self.database.transaction() as cursor:
            found = row_with_children(
                cursor,
                "SELECT responder_id, address, time_zone, active FROM mh_responders"
                " WHERE address = ?",
                address.casefold(),
                "SELECT name_key, message FROM mh_responder_messages WHERE responder_id = ?"
                " ORDER BY name_key",
            )
        if found is None:
            return None
        row, messages = found
        zone = parse_time_zone(row[2])
        shown, change, active_name = [], None, None
        for key, raw in messages:
            data = json.loads(raw)
            schedule = _schedule(data)
            active = key == row[3]
            if active:
                active_name = str(data["name"])
                change = next_change(schedule, zone, now)
            shown.append(
                MessageStatus(
                    str(data["name"]),
                    data["subject"],
                    active,
                    schedule,
                    int(data["generation"]),
                )
            )
        return ResponderStatus(row[1], row[2], active_name, change, tuple(shown))

    def history(self, address: str, limit: int = 100) -> list[ReplyHistoryEntry]:
        with self.database.transaction() as cursor:
            cursor.execute(
                "SELECT sender, message, at, message_id, sent_at FROM mh_replies"
                " WHERE address = ? ORDER BY position DESC LIMIT ?",
                (address.casefold(), limit),
            )
            rows = cursor.fetchall()
        return [
            ReplyHistoryEntry(
                sender=r[0],
                message=r[1],
                at=datetime.fromisoformat(r[2]).astimezone(UTC),
                message_id=r[3],
                sent=r[4] is not None,
            )
            for r in rows
        ]
