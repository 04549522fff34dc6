"""Mail addresses as values: validated once at the edge, compared case-insensitively."""

from __future__ import annotations

import email_validator
from attrs import frozen

from domain.errors import InvalidInput


@frozen
class EmailAddress:
    """An RFC 5321/5322 address with an IDNA-normalised domain.

    ``local_part`` keeps the case the user typed (RFC 5321 lets a server distinguish it,
    and mail is delivered as typed); equality of identities uses :attr:`key`.
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
            raise InvalidInput(
                f"{what} {text!r} is not a valid mail address: {e}"
            ) from e
        return cls(local_part=valid.local_part, domain=valid.ascii_domain.lower())

    @property
    def key(self) -> str:
        return str(self).casefold()

    def __str__(self) -> str:
        return f"{self.local_part}@{self.domain}"
