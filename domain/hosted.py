"""The names a mail service hands out (ADR-2): local parts, their kinds, their entries.

A service (domain/mailservice.py) keeps one entry per local part of its domain. These
values are what its events store and what every use case parses an address into before
asking the service, so the syntax and the uniqueness key live here, once.
"""

from __future__ import annotations

import unicodedata
from enum import StrEnum
from uuid import UUID

import email_validator
from attrs import frozen

from domain.address import EmailAddress
from domain.errors import DomainError, InvalidInput


class AddressKind(StrEnum):
    MAILBOX = "mailbox"
    ALIAS = "alias"
    REDIRECT = "redirect"
    NO_REPLY = "no_reply"


# Aliases belong to a mailbox and take no slot of their own.
TAKES_SLOT = frozenset(
    {AddressKind.MAILBOX, AddressKind.REDIRECT, AddressKind.NO_REPLY}
)


def local_key(local_part: str) -> str:
    """The key a local part is unique under in its domain (ADR-2): NFC, lower-cased.

    Never case-folded: folding merges distinct Unicode local parts (``straße`` and
    ``strasse``, long s and s), as domain.address.identity explains. Hosted local parts
    are ASCII (parse_local_part), where ``lower()`` equals ``casefold()`` and NFC changes
    nothing, so the keys stored in the log and the mailbox ids derived from them
    (MailService.new_mailbox_id) are the same as when they were case-folded.
    """
    return unicodedata.normalize("NFC", local_part).lower()


@frozen
class AddressEntry:
    local_part: str
    kind: AddressKind
    mailbox_id: UUID

    @property
    def key(self) -> str:
        return local_key(self.local_part)


@frozen
class ClaimProblem:
    """Why the entry at ``index`` of a claim cannot be taken, and the error it raises.

    A list of them lets a caller with many entries (a CSV file) name every problem at
    once, where ``claim`` raises the first.
    """

    index: int
    reason: str
    error: type[DomainError]


def parse_domain(text: str) -> tuple[str, str]:
    """(ASCII domain, display domain): IDNs are stored in their A-label form (IDNA 2008)."""
    try:
        valid = email_validator.validate_email(
            f"postmaster@{text.strip()}", check_deliverability=False, strict=True
        )
    except email_validator.EmailNotValidError as e:
        raise InvalidInput(f"domain {text!r} is not a valid domain name: {e}") from None
    return valid.ascii_domain.lower(), valid.domain


def parse_local_part(text: str, domain: str) -> str:
    """The part before the @, validated as a hosted address (RFC 5321 4.5.3.1.1, ASCII).

    "*" is refused too: a hosted address logs in to IMAP, where "*" separates a master
    login from the user it acts for; so are "/" and a leading "#", which the mail store
    cannot keep as a folder name and a credential line.
    """
    local = text.strip()
    if not local:
        raise InvalidInput("the local part (before the @) is empty")
    given = EmailAddress.parse(
        local if "@" in local else f"{local}@{domain}", what="address", smtputf8=False
    )
    if given.domain != domain:
        raise InvalidInput(f"address {text!r} is not in the domain {domain}")
    if "*" in given.local_part:
        raise InvalidInput(
            f"address {given} may not contain '*' (reserved for master logins)"
        )
    if "/" in given.local_part or given.local_part.startswith("#"):
        raise InvalidInput(
            f"address {given} may not contain '/' nor start with '#' (the mail store "
            "keeps one folder and one credential line per address)"
        )
    return given.local_part
