"""Mail addresses as values: validated once at the edge, compared case-insensitively."""

from __future__ import annotations

import unicodedata

import email_validator
from attrs import frozen

from domain.errors import InvalidInput

# An address is at most 254 octets (RFC 5321 4.5.3.1.3): longer input is echoed cut, so
# a refusal of a 10 MB string does not carry the 10 MB along in its message.
SHOWN_INPUT = 320


def shown(text: str, *, limit: int = SHOWN_INPUT) -> str:
    """Input echoed in an error message: quoted with controls escaped, and bounded."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


def identity(address: str) -> str:
    """The form two addresses share exactly when they name the same mailbox owner.

    The domain compares through IDNA (its lower-cased ASCII form: a Unicode domain and
    its punycode are one); the local part is NFC-normalised and lower-cased. It is never
    case-folded: folding maps ``straße`` to ``strasse`` and ``\u017fupport`` (long s)
    to ``support``, so it would merge distinct addresses (RFC 6531).
    For ASCII, ``lower()`` and ``casefold()`` agree and NFC changes nothing, so every
    ASCII address keeps the identity (and the derived ids) it had when keys case-folded.
    """
    local, at, domain = address.rpartition("@")
    if not at:
        return unicodedata.normalize("NFC", address).lower()
    local = unicodedata.normalize("NFC", local).lower()
    if domain.isascii():
        return f"{local}@{domain.lower()}"
    try:
        valid = email_validator.validate_email(
            f"postmaster@{domain}", check_deliverability=False
        )
    except email_validator.EmailNotValidError as e:
        raise InvalidInput(f"domain {shown(domain)} is not a valid domain: {e}") from e
    return f"{local}@{valid.ascii_domain.lower()}"


@frozen
class EmailAddress:
    """An RFC 5321/5322 address with an IDNA-normalised domain.

    ``local_part`` keeps the case the user typed (RFC 5321 lets a server distinguish it,
    and mail is delivered as typed); the identity of an account uses :attr:`identity`.
    """

    local_part: str
    domain: str

    @classmethod
    def parse(
        cls, text: str, *, what: str = "address", smtputf8: bool = True
    ) -> EmailAddress:
        """Parse per RFC 5321/5322 with their length limits (64 octets before the @).

        ``smtputf8=False`` keeps to ASCII local parts, for addresses this provider hosts
        and every IMAP/SMTP client must be able to type.
        """
        try:
            valid = email_validator.validate_email(
                text.strip(),
                check_deliverability=False,
                allow_smtputf8=smtputf8,
                strict=True,
            )
        except email_validator.EmailNotValidError as e:
            reason = str(e)
            if len(reason) > 2 * SHOWN_INPUT:
                reason = reason[: 2 * SHOWN_INPUT] + "..."
            raise InvalidInput(
                f"{what} {shown(text)} is not a valid mail address: {reason}"
            ) from e
        return cls(local_part=valid.local_part, domain=valid.ascii_domain.lower())

    @property
    def identity(self) -> str:
        """Who the address is: see :func:`identity` (NFC, lower-cased, never folded)."""
        return identity(str(self))

    def __str__(self) -> str:
        return f"{self.local_part}@{self.domain}"
