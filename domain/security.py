"""Value objects and policies of account security (SEC-1..SEC-6)."""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta
from enum import StrEnum

from attrs import Factory, field, frozen

from domain.errors import InvalidInput


class AlertKind(StrEnum):
    """The security notifications a user can switch on or off (SEC-3)."""

    NEW_LOCATION = "new_location"
    FAILED_LOGIN = "failed_login"
    SECURITY_CHANGE = "security_change"


@frozen
class LoginContext:
    """Where a login attempt came from, as far as it may be stored.

    ``device`` is a keyed fingerprint of the browser's device token, never the token;
    ``network`` is the address's /24 (IPv4) or /48 (IPv6) prefix; ``place`` is the
    approximate place a geolocation service gave, or "" when it knows none.
    """

    device: str
    network: str
    place: str = ""
    user_agent: str = ""

    @property
    def location(self) -> str:
        """What counts as a network location for SEC-1: the place when known.

        A mobile user changes address prefix constantly inside one city; alerting on every
        prefix would teach users to ignore the mails.
        """
        return self.place or self.network


@frozen
class NotificationPreferences:
    new_location: bool = True
    failed_login: bool = True
    security_change: bool = True


@frozen
class PendingAlert:
    """A security mail decided by the log and not yet recorded as sent.

    For failed logins it accumulates the attempts of one window, so the mail that goes
    out when the window closes carries the count (SEC-2).
    """

    kind: AlertKind
    first_at: datetime
    last_at: datetime
    count: int = 1
    context: LoginContext | None = None
    detail: str = ""

    @classmethod
    def raised(
        cls,
        kind: AlertKind,
        at: datetime,
        *,
        context: LoginContext | None = None,
        detail: str = "",
    ) -> PendingAlert:
        """The alert an event raises at ``at``: first and last seen then, once."""
        return cls(kind=kind, first_at=at, last_at=at, context=context, detail=detail)


def alert_key(kind: AlertKind, version: int) -> str:
    """Name a pending alert after the event that raised it: unique, and derivable."""
    return f"{kind}:{version}"


def _positive(_: object, attribute: object, value: timedelta) -> None:
    if value <= timedelta(0):
        raise InvalidInput(f"{getattr(attribute, 'name', 'duration')} must be positive")


def _period(_: object, attribute: object, value: timedelta) -> None:
    _positive(_, attribute, value)
    if value > timedelta(days=1):
        # The account remembers a day of failures; a longer period could not be counted.
        raise InvalidInput("throttle_period must be at most one day")


# The account remembers at most this many failures (domain/throttle.py): no limit above it
# could be counted.
MAX_LIMIT = 1000
# How much higher the account-wide ceiling is than the per-source limit, by default.
CEILING_FACTOR = 10


def _limit(_: object, __: object, value: int) -> None:
    if not 1 <= value <= MAX_LIMIT:
        raise InvalidInput(f"throttle_limit must be between 1 and {MAX_LIMIT}")


def _default_ceiling(policy: SecurityPolicy) -> int:
    return min(CEILING_FACTOR * policy.throttle_limit, MAX_LIMIT)


def _ceiling(policy: SecurityPolicy, _: object, value: int) -> None:
    if not policy.throttle_limit <= value <= MAX_LIMIT:
        raise InvalidInput(
            f"account_limit must be between throttle_limit ({policy.throttle_limit}) "
            f"and {MAX_LIMIT}"
        )


@frozen
class SecurityPolicy:
    """Limits of the login path, OWASP ASVS 5.0 section 6.3 (a soft lockout).

    ``throttle_limit`` failed password checks per ``throttle_period`` per *source* of an
    account: a source is the attempt's network prefix (/24, /48), or its device when the
    device is one the account logged in from before. Past it, that source's attempts are
    refused without checking the password, while the real user on another network or on
    a known device still gets a check: an attacker cannot lock them out (ASVS 6.3.1).
    ``account_limit`` (by default ten times as many, at most 1000) bounds all sources
    together, so a distributed attack is still bounded and so is the account's log.
    """

    failed_login_window: timedelta = field(
        default=timedelta(minutes=15), validator=_positive
    )
    throttle_limit: int = field(default=100, validator=_limit)
    throttle_period: timedelta = field(default=timedelta(hours=1), validator=_period)
    account_limit: int = field(
        default=Factory(_default_ceiling, takes_self=True), validator=_ceiling
    )


@frozen
class PasswordPolicy:
    """ASVS 5.0 6.2: at least 8 characters (15 recommended), 64+ allowed, no truncation.

    No composition rules: they make passwords weaker, not stronger.
    """

    min_length: int = 8
    max_length: int = 4096

    def check(self, password: str, *, login: str = "") -> None:
        if not password:
            raise InvalidInput("password is empty")
        if len(password) < self.min_length:
            raise InvalidInput(f"password is shorter than {self.min_length} characters")
        if len(password) > self.max_length:
            raise InvalidInput(f"password is longer than {self.max_length} characters")
        if not is_unicode_text(password):
            # A lone surrogate (undecodable input) cannot be encoded, hence not hashed.
            raise InvalidInput(
                "password holds a lone surrogate (it is not Unicode text)"
            )
        control = control_character(password)
        if control is not None:
            # Named by code point only: the message must not carry the password.
            raise InvalidInput(f"password contains a control character ({control})")
        if login and password.casefold() == login.casefold():
            raise InvalidInput("password must not be the login identifier")


def control_character(password: str) -> str | None:
    """The first control character (C0, DEL, C1) of a new password, named, or None.

    NUL separates the fields of SASL PLAIN (RFC 4616), so a password holding one could
    never log in to IMAP or SMTP, and CR/LF end a line of every line-based protocol.
    This is narrower than the rule of stored text (domain/text.py), on purpose: a
    password is never shown, and OWASP ASVS wants every printable character allowed,
    emoji sequences (joined by U+200D, a format character) and private-use ones too.
    """
    for char in password:
        if unicodedata.category(char) == "Cc":
            return f"U+{ord(char):04X}"
    return None


def is_unicode_text(text: str) -> bool:
    """False for text holding a lone surrogate, which no encoding can write."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
