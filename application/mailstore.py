"""The provider's own mail store (a real IMAP server, Dovecot), as the engine needs it.

Address passwords are the mail store's real IMAP/SMTP credentials: the engine hands it
the same hash it keeps (a scheme the server verifies, e.g. ``$argon2id$...``), never the
password.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class MailStore(Protocol):
    def set_password(self, address: str, encoded: str) -> None:
        """Make ``encoded`` (a password hash) the address's login credential."""
        ...

    def set_passwords(self, entries: Mapping[str, str]) -> None:
        """Many addresses at once (bulk creation): one write, not one per address."""
        ...

    def destroy(self, address: str) -> None:
        """Delete every folder and message of the address and its login (ADR-11).

        Idempotent: destroying an address that has nothing left succeeds.
        """
        ...
