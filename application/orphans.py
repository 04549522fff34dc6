"""The sweep of orphan credentials (secrets no event ever came to name).

A secret is written before the event that names it (``application.credentials``): a
refusal takes it back at once (``staged_secret``), but a crash between the two writes
(kill -9 during a bulk import: up to 100,000 rows) leaves rows no event names. Each row
names its owner, the aggregate whose event would have named it; a row older than the
grace period whose owner has no event naming it can never become current and is
deleted. Rows that are named are marked confirmed and never read again, so a sweep costs
what was stored since the last one. Rows without an owner (written before owners were
recorded, or by a use case that records none) are kept.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from uuid import UUID

import attrs
from attrs import frozen

from application.log import MailHostLog
from application.ports import Clock, OwnedSecrets
from domain.errors import InvalidInput

DEFAULT_GRACE = timedelta(days=1)


@frozen
class OrphanSweep:
    log: MailHostLog
    store: OwnedSecrets
    clock: Clock

    def sweep_orphan_credentials(self, older_than: timedelta = DEFAULT_GRACE) -> int:
        """Delete the orphans stored more than ``older_than`` ago; how many went.

        The grace must outlast any command between its secret and its save (seconds),
        and is how long a crashed bulk run's sealed passwords stay recoverable.
        """
        if older_than < timedelta(0):
            raise InvalidInput("older_than must not be negative")
        cutoff = self.clock.now() - older_than
        named_by: dict[UUID, frozenset[UUID]] = {}
        after: UUID | None = None
        gone = 0
        while page := self.store.unconfirmed_secrets(cutoff, after=after):
            named: list[UUID] = []
            orphans: list[UUID] = []
            for credential_id, owner in page:
                if owner not in named_by:
                    named_by[owner] = self._named_by(owner)
                (named if credential_id in named_by[owner] else orphans).append(
                    credential_id
                )
            self.store.confirm_secrets(named)
            gone += self.store.forget_unconfirmed(orphans)
            after = page[-1][0]
        return gone

    def _named_by(self, owner: UUID) -> frozenset[UUID]:
        """Every UUID among the attribute values of the owner's events."""
        found: set[UUID] = set()
        for stored in self.log.recorder.select_events(owner):
            event = self.log.mapper.to_domain_event(stored)
            found.update(_uuids(vars(event)))
        return frozenset(found)


def _uuids(value: object) -> Iterator[UUID]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, UUID):
            yield item
        elif isinstance(item, str):
            if len(item) == 36:  # noqa: PLR2004 - the text form of a UUID
                with contextlib.suppress(ValueError):
                    yield UUID(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        elif attrs.has(kind := type(item)):
            stack.extend(getattr(item, f.name) for f in attrs.fields(kind))
