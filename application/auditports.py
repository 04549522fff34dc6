"""What the auditor's use cases read besides the log: the audit read models' answers.

The log answers "every event of this aggregate" and "every event from position N" on
its own; questions across aggregates (a correlation, a user's timeline, counts, an
organisation's admin actions) need an index, which ``projections.audit`` keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal, Protocol
from uuid import UUID

from attrs import frozen

from domain.address import identity

CountedBy = Literal["actor", "day", "kind"]


def account_subject(account_id: UUID | str) -> str:
    """The index key of what touched an account (``projections.auditsubjects``)."""
    return f"account:{account_id}"


def address_subject(address: str) -> str:
    """The index key of what touched an address: its identity, as ids derive it."""
    return f"address:{identity(address)}"


@frozen
class AuditEntry:
    """One event as the audit index holds it: where, what, when, who and why."""

    position: int
    aggregate_id: UUID
    version: int
    kind: str
    at: datetime
    # ``kind:id`` as ``application.context.Actor`` prints it; "-" where none was recorded.
    actor: str
    correlation: str | None
    causation: int | None


@frozen
class JobEntry:
    """A job of the schedule, named by the event (its log position) that started it."""

    job_id: str
    kind: str
    position: int
    due_at: str
    done_at: str | None
    attempts: int
    last_error: str | None


@frozen
class Count:
    key: str
    events: int


@frozen
class TimelineQuery:
    """Events of these aggregates, by this actor or indexed under this subject."""

    aggregate_ids: tuple[UUID, ...]
    actor: str | None
    subject: str
    since: datetime | None = None
    until: datetime | None = None


class AuditQueries(Protocol):
    def entries(self, positions: Sequence[int]) -> list[AuditEntry]:
        """The index rows of these log positions (those it holds), in log order."""
        ...

    def of_aggregates(self, aggregate_ids: Sequence[UUID]) -> list[AuditEntry]: ...

    def correlated(self, correlation: UUID) -> list[AuditEntry]: ...

    def timeline(self, query: TimelineQuery) -> list[AuditEntry]: ...

    def linked(self, subject: str, first_kind: str) -> list[UUID]:
        """Aggregates linked to ``subject`` whose first event is of ``first_kind``."""
        ...

    def jobs(self, positions: Sequence[int]) -> list[JobEntry]:
        """The jobs the events at these positions started."""
        ...

    def counts(self, by: CountedBy) -> list[Count]: ...

    def admin_actions(self, organisation_id: UUID, limit: int) -> list[AuditEntry]:
        """The newest events an admin or the operator caused on the organisation's
        aggregates, newest first."""
        ...
