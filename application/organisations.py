"""Use cases of organisations (ORG-1) and their two-step policy (ORG-2)."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from attrs import frozen

from application.authorization import OPERATOR
from application.context import command
from application.log import MailHostLog
from application.ports import Clock
from domain import ids
from domain.address import EmailAddress
from domain.errors import NotPermitted
from domain.organisation import Organisation


@frozen
class Organisations:
    log: MailHostLog
    clock: Clock

    @command
    def found(self, name: str, *, by: UUID | None) -> UUID:
        """ORG-1: only the operator founds one; every account belongs to one already."""
        if by is not OPERATOR:
            raise NotPermitted("only the operator may found an organisation")
        organisation = Organisation.found(name, at=self.clock.now())
        self.log.create(organisation, what=f"organisation {organisation.name!r}")
        return organisation.id

    def get(self, name_or_id: str | UUID) -> Organisation:
        key = ids.organisation_key(name_or_id)
        return self.log.load(key, Organisation, f"organisation {name_or_id!s}")

    @command
    def enforce_two_step(self, organisation: str | UUID, *, by: str | UUID) -> None:
        """ORG-2: every member without two-step verification must enrol (MFA-7)."""
        self._as_admin(
            organisation, by, lambda o, a: o.enforce_two_step(a, at=self.clock.now())
        )

    @command
    def relax_two_step(self, organisation: str | UUID, *, by: str | UUID) -> None:
        """ORG-2 undone: members may sign in without a second factor again."""
        self._as_admin(
            organisation, by, lambda o, a: o.relax_two_step(a, at=self.clock.now())
        )

    def _as_admin(
        self,
        organisation: str | UUID,
        by: str | UUID,
        decide: Callable[[Organisation, UUID], object],
    ) -> None:
        key = ids.organisation_key(organisation)
        admin = (
            by
            if isinstance(by, UUID)
            else ids.account_id(str(EmailAddress.parse(by, what="admin login")))
        )

        def attempt(org: Organisation) -> None:
            if not org.is_admin(admin):
                raise NotPermitted("only an organisation admin may change this policy")
            decide(org, admin)

        self.log.update(key, Organisation, f"organisation {organisation!s}", attempt)
