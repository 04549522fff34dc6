"""Organisations (ORG-1): users, mail services and addresses are managed inside one."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain import ids
from domain.errors import AlreadyExists, InvalidInput
from domain.text import clean_line
from domain.time import utc

MAX_NAME_LENGTH = ids.MAX_ORGANISATION_NAME


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


class Organisation(Aggregate):
    name: str
    members: dict[UUID, Role]

    class Founded(Aggregate.Created):
        name: str

    def __init__(self, name: str) -> None:
        self.name = name
        self.members: dict[UUID, Role] = {}

    @classmethod
    def found(cls, name: str, *, at: datetime) -> Organisation:
        # Refused, not folded: a name typed with a line break (a header injection) or a
        # control character is the user's mistake to hear about, by the shared rule.
        clean = clean_line(name, field="organisation name", max_length=MAX_NAME_LENGTH)
        if not clean:
            raise InvalidInput("organisation name is empty")
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
