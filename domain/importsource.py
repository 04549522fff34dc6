"""Where an import reads from: an IMAP server, how to reach it, whose mailbox (IMP-6).

Checked once at the edge, so a job never starts against a host it cannot name: the
host is a host name or an IP literal, the port is a port, and plaintext (``none``) is
refused unless the host is this machine or the operator said ``insecure`` explicitly.
``insecure`` only permits plaintext; it never turns certificate verification off.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from enum import StrEnum

from attrs import frozen

from domain.address import shown
from domain.errors import InvalidInput
from domain.text import forbidden_character

MAX_USER = 320
MAX_PATH = 4096
MAX_HOST = 253
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)\Z")


class Security(StrEnum):
    TLS = "tls"
    STARTTLS = "starttls"
    NONE = "none"


DEFAULT_PORTS: Mapping[Security, int] = {
    Security.TLS: 993,
    Security.STARTTLS: 143,
    Security.NONE: 143,
}


@frozen
class ImportSource:
    host: str
    port: int
    security: Security
    user: str
    ca_file: str | None = None
    insecure: bool = False

    @classmethod
    def of(
        cls,
        host: str,
        port: int | str | None,
        security: Security | str,
        user: str,
        *,
        ca_file: str | None = None,
        insecure: bool = False,
    ) -> ImportSource:
        """A checked source; ``port`` None is the default port of ``security``.

        Raises InvalidInput naming the field (host, port, security, user, ca_file).
        """
        checked_host = parse_host(host)
        checked_security = parse_security(security)
        checked_port = (
            DEFAULT_PORTS[checked_security] if port is None else parse_port(port)
        )
        if (
            checked_security is Security.NONE
            and not insecure
            and not is_loopback(checked_host)
        ):
            raise InvalidInput(
                f"security none sends the password in clear to {checked_host}; use tls"
                " or starttls, or allow it explicitly with insecure"
            )
        return cls(
            host=checked_host,
            port=checked_port,
            security=checked_security,
            user=parse_user(user),
            ca_file=_ca_file(ca_file, checked_security),
            insecure=insecure,
        )

    @property
    def oauth_provider(self) -> str | None:
        """The provider that refuses passwords for this source (see :func:`needs_oauth`)."""
        return needs_oauth(self.host, self.user)


def parse_host(host: str) -> str:
    """A host name (lower-cased, IDNA) or an IP literal (brackets dropped)."""
    text = host.strip() if isinstance(host, str) else ""
    if not text:
        raise InvalidInput("host is empty; give the IMAP server's name or address")
    literal = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return str(ipaddress.ip_address(literal))
    except ValueError:
        pass
    name = text.removesuffix(".").lower()
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_name = ""
    labels = ascii_name.split(".")
    if (
        not ascii_name
        or len(ascii_name) > MAX_HOST
        or not all(_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise InvalidInput(f"host {shown(host)} is not a host name nor an IP address")
    return ascii_name


def parse_port(port: int | str) -> int:
    if isinstance(port, bool):
        raise InvalidInput(f"port {port!r} is not a number")
    if isinstance(port, str):
        text = port.strip()
        if not text.isascii() or not text.isdigit():
            raise InvalidInput(f"port {shown(port)} is not a number from 1 to 65535")
        port = int(text)
    if not 1 <= port <= 65535:  # noqa: PLR2004 - the TCP port range
        raise InvalidInput(f"port {port} is not a number from 1 to 65535")
    return port


def parse_security(security: Security | str) -> Security:
    text = security.strip().lower() if isinstance(security, str) else ""
    try:
        return Security(text)
    except ValueError:
        choices = ", ".join(s.value for s in Security)
        raise InvalidInput(
            f"security {shown(str(security))} is not one of {choices}"
        ) from None


def parse_user(user: str) -> str:
    text = user.strip() if isinstance(user, str) else ""
    if not text:
        raise InvalidInput("user is empty; give the login at the source server")
    return _as_given(text, "user", MAX_USER)


def _ca_file(ca_file: str | None, security: Security) -> str | None:
    if ca_file is None:
        return None
    if security is Security.NONE:
        raise InvalidInput("ca_file applies to tls and starttls, not to security none")
    if not ca_file.strip():
        raise InvalidInput("ca_file is empty; give the path of a PEM file")
    return _as_given(ca_file, "ca_file", MAX_PATH)


def _as_given(value: str, field: str, max_length: int) -> str:
    """A login or a path is used as typed (no blanks folded): printable and bounded."""
    bad = forbidden_character(value)
    if bad is not None:
        raise InvalidInput(f"{field} contains a control character ({bad})")
    if len(value) > max_length:
        raise InvalidInput(f"{field} is longer than {max_length} characters")
    return value


def is_loopback(host: str) -> bool:
    """This machine: ``localhost`` or a loopback address.

    The one rule for every adapter that lets plain text through on loopback only.
    Names under ``.localhost`` are not taken: RFC 6761 asks resolvers to map them to
    loopback, but not every resolver does, and the adapter connects by name.
    """
    name = host.strip().removesuffix(".").lower()
    if name == "localhost":
        return True
    literal = name[1:-1] if name.startswith("[") and name.endswith("]") else name
    try:
        return ipaddress.ip_address(literal).is_loopback
    except ValueError:
        return False


# -- presets (IMP-6) --------------------------------------------------------------------


@frozen
class Preset:
    """A provider's IMAP server; ``domains``: the mail domains it serves."""

    name: str
    host: str
    port: int
    security: Security
    domains: tuple[str, ...] = ()

    def source(self, user: str) -> ImportSource:
        return ImportSource.of(self.host, self.port, self.security, user)


PRESETS: Mapping[str, Preset] = {
    p.name: p
    for p in (
        Preset("aol", "imap.aol.com", 993, Security.TLS, ("aol.com", "aim.com")),
        Preset("fastmail", "imap.fastmail.com", 993, Security.TLS, ("fastmail.com",)),
        Preset("gmail", "imap.gmail.com", 993, Security.TLS, ("gmail.com",)),
        Preset(
            "gmx", "imap.gmx.net", 993, Security.TLS, ("gmx.net", "gmx.de", "gmx.at")
        ),
        Preset("gmx.com", "imap.gmx.com", 993, Security.TLS, ("gmx.com",)),
        Preset(
            "icloud",
            "imap.mail.me.com",
            993,
            Security.TLS,
            ("icloud.com", "me.com", "mac.com"),
        ),
        Preset("mailbox.org", "imap.mailbox.org", 993, Security.TLS, ("mailbox.org",)),
        Preset(
            "outlook",
            "outlook.office365.com",
            993,
            Security.TLS,
            ("outlook.com", "hotmail.com", "live.com", "msn.com"),
        ),
        Preset("posteo", "posteo.de", 993, Security.TLS, ("posteo.de", "posteo.net")),
        Preset("web.de", "imap.web.de", 993, Security.TLS, ("web.de",)),
        Preset(
            "yahoo",
            "imap.mail.yahoo.com",
            993,
            Security.TLS,
            ("yahoo.com", "ymail.com", "rocketmail.com"),
        ),
        Preset(
            "zoho", "imap.zoho.com", 993, Security.TLS, ("zoho.com", "zohomail.com")
        ),
    )
}


def preset(name: str) -> Preset:
    """The preset of that name (case-insensitive), or InvalidInput listing them."""
    found = PRESETS.get(name.strip().lower())
    if found is None:
        raise InvalidInput(
            f"preset {shown(name)} is not known; known presets: {', '.join(PRESETS)}"
        )
    return found


def preset_for(address: str) -> Preset | None:
    """The preset serving an address's domain, if one does (``ann@gmx.de`` -> gmx)."""
    domain = _domain_of(address)
    return next((p for p in PRESETS.values() if domain in p.domains), None)


# -- providers that refuse passwords (IMP-8) --------------------------------------------

GOOGLE = "Google"
MICROSOFT = "Microsoft 365"

_OAUTH_HOSTS: Mapping[str, str] = {
    "imap.gmail.com": GOOGLE,
    "imap.googlemail.com": GOOGLE,
    "outlook.office365.com": MICROSOFT,
    "imap-mail.outlook.com": MICROSOFT,
    "outlook.office.com": MICROSOFT,
    "imap.outlook.com": MICROSOFT,
}
_OAUTH_DOMAINS: Mapping[str, str] = {
    "gmail.com": GOOGLE,
    "googlemail.com": GOOGLE,
    "outlook.com": MICROSOFT,
    "hotmail.com": MICROSOFT,
    "live.com": MICROSOFT,
    "msn.com": MICROSOFT,
}


def needs_oauth(host: str, user: str = "") -> str | None:
    """The provider (``Google``, ``Microsoft 365``) that requires XOAUTH2, or None.

    By the server's name, or by the user's address at such a provider (whatever host
    was typed, the mailbox is still there).
    """
    name = host.strip().removesuffix(".").lower()
    return _OAUTH_HOSTS.get(name) or _OAUTH_DOMAINS.get(_domain_of(user))


def _domain_of(address: str) -> str:
    _, at, domain = address.strip().rpartition("@")
    return domain.removesuffix(".").lower() if at else ""


__all__ = [
    "DEFAULT_PORTS",
    "GOOGLE",
    "MICROSOFT",
    "PRESETS",
    "ImportSource",
    "Preset",
    "Security",
    "is_loopback",
    "needs_oauth",
    "parse_host",
    "parse_port",
    "parse_security",
    "parse_user",
    "preset",
    "preset_for",
]
