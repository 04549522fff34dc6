"""Ids derived from what must be unique, so a second "create" conflicts on save."""

from uuid import UUID, uuid5

NAMESPACE = UUID("6f1c9f3e-6b0c-5a43-9a51-2f6f1f0d7b11")


def organisation_id(name: str) -> UUID:
    return uuid5(NAMESPACE, f"organisation:{name.casefold()}")


def organisation_key(name_or_id: str | UUID) -> UUID:
    """An organisation's id from its id, or from its name as typed (blanks folded)."""
    if isinstance(name_or_id, UUID):
        return name_or_id
    return organisation_id(" ".join(name_or_id.split()))


def account_id(login: str) -> UUID:
    return uuid5(NAMESPACE, f"account:{login.casefold()}")
