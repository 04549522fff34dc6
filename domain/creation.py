"""How an address was created (ADR-3..ADR-6), and so who it starts linked to."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from uuid import UUID

from domain.errors import InvalidInput


class CreationMode(StrEnum):
    FOR_SELF = "self"
    FOR_OTHERS = "others"
    INVITATION = "invitation"
    UNASSIGNED = "unassigned"


def first_users(
    mode: CreationMode, creator_id: UUID | None, users: Iterable[UUID]
) -> tuple[UUID, ...]:
    """Who sees a new address in their mail app, linked at once.

    For yourself the creator is; for others every chosen user is; unassigned and
    invited addresses start with nobody (an invitation links its user when accepted).
    """
    assigned = tuple(dict.fromkeys(users))
    if mode is CreationMode.FOR_SELF:
        if creator_id is None:
            raise InvalidInput("an address for yourself needs the creating user")
        assigned = tuple(dict.fromkeys((creator_id, *assigned)))
    if mode is CreationMode.FOR_OTHERS and not assigned:
        raise InvalidInput("an address for other users needs at least one user")
    if mode in {CreationMode.UNASSIGNED, CreationMode.INVITATION} and assigned:
        raise InvalidInput(f"an address created as {mode.value} has no users yet")
    return assigned
