"""Use cases of organisations (ORG-1)."""

from __future__ import annotations

from uuid import UUID

from attrs import frozen

from application.log import MailHostLog
from application.ports import Clock
from domain import ids
from domain.organisation import Organisation


@frozen
class Organisations:
    log: MailHostLog
    clock: Clock

    def found(self, name: str) -> UUID:
        organisation = Organisation.found(name, at=self.clock.now())
        self.log.create(organisation, what=f"organisation {organisation.name!r}")
        return organisation.id

    def get(self, name_or_id: str | UUID) -> Organisation:
        key = ids.organisation_key(name_or_id)
        return self.log.load(key, Organisation, f"organisation {name_or_id!s}")
