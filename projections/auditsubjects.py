"""Which events touched a user or an address, across aggregates (``audit timeline``).

A user's own aggregates (the account and its two-step record) and an address's own
(its responder, its import lane) have ids derived from the login or the address, so a
query finds them without this index. What it adds is the events of other aggregates
that concern them:

- a mailbox: every event while the user is one of its users (assigned at creation or
  later, until unassigned: the permissions they hold there), and every event under the
  mailbox's address;
- an import job: under its destination address and the account that requested it;
- reply windows, reply budgets and auto-replies: under the address they answer for;
- an invitation: under its address, and under the account that accepted it from then on;
- an organisation's ``MemberJoined``: under the account that joined.

``mh_audit_links`` says which subjects an aggregate's events go under from now on;
``mh_audit_subjects`` lists, per subject, the log positions of the events.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from application.auditports import account_subject, address_subject
from domain.autoreply import AutoReply
from domain.importjob import ImportJob
from domain.invitation import Invitation
from domain.mailbox import Mailbox
from domain.organisation import Organisation
from domain.replywindow import ReplyBudget, ReplyWindow
from projections.storage import Cursor


def events_of(*aggregates: type[Aggregate]) -> tuple[type, ...]:
    """Every event class of the aggregates (its base ``Event`` among them: its topic
    never occurs, so listing it costs nothing and no declared event is missed)."""
    return tuple(
        value
        for aggregate in aggregates
        for value in vars(aggregate).values()
        if isinstance(value, type)
        and issubclass(value, Aggregate.Event)
        and value.__qualname__.startswith(f"{aggregate.__qualname__}.")
    )


EVENTS = (
    *events_of(Mailbox, ImportJob, ReplyWindow, ReplyBudget, AutoReply, Invitation),
    Organisation.MemberJoined,
)


class AuditSubjects:
    name = "audit_subjects"
    tables: tuple[str, ...] = ("mh_audit_subjects", "mh_audit_links")
    topics: tuple[str, ...] = tuple(get_topic(cls) for cls in EVENTS)
    schema: tuple[str, ...] = (
        (
            "CREATE TABLE IF NOT EXISTS mh_audit_subjects (subject TEXT NOT NULL,"
            " position BIGINT NOT NULL, PRIMARY KEY (subject, position))"
        ),
        (
            "CREATE TABLE IF NOT EXISTS mh_audit_links (aggregate_id TEXT NOT NULL,"
            " subject TEXT NOT NULL, PRIMARY KEY (aggregate_id, subject))"
        ),
        "CREATE INDEX IF NOT EXISTS mh_audit_links_subject ON mh_audit_links (subject)",
    )

    def process(self, event: Any, position: int, cursor: Cursor) -> None:  # noqa: ANN401 - any event class
        aggregate = str(event.originator_id)
        linked, only_this, unlinked = _subjects(event)
        if isinstance(event, Organisation.MemberJoined):
            current: set[str] = set()
        else:
            cursor.execute(
                "SELECT subject FROM mh_audit_links WHERE aggregate_id = ?",
                (aggregate,),
            )
            current = {str(row[0]) for row in cursor.fetchall()}
        for subject in sorted(set(linked) - current):
            cursor.execute(
                "INSERT INTO mh_audit_links (aggregate_id, subject) VALUES (?, ?)",
                (aggregate, subject),
            )
        for subject in sorted(current | set(linked) | set(only_this)):
            cursor.execute(
                "INSERT INTO mh_audit_subjects (subject, position) VALUES (?, ?)"
                " ON CONFLICT (subject, position) DO NOTHING",
                (subject, position),
            )
        for subject in unlinked:
            cursor.execute(
                "DELETE FROM mh_audit_links WHERE aggregate_id = ? AND subject = ?",
                (aggregate, subject),
            )


Subjects = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]


def _subjects(event: object) -> Subjects:  # noqa: PLR0911 - a case per event
    """What the event links its aggregate to, names for itself only, and unlinks."""
    match event:
        case Mailbox.Created(address=address, users=users, creator_id=creator):
            creators = () if creator is None else (account_subject(creator),)
            linked = (address_subject(address), *map(account_subject, users))
            return linked, creators, ()
        case Mailbox.UserAssigned(user_id=user):
            return (account_subject(user),), (), ()
        case Mailbox.UserUnassigned(user_id=user):
            return (), (), (account_subject(user),)
        case ImportJob.Requested(destination=destination, requested_by=requested_by):
            by = () if requested_by is None else (account_subject(requested_by),)
            return (address_subject(destination), *by), (), ()
        case ReplyWindow.Opened(address=address) | ReplyBudget.Opened(address=address):
            return (address_subject(address),), (), ()
        case AutoReply.Decided(plan=plan):
            return (address_subject(plan.address),), (), ()
        case Invitation.Sent(address=address):
            return (address_subject(address),), (), ()
        case Invitation.Accepted(account_id=account):
            return (account_subject(account),), (), ()
        case Organisation.MemberJoined(account_id=account):
            return (), (account_subject(account),), ()
    return (), (), ()
