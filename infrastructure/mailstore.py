"""The provider's mail store, chosen by configuration: a Dovecot over IMAP, or maildirs.

What configures it (``MAILHOST_IMAP_*``) is read and checked in ``infrastructure.settings``.

The stores themselves live in ``infrastructure.dovecot`` (with ``infrastructure.imap``
and ``infrastructure.passwdfile``) and ``infrastructure.maildir``.
"""

from __future__ import annotations

from pathlib import Path

from application.ports import MailStore
from infrastructure.dovecot import DovecotAccess, DovecotMailStore
from infrastructure.maildir import MaildirMailStore


def mail_store(home: Path, dovecot: DovecotAccess | None) -> MailStore:
    """The given Dovecot, or without one the embedded maildirs under home/mail."""
    if dovecot is None:
        return MaildirMailStore(home / "mail")
    return DovecotMailStore(dovecot)
