"""Read models of mail services as the application sees them (ADR, ORG-3)."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from attrs import frozen

from domain.advice import Advice


@frozen
class DirectoryEntry:
    address: str
    kind: str
    users: tuple[str, ...]
    linked: tuple[str, ...]
    permissions: dict[str, dict[str, bool]]
    catch_all: bool = False


@frozen
class Directory:
    domain: str
    display_domain: str
    quota: int
    used: int
    entries: tuple[DirectoryEntry, ...]


class AdvisoryQueries(Protocol):
    def advice(self, domain: str) -> list[Advice] | None:
        """The advisories of a domain (ADV-1..4), or None when it has no mail service."""
        ...


class DirectoryQueries(Protocol):
    def directory(self, domain: str) -> Directory | None: ...

    def mail_app(self, account_id: UUID) -> list[str]:
        """The addresses linked to the user's mail app, sorted."""
        ...
