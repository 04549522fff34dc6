"""The provider's mail store, chosen by configuration: a Dovecot over IMAP, or maildirs.

The stores themselves live in ``infrastructure.dovecot`` (with ``infrastructure.imap``
and ``infrastructure.passwdfile``) and ``infrastructure.maildir``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

from application.ports import MailStore
from infrastructure.dovecot import (
    MASTER_SEPARATOR,
    DovecotAccess,
    DovecotMailStore,
    check_master_user,
)
from infrastructure.imap import (
    ENV_MASTER_PASSWORD,
    ENV_MASTER_USER,
    ENV_URL,
    ImapEndpoint,
)
from infrastructure.maildir import MaildirMailStore
from infrastructure.settings import ConfigurationError

__all__ = [
    "MaildirMailStore",
    "dovecot_access",
    "mail_store",
    "mail_store_from_env",
]

ENV_PASSWD_FILE: Final = "MAILHOST_IMAP_PASSWD_FILE"  # noqa: S105 - a name


def mail_store(home: Path, dovecot: DovecotAccess | None) -> MailStore:
    """The given Dovecot, or without one the embedded maildirs under home/mail."""
    if dovecot is None:
        return MaildirMailStore(home / "mail")
    return DovecotMailStore(
        dovecot.imap_url,
        dovecot.master_user,
        dovecot.master_password,
        dovecot.passwd_file,
    )


def mail_store_from_env(env: Mapping[str, str], home: Path) -> MailStore:
    """The Dovecot named by MAILHOST_IMAP_*, or the embedded maildirs under home/mail."""
    return mail_store(home, dovecot_access(env))


def dovecot_access(env: Mapping[str, str]) -> DovecotAccess | None:
    """The Dovecot MAILHOST_IMAP_* name, checked; None when MAILHOST_IMAP_URL is unset."""
    url = (env.get(ENV_URL) or "").strip()
    others = (ENV_MASTER_USER, ENV_MASTER_PASSWORD, ENV_PASSWD_FILE)
    if not url:
        stray = [name for name in others if env.get(name)]
        if stray:
            raise ConfigurationError(
                f"{', '.join(stray)} set but {ENV_URL} is not; set {ENV_URL} to use "
                "that Dovecot, or unset them for the embedded maildir store"
            )
        return None
    try:
        ImapEndpoint.parse(url)
    except ValueError as exc:
        raise ConfigurationError(f"{ENV_URL}: {exc}") from None
    missing = [name for name in others if not env.get(name)]
    if missing:
        raise ConfigurationError(f"{ENV_URL} is set but {', '.join(missing)} is not")
    passwd_file = Path(env[ENV_PASSWD_FILE])
    if not passwd_file.is_absolute():
        raise ConfigurationError(
            f"{ENV_PASSWD_FILE} must be an absolute path (the file Dovecot reads), "
            f"not {str(passwd_file)!r}"
        )
    if not passwd_file.parent.is_dir():
        raise ConfigurationError(
            f"{ENV_PASSWD_FILE}: the folder {str(passwd_file.parent)!r} does not exist"
        )
    access = DovecotAccess(
        url, env[ENV_MASTER_USER], env[ENV_MASTER_PASSWORD], passwd_file
    )
    try:
        check_master_user(access.master_user, access.master_password, MASTER_SEPARATOR)
    except ValueError as exc:
        raise ConfigurationError(f"{ENV_MASTER_USER}: {exc}") from None
    return access
