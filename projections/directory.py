"""The address directory of each mail service, and each user's mail-app list."""

from __future__ import annotations

import json
from uuid import UUID

from eventsourcing.utils import get_topic

from application.ports import Directory, DirectoryEntry
from domain.account import UserAccount
from domain.hosted import TAKES_SLOT, AddressKind
from domain.mailbox import Mailbox
from domain.mailservice import MailService
from projections.storage import Cursor, Database, row_with_children

EVENTS = (
    UserAccount.Registered,
    MailService.Created,
    MailService.QuotaIncreased,
    MailService.AddressesClaimed,
    MailService.AddressesReleased,
    MailService.CatchAllChanged,
    Mailbox.Created,
    Mailbox.UserAssigned,
    Mailbox.UserUnassigned,
    Mailbox.PermissionChanged,
    Mailbox.Deleted,
)


class AddressDirectory:
    name = "address_directory"
    tables: tuple[str, ...] = ("mh_logins", "mh_services", "mh_addresses", "mh_links")
    topics: tuple[str, ...] = tuple(get_topic(cls) for cls in EVENTS)
    schema: tuple[str, ...] = (
        "CREATE TABLE IF NOT EXISTS mh_logins (account_id TEXT PRIMARY KEY, login TEXT NOT NULL)",
        (
            "CREATE TABLE IF NOT EXISTS mh_services (service_id TEXT PRIMARY KEY,"
            " domain TEXT NOT NULL UNIQUE, display_domain TEXT NOT NULL, quota BIGINT NOT NULL,"
            " catch_all TEXT)"
        ),
        (
            "CREATE TABLE IF NOT EXISTS mh_addresses (address_key TEXT PRIMARY KEY,"
            " service_id TEXT NOT NULL, address TEXT NOT NULL, kind TEXT NOT NULL,"
            " mailbox_id TEXT NOT NULL, users TEXT NOT NULL, linked TEXT NOT NULL,"
            " permissions TEXT NOT NULL)"
        ),
        "CREATE INDEX IF NOT EXISTS mh_addresses_by_mailbox ON mh_addresses (mailbox_id)",
        (
            "CREATE TABLE IF NOT EXISTS mh_links (account_id TEXT NOT NULL,"
            " mailbox_id TEXT NOT NULL, address TEXT NOT NULL,"
            " PRIMARY KEY (account_id, mailbox_id))"
        ),
    )

    def process(self, event: object, position: int, cursor: Cursor) -> None:  # noqa: ARG002, C901 - a case per event
        match event:
            case UserAccount.Registered(originator_id=account_id, login=login):
                cursor.execute(
                    "INSERT INTO mh_logins (account_id, login) VALUES (?, ?)",
                    (str(account_id), login),
                )
            case MailService.Created() as e:
                cursor.execute(
                    "INSERT INTO mh_services (service_id, domain, display_domain, quota)"
                    " VALUES (?, ?, ?, ?)",
                    (str(e.originator_id), e.domain, e.display_domain, e.quota),
                )
            case MailService.QuotaIncreased(originator_id=sid, added=added):
                cursor.execute(
                    "UPDATE mh_services SET quota = quota + ? WHERE service_id = ?",
                    (added, str(sid)),
                )
            case MailService.CatchAllChanged(originator_id=sid, mailbox_id=mailbox_id):
                cursor.execute(
                    "UPDATE mh_services SET catch_all = ? WHERE service_id = ?",
                    (None if mailbox_id is None else str(mailbox_id), str(sid)),
                )
            case MailService.AddressesClaimed(originator_id=sid, entries=entries):
                domain = self._domain(cursor, sid)
                for entry in entries:
                    address = f"{entry.local_part}@{domain}"
                    cursor.execute(
                        "INSERT INTO mh_addresses (address_key, service_id, address, kind,"
                        " mailbox_id, users, linked, permissions)"
                        " VALUES (?, ?, ?, ?, ?, '[]', '[]', '{}')",
                        (
                            address.casefold(),
                            str(sid),
                            address,
                            entry.kind.value,
                            str(entry.mailbox_id),
                        ),
                    )
            case MailService.AddressesReleased(originator_id=sid, keys=keys):
                domain = self._domain(cursor, sid)
                for key in keys:
                    cursor.execute(
                        "DELETE FROM mh_addresses WHERE address_key = ?",
                        (f"{key}@{domain}".casefold(),),
                    )
            case Mailbox.Deleted(originator_id=mailbox_id):
                cursor.execute(
                    "DELETE FROM mh_links WHERE mailbox_id = ?", (str(mailbox_id),)
                )
            case (
                Mailbox.Created()
                | Mailbox.UserAssigned()
                | Mailbox.UserUnassigned()
                | (Mailbox.PermissionChanged())
            ):
                self._people(event, cursor)

    @staticmethod
    def _domain(cursor: Cursor, service_id: UUID) -> str:
        cursor.execute(
            "SELECT domain FROM mh_services WHERE service_id = ?", (str(service_id),)
        )
        row = cursor.fetchone()
        if row is None:
            msg = f"mail service {service_id} is not in the directory"
            raise LookupError(msg)
        return str(row[0])

    @staticmethod
    def _people(event: object, cursor: Cursor) -> None:
        """Keep the users, links and permission overrides of a mailbox's own row."""
        assert isinstance(event, Mailbox.Event)  # noqa: S101 - narrowed by the caller
        mid = str(event.originator_id)
        cursor.execute(
            "SELECT address, users, linked, permissions FROM mh_addresses"
            " WHERE mailbox_id = ? AND kind <> ?",
            (mid, AddressKind.ALIAS.value),
        )
        row = cursor.fetchone()
        if row is None:
            return
        address = str(row[0])
        users: list[str] = json.loads(row[1])
        linked: list[str] = json.loads(row[2])
        permissions: dict[str, dict[str, bool]] = json.loads(row[3])
        match event:
            case Mailbox.Created(users=u, linked=ln):
                users, linked = [str(x) for x in u], [str(x) for x in ln]
            case Mailbox.UserAssigned(user_id=uid, link=link):
                users = sorted({*users, str(uid)})
                if link:
                    linked = sorted({*linked, str(uid)})
            case Mailbox.UserUnassigned(user_id=uid):
                users = [x for x in users if x != str(uid)]
                linked = [x for x in linked if x != str(uid)]
                permissions.pop(str(uid), None)
            case Mailbox.PermissionChanged(user_id=uid, permission=p, allowed=allowed):
                own = permissions.setdefault(str(uid), {})
                if allowed is None:
                    own.pop(p.value, None)
                else:
                    own[p.value] = allowed
        cursor.execute(
            "UPDATE mh_addresses SET users = ?, linked = ?, permissions = ?"
            " WHERE mailbox_id = ? AND kind <> ?",
            (
                json.dumps(users),
                json.dumps(linked),
                json.dumps(permissions, sort_keys=True),
                mid,
                AddressKind.ALIAS.value,
            ),
        )
        cursor.execute("DELETE FROM mh_links WHERE mailbox_id = ?", (mid,))
        for account_id in linked:
            cursor.execute(
                "INSERT INTO mh_links (account_id, mailbox_id, address) VALUES (?, ?, ?)",
                (account_id, mid, address),
            )


class SqlDirectoryQueries:
    def __init__(self, database: Database) -> None:
        self.database = database

    def directory(self, domain: str) -> Directory | None:
        with self.database.transaction() as cursor:
            found = row_with_children(
                cursor,
                "SELECT service_id, domain, display_domain, quota, catch_all FROM mh_services"
                " WHERE domain = ?",
                domain.lower(),
                "SELECT address, kind, users, linked, permissions, mailbox_id"
                " FROM mh_addresses WHERE service_id = ? ORDER BY address_key",
            )
            if found is None:
                return None
            service, rows = found
            people = sorted({u for r in rows for u in json.loads(r[2])})
            logins: dict[str, str] = {}
            for start in range(0, len(people), 500):  # bounded IN lists
                chunk = people[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                cursor.execute(
                    f"SELECT account_id, login FROM mh_logins WHERE account_id IN ({marks})",  # noqa: S608 - placeholders only
                    chunk,
                )
                logins |= {str(a): str(b) for a, b in cursor.fetchall()}
        entries = tuple(
            DirectoryEntry(
                address=r[0],
                kind=r[1],
                users=tuple(logins.get(u, u) for u in json.loads(r[2])),
                linked=tuple(logins.get(u, u) for u in json.loads(r[3])),
                permissions={logins.get(u, u): p for u, p in json.loads(r[4]).items()},
                catch_all=r[5] == service[4] and r[1] != AddressKind.ALIAS.value,
            )
            for r in rows
        )
        used = sum(AddressKind(e.kind) in TAKES_SLOT for e in entries)
        return Directory(service[1], service[2], int(service[3]), used, entries)

    def mail_app(self, account_id: UUID) -> list[str]:
        with self.database.transaction() as cursor:
            cursor.execute(
                "SELECT address FROM mh_links WHERE account_id = ? ORDER BY address",
                (str(account_id),),
            )
            return [str(r[0]) for r in cursor.fetchall()]
