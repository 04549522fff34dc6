"""Where an import reads from: an IMAP server, how to reach it, whose mailbox (IMP-6)."""

from __future__ import annotations

from enum import StrEnum

from attrs import frozen


class Security(StrEnum):
    TLS = "tls"
    STARTTLS = "starttls"
    NONE = "none"


@frozen
class ImportSource:
    host: str
    port: int
    security: Security
    user: str
    ca_file: str | None = None
    insecure: bool = False
