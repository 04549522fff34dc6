"""The embedded mail store: a maildir per address and a passwd-file beside them.

Needs no server, so an engine without ``MAILHOST_IMAP_URL`` still creates, changes
and destroys mailboxes for real; a Dovecot can be pointed at the folder later.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Mapping
from pathlib import Path

from application.mailservices import split_address
from infrastructure.passwdfile import PasswdFile, dovecot_encoding, normalise_address

__all__ = ["MaildirMailStore"]


def _path_part(what: str, value: str, address: str) -> str:
    if "/" in value or value in {".", ".."}:
        raise ValueError(f"the {what} of {address!r} cannot name a folder")
    return value


class MaildirMailStore:
    """Maildirs at ``root/<domain>/<local>/Maildir`` and their passwd-file ``root/passwd``.

    A Dovecot pointed at it needs ``mail_location = maildir:~/Maildir:LAYOUT=fs`` and
    ``userdb { driver = passwd-file; args = <root>/passwd;
    default_fields = home=<root>/%d/%n }``.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()
        self.passwd = PasswdFile(self.root / "passwd")

    def __repr__(self) -> str:
        return f"MaildirMailStore({str(self.root)!r})"

    def home(self, address: str) -> Path:
        local, domain = split_address(normalise_address(address))
        return (
            self.root
            / _path_part("domain", domain, address)
            / _path_part("local part", local, address)
        )

    def maildir(self, address: str) -> Path:
        return self.home(address) / "Maildir"

    def set_password(self, address: str, encoded: str) -> None:
        self.set_passwords({address: encoded})

    def set_passwords(self, entries: Mapping[str, str]) -> None:
        """Many addresses in one passwd-file rewrite (bulk creation)."""
        for address, encoded in entries.items():
            dovecot_encoding(normalise_address(address), encoded)
            self.home(address)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        for address in entries:
            for sub in ("cur", "new", "tmp"):
                (self.maildir(address) / sub).mkdir(
                    mode=0o700, parents=True, exist_ok=True
                )
        self.passwd.update(set_entries=entries)

    def destroy(self, address: str) -> None:
        home = self.home(address)
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(home)
        with contextlib.suppress(OSError):
            home.parent.rmdir()  # only if that was the domain's last address
        if self.passwd.path.exists():
            self.passwd.remove(address)
