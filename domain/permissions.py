"""Per-address permissions (ORG-3): service defaults, overridden per user and address."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    CHANGE_PASSWORD = "change_password"  # noqa: S105 - a permission's name, not a secret
    MANAGE_RESPONDER = "manage_responder"
    MANAGE_SIGNATURE = "manage_signature"
    MANAGE_FILTERS = "manage_filters"
    SEND = "send"


ALL_PERMISSIONS: tuple[Permission, ...] = tuple(Permission)


def parse_permissions(names: str) -> tuple[Permission, ...]:
    """``"send,change_password"`` -> permissions; an unknown name is named in the error."""
    from domain.errors import InvalidInput  # noqa: PLC0415 - keeps this module a leaf

    chosen = []
    for raw in names.split(","):
        name = raw.strip().lower().replace("-", "_")
        if not name:
            continue
        try:
            chosen.append(Permission(name))
        except ValueError:
            known = ", ".join(p.value for p in Permission)
            raise InvalidInput(
                f"unknown permission {raw.strip()!r}; known: {known}"
            ) from None
    return tuple(sorted(set(chosen)))
