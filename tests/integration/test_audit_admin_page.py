"""An account that becomes an admin within a page: its events before are not an admin's.

The audit trail keeps, for a page, whether each actor is an admin of an organisation,
and forgets it when an admin joins. Here one account acts, is admitted as an admin and
acts again, all in one page and in one event a transaction, on real SQLite files: both
give the same rows, the later events an admin's and the earlier ones not.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from application.context import Actor, acting
from domain.organisation import Organisation, Role
from domain.security import LoginContext, SecurityPolicy
from infrastructure.sql import SqliteDatabase
from projections.audit import AuditTrail
from tests.property.support import one_by_one_and_paged, registered, scratch_engine

START = datetime(2026, 3, 29, tzinfo=UTC)
CONTEXT = LoginContext(
    device="d1", network="192.0.2.0/24", place="", user_agent="Firefox"
)


def _admin_flags(database: SqliteDatabase) -> list[tuple[str, int]]:
    with database.transaction() as cursor:
        cursor.execute(
            "SELECT kind, admin FROM mh_audit_events"
            " WHERE kind = 'UserAccount.LoggedIn' ORDER BY position"
        )
        return [(str(r[0]), int(r[1])) for r in cursor.fetchall()]


def test_an_admin_joining_mid_page_changes_the_flag_from_then_on() -> None:
    with scratch_engine() as (engine, tmp):
        log = engine.host.log
        organisation = Organisation.found("Page", at=START)
        (account,) = registered(organisation.id, ["late@example.org"], at=START)
        log.save(organisation, account)
        with acting(Actor.account(account.id)):
            account.log_in(uuid4(), CONTEXT, at=START, policy=SecurityPolicy())
            log.save(account)
            organisation.admit(account.id, role=Role.ADMIN, at=START)
            log.save(organisation)
            later = START + timedelta(minutes=1)
            account.log_in(uuid4(), CONTEXT, at=later, policy=SecurityPolicy())
            log.save(account)
        notifications = log.recorder.select_notifications(start=1, limit=1_000)
        items = [(log.mapper.to_domain_event(n), n.id) for n in notifications]
        one, page = one_by_one_and_paged(AuditTrail, items, tmp)
        expected = [("UserAccount.LoggedIn", 0), ("UserAccount.LoggedIn", 1)]
        assert _admin_flags(one) == expected
        assert _admin_flags(page) == expected
        one.close()
        page.close()
