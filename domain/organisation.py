"""Organisations (ORG-1): users, mail services and addresses are managed inside one.

ORG-2 / MFA-7: an organisation may enforce two-step verification on its users; the
application then gives a user without it a session that can only enrol.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain import ids
from domain.errors import AlreadyExists, InvalidInput
from domain.text import required_line
from domain.time import utc

MAX_NAME_LENGTH = ids.MAX_ORGANISATION_NAME


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


class Organisation(Aggregate):
    name: str
    members: dict[UUID, Role]
    # A class default: an organisation founded before ORG-2 replays without it.
    two_step_enforced: bool = False

    class Founded(Aggregate.Created):
        name: str

    def __init__(self, name: str) -> None:
        self.name = name
        self.members: dict[UUID, Role] = {}
        self.two_step_enforced = False

    @classmethod
    def found(cls, name: str, *, at: datetime) -> Organisation:
        # Refused, not folded: a name typed with a line break (a header injection) or a
        # control character is the user's mistake to hear about, by the shared rule.
        clean = required_line(
            name, field="organisation name", max_length=MAX_NAME_LENGTH
        )
        return cls._create(
            cls.Founded, id=ids.organisation_id(clean), timestamp=utc(at), name=clean
        )

    class MemberJoined(Aggregate.Event):
        account_id: UUID
        role: Role

        def apply(self, aggregate: Organisation) -> None:
            aggregate.members[self.account_id] = self.role

    def admit(self, account_id: UUID, *, role: Role, at: datetime) -> None:
        if account_id in self.members:
            raise AlreadyExists(
                f"account {account_id} is already a member of {self.name}"
            )
        self.trigger_event(
            self.MemberJoined, timestamp=utc(at), account_id=account_id, role=role
        )

    def is_admin(self, account_id: UUID) -> bool:
        return self.members.get(account_id) is Role.ADMIN

    @property
    def enforces_two_step(self) -> bool:
        return self.two_step_enforced

    class TwoStepEnforced(Aggregate.Event):
        by: UUID | None

        def apply(self, aggregate: Organisation) -> None:
            aggregate.two_step_enforced = True

    def enforce_two_step(self, by: UUID | None, *, at: datetime) -> None:
        """ORG-2: every user without two-step verification must enrol (MFA-7).

        ``by`` is the admin (None: the operator); who may is the application's check.
        """
        if self.two_step_enforced:
            raise InvalidInput(f"{self.name} enforces two-step verification already")
        self.trigger_event(self.TwoStepEnforced, timestamp=utc(at), by=by)

    class TwoStepRelaxed(Aggregate.Event):
        by: UUID | None

        def apply(self, aggregate: Organisation) -> None:
            aggregate.two_step_enforced = False

    def relax_two_step(self, by: UUID | None, *, at: datetime) -> None:
        if not self.two_step_enforced:
            raise InvalidInput(f"{self.name} does not enforce two-step verification")
        self.trigger_event(self.TwoStepRelaxed, timestamp=utc(at), by=by)
