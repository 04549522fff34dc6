"""What a login answers, and where an attempt comes from (SEC-1, MFA-6, MFA-7).

Shared by the sign-in use cases (``application.signin``) and the account use cases
(``application.accounts``, which re-exports the names embedders import from it).
"""

from __future__ import annotations

import re
from enum import StrEnum
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from uuid import UUID

from attrs import field, frozen

from application.ports import Fingerprints, Geolocator
from domain import ids
from domain.address import EmailAddress, shown
from domain.errors import InvalidInput, NotPermitted
from domain.security import LoginContext
from domain.text import forbidden_character

MAX_USER_AGENT = 512
# Tokens this service issues are far shorter; anything longer was not issued here.
MAX_TOKEN = 256
# Lone surrogates: what undecodable bytes of a header become (surrogateescape).
_SURROGATE = re.compile("[\ud800-\udfff]")


class LoginRefused(NotPermitted):
    """One answer for an unknown login, a wrong password and a throttled account.

    Telling them apart would let anyone enumerate accounts (ASVS 6.3.8).
    """

    def __init__(self) -> None:
        super().__init__(
            "login refused: unknown login or wrong password, or too many attempts "
            "(try again later)"
        )


class Outcome(StrEnum):
    SIGNED_IN = "signed-in"
    SECOND_FACTOR_REQUIRED = "second-factor-required"
    # MFA-7: the organisation enforces two-step verification and the user has none:
    # the session may only enrol a factor.
    ENROL_REQUIRED = "enrol-required"


@frozen
class LoginResult:
    """What the client keeps: the session token, and the device token to send next time.

    ``second-factor-required`` opens no session: ``pending_token`` (short-lived, single
    use) goes to ``Accounts.complete_login`` with the second factor.
    """

    account_id: UUID
    session_id: UUID | None
    session_token: str = field(repr=False)
    device_token: str = field(repr=False)
    alerted: bool
    outcome: Outcome = Outcome.SIGNED_IN
    pending_token: str = field(default="", repr=False)
    # The methods the user can answer with (second-factor-required only).
    methods: tuple[str, ...] = ()
    persistent: bool = True

    @property
    def restricted(self) -> bool:
        return self.outcome is Outcome.ENROL_REQUIRED


def login_context(
    fingerprints: Fingerprints,
    geolocator: Geolocator,
    ip: str,
    user_agent: str,
    device_token: str | None,
) -> tuple[LoginContext, str]:
    """Where an attempt comes from, as stored; and the device token the client keeps."""
    address = _client_address(ip)
    # A token this service did not issue (non-ASCII, over-long) is no device it
    # knows: the client gets a new one, as one without a token would.
    issued = (
        device_token
        if device_token
        and device_token.isascii()
        and device_token.isprintable()
        and len(device_token) <= MAX_TOKEN
        else None
    )
    token = issued or fingerprints.new_token()
    context = LoginContext(
        device=fingerprints.digest(f"device:{token}"),
        network=network_of(address),
        place=geolocator.locate(address),
        user_agent=" ".join(valid_text(user_agent).split())[:MAX_USER_AGENT],
    )
    return context, token


def valid_text(value: str) -> str:
    """Client-supplied text as valid UTF-8: each lone surrogate becomes U+FFFD.

    A header is the client's to send, not the user's to be refused for, yet a lone
    surrogate in an event would stop every store that encodes it as UTF-8 (each read
    model's catch-up, on every retry): replaced here, nothing downstream meets one.
    """
    return value if value.isascii() else _SURROGATE.sub("\ufffd", value)


def _client_address(ip: str) -> IPv4Address | IPv6Address:
    """The client's address, or ``InvalidInput`` naming the IP address.

    ``ip_address`` accepts an IPv6 zone id (``fe80::1%eth0``) of any characters, escape
    sequences included; a zone names an interface of the host that saw the address, so
    it is no part of where a remote client is, and it would be stored and shown.
    """
    bad = forbidden_character(ip)
    if bad is not None:
        raise InvalidInput(
            f"IP address {shown(ip)} contains a control character ({bad})"
        )
    try:
        address = ip_address(ip.strip())
    except ValueError:
        raise InvalidInput(f"IP address {shown(ip)} is not valid") from None
    if isinstance(address, IPv6Address) and address.scope_id is not None:
        raise InvalidInput(f"IP address {shown(ip)} has a zone id (%...)")
    return address


def network_of(address: IPv4Address | IPv6Address) -> str:
    """The /24 or /48 around an address: a location, without the host part."""
    prefix = 24 if address.version == 4 else 48  # noqa: PLR2004 - IP versions
    return str(ip_network(f"{address}/{prefix}", strict=False))


def account_key(login: str, *, what: str = "login") -> UUID:
    return ids.account_id(str(EmailAddress.parse(login, what=what)))
