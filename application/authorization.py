"""Who is acting: an account of the organisation, or the operator (the CLI, a script).

Admin commands need an organisation admin (or the operator); address commands need the
user's permission on the address (ORG-3), checked on every command.
"""

from __future__ import annotations

from uuid import UUID

from application.log import MailHostLog
from domain.account import UserAccount
from domain.errors import NotPermitted
from domain.mailbox import Mailbox
from domain.mailservice import MailService
from domain.organisation import Organisation
from domain.permissions import Permission

OPERATOR = None  # the operator's commands carry no account: they answer to the host


def require_admin(log: MailHostLog, service: MailService, by: UUID | None) -> None:
    if by is OPERATOR:
        return
    org = log.load(service.organisation_id, Organisation, "organisation")
    if not org.is_admin(by):
        raise NotPermitted("only an admin of the organisation may do this")


def require_permission(
    log: MailHostLog,
    service: MailService,
    mailbox: Mailbox,
    by: UUID | None,
    permission: Permission,
) -> None:
    """The admin may always; a user needs the permission on this address, now."""
    if by is OPERATOR:
        return
    org = log.load(service.organisation_id, Organisation, "organisation")
    if org.is_admin(by):
        return
    if not mailbox.allows(by, permission, service.default_permissions):
        raise NotPermitted(
            f"permission {permission.value} on {mailbox.address} is not granted to this user"
        )


def require_self_or_admin(
    log: MailHostLog, account: UserAccount, by: UUID | None
) -> None:
    """An account's own settings: the account itself, its organisation's admin, or the
    operator."""
    if by is OPERATOR or by == account.id:
        return
    org = log.load(account.organisation_id, Organisation, "organisation")
    if not org.is_admin(by):
        raise NotPermitted("only the account itself or an admin may change this")
