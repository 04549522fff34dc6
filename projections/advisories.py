"""The advisories read model (ADV-1..ADV-4): the facts they need, kept per mailbox."""

from __future__ import annotations

import json
from uuid import UUID

from eventsourcing.utils import get_topic

from domain.advice import Advice, MailboxFacts, ServiceFacts, advise
from domain.hosted import AddressKind
from domain.mailbox import Mailbox
from domain.mailservice import MailService
from projections.storage import Cursor, Database, row_with_children

EVENTS = (
    MailService.Created,
    MailService.CatchAllChanged,
    MailService.DmarcRecorded,
    Mailbox.Created,
    Mailbox.AliasAdded,
    Mailbox.AliasesRemoved,
    Mailbox.AllowListChanged,
    Mailbox.ClientAccessRecorded,
    Mailbox.UsageRecorded,
    Mailbox.Deleted,
)


class Advisories:
    name = "advisories"
    tables: tuple[str, ...] = ("mh_advice_services", "mh_advice_mailboxes")
    topics: tuple[str, ...] = tuple(get_topic(cls) for cls in EVENTS)
    schema: tuple[str, ...] = (
        (
            "CREATE TABLE IF NOT EXISTS mh_advice_services (service_id TEXT PRIMARY KEY,"
            " domain TEXT NOT NULL UNIQUE, catch_all TEXT, dmarc TEXT)"
        ),
        (
            "CREATE TABLE IF NOT EXISTS mh_advice_mailboxes (mailbox_id TEXT PRIMARY KEY,"
            " service_id TEXT NOT NULL, facts TEXT NOT NULL)"
        ),
    )

    def process(self, event: object, position: int, cursor: Cursor) -> None:  # noqa: ARG002 - the Projection protocol
        match event:
            case MailService.Created(originator_id=sid, domain=domain):
                cursor.execute(
                    "INSERT INTO mh_advice_services (service_id, domain) VALUES (?, ?)",
                    (str(sid), domain),
                )
            case MailService.CatchAllChanged(originator_id=sid, mailbox_id=mid):
                cursor.execute(
                    "UPDATE mh_advice_services SET catch_all = ? WHERE service_id = ?",
                    (None if mid is None else str(mid), str(sid)),
                )
            case MailService.DmarcRecorded(originator_id=sid, policy=policy):
                cursor.execute(
                    "UPDATE mh_advice_services SET dmarc = ? WHERE service_id = ?",
                    (policy, str(sid)),
                )
            case Mailbox.Created(kind=kind) if kind is AddressKind.REDIRECT:
                return
            case Mailbox.Created(originator_id=mid, service_id=sid, address=address):
                facts = {
                    "address": address,
                    "aliases": [],
                    "allow_list": [],
                    "pop3": False,
                    "imap": False,
                    "usage": None,
                }
                cursor.execute(
                    "INSERT INTO mh_advice_mailboxes (mailbox_id, service_id, facts)"
                    " VALUES (?, ?, ?)",
                    (str(mid), str(sid), json.dumps(facts)),
                )
            case Mailbox.Deleted(originator_id=mid):
                cursor.execute(
                    "DELETE FROM mh_advice_mailboxes WHERE mailbox_id = ?", (str(mid),)
                )
            case Mailbox.Event(originator_id=mid):
                self._fact(event, mid, cursor)

    @staticmethod
    def _fact(event: object, mailbox_id: UUID, cursor: Cursor) -> None:
        cursor.execute(
            "SELECT facts FROM mh_advice_mailboxes WHERE mailbox_id = ?",
            (str(mailbox_id),),
        )
        row = cursor.fetchone()
        if row is None:
            return
        facts = json.loads(row[0])
        match event:
            case Mailbox.AliasAdded(alias=alias):
                facts["aliases"].append(alias)
            case Mailbox.AliasesRemoved(aliases=gone):
                drop = {a.casefold() for a in gone}
                facts["aliases"] = [
                    a for a in facts["aliases"] if a.casefold() not in drop
                ]
            case Mailbox.AllowListChanged(entries=entries):
                facts["allow_list"] = list(entries)
            case Mailbox.ClientAccessRecorded(protocol=protocol, keeps_copy=keeps):
                facts[protocol] = keeps if protocol == "pop3" else True
            case Mailbox.UsageRecorded(used_mb=used, limit_mb=limit):
                facts["usage"] = [used, limit]
        cursor.execute(
            "UPDATE mh_advice_mailboxes SET facts = ? WHERE mailbox_id = ?",
            (json.dumps(facts), str(mailbox_id)),
        )


class SqlAdvisoryQueries:
    def __init__(self, database: Database) -> None:
        self.database = database

    def advice(self, domain: str) -> list[Advice] | None:
        """None when the domain has no mail service (yet) in the read model."""
        with self.database.transaction() as cursor:
            found = row_with_children(
                cursor,
                "SELECT service_id, domain, catch_all, dmarc FROM mh_advice_services"
                " WHERE domain = ?",
                domain.lower(),
                "SELECT mailbox_id, facts FROM mh_advice_mailboxes WHERE service_id = ?"
                " ORDER BY mailbox_id",
            )
        if found is None:
            return None
        service, rows = found
        facts = ServiceFacts(
            str(service[1]),
            None if service[2] is None else UUID(service[2]),
            service[3],
        )
        mailboxes = []
        for mailbox_id, raw in rows:
            data = json.loads(raw)
            mailboxes.append(
                MailboxFacts(
                    mailbox_id=UUID(mailbox_id),
                    address=data["address"],
                    aliases=tuple(data["aliases"]),
                    allow_list=tuple(data["allow_list"]),
                    pop3_keeps_copy=bool(data["pop3"]),
                    imap=bool(data["imap"]),
                    usage=None if data["usage"] is None else tuple(data["usage"]),
                )
            )
        return sorted(advise(facts, mailboxes), key=lambda a: (a.rule, a.address))
