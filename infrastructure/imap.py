"""Reaching an IMAP server: the URL's rules (TLS, loopback), connecting, trying a login.

``MailStoreError`` lives here because every failure of the Dovecot store is, at
bottom, an IMAP server that could not be reached or refused what was asked.
"""

from __future__ import annotations

import contextlib
import ssl
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import parse_qs, urlsplit

from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import IMAPClientError, LoginError

from domain.importsource import is_loopback

__all__ = [
    "DEFAULT_TIMEOUT",
    "ENV_MASTER_PASSWORD",
    "ENV_MASTER_USER",
    "ENV_URL",
    "ImapEndpoint",
    "MailStoreError",
    "as_text",
    "close_connection",
    "imap_login_works",
]

DEFAULT_TIMEOUT: Final = 30.0
# The configuration variables, named in messages that tell the operator what to fix.
ENV_URL: Final = "MAILHOST_IMAP_URL"
ENV_MASTER_USER: Final = "MAILHOST_IMAP_MASTER_USER"
ENV_MASTER_PASSWORD: Final = "MAILHOST_IMAP_MASTER_PASSWORD"  # noqa: S105 - a name


class MailStoreError(RuntimeError):
    """The mail store could not do what was asked; names the address, never a password."""


@dataclass(frozen=True)
class ImapEndpoint:
    """Where and how to reach the IMAP server.

    ``imaps://`` is TLS from the first byte, certificates checked; ``imap://`` is
    plain text on loopback and mandatory STARTTLS elsewhere (a master password
    never crosses a network in clear).  ``?insecure=1`` (loopback only) skips the
    certificate check, for test servers with self-signed certificates.
    """

    host: str
    port: int
    tls: Literal["implicit", "starttls", "none"]
    verify: bool = True

    @classmethod
    def parse(cls, url: str) -> ImapEndpoint:
        """Raise ValueError naming the problem; the URL is not echoed (it may hold secrets)."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"not a valid URL ({exc})") from None
        scheme = parts.scheme.lower()
        if scheme not in {"imap", "imaps"}:
            raise ValueError("the scheme must be imap:// or imaps://")
        if parts.username is not None or parts.password is not None:
            raise ValueError(
                "the URL must not carry credentials; use "
                f"{ENV_MASTER_USER} and {ENV_MASTER_PASSWORD}"
            )
        host = parts.hostname
        if not host:
            raise ValueError("the URL names no host")
        if parts.path not in {"", "/"} or parts.fragment:
            raise ValueError("the URL must have no path or fragment")
        insecure = _insecure(parts.query)
        loopback = is_loopback(host)
        if insecure and not loopback:
            raise ValueError("insecure=1 is allowed for loopback servers only")
        if scheme == "imaps":
            tls: Literal["implicit", "starttls", "none"] = "implicit"
        else:
            tls = "none" if loopback else "starttls"
        default_port = 993 if scheme == "imaps" else 143
        return cls(host=host, port=port or default_port, tls=tls, verify=not insecure)

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def connect(self, timeout: float = DEFAULT_TIMEOUT) -> Any:  # noqa: ANN401 - imapclient is untyped
        """An IMAPClient (untyped library), TLS as the URL asked, socket timeouts set."""
        implicit = self.tls == "implicit"
        client = IMAPClient(
            self.host,
            port=self.port,
            ssl=implicit,
            ssl_context=self.ssl_context() if implicit else None,
            timeout=SocketTimeout(connect=timeout, read=timeout),
        )
        if self.tls == "starttls":
            try:
                client.starttls(self.ssl_context())
            except BaseException:
                client.shutdown()
                raise
        return client


def _insecure(query: str) -> bool:
    """Whether the URL's query asks to skip the certificate check (``insecure=1``)."""
    values = parse_qs(query, keep_blank_values=True, strict_parsing=False)
    unknown = sorted(set(values) - {"insecure"})
    if unknown:
        raise ValueError(f"unknown URL parameter(s): {', '.join(unknown)}")
    insecure = values.get("insecure", ["0"]) != ["0"]
    if insecure and values["insecure"] != ["1"]:
        raise ValueError("insecure must be 1 when given")
    return insecure


def close_connection(client: Any) -> None:  # noqa: ANN401 - imapclient is untyped
    """Log out, or at least drop the connection: a failed logout must not hide the error."""
    try:
        client.logout()
    except (IMAPClientError, OSError):
        with contextlib.suppress(OSError):
            client.shutdown()


def as_text(value: object) -> str:
    """A folder name or server message as text: imapclient hands out bytes or str."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def imap_login_works(
    imap_url: str, user: str, password: str, *, timeout: float = 10.0
) -> bool:
    """True if the server accepts the login, False if it refuses it.

    An unreachable server raises MailStoreError: "refused" and "could not ask" differ.
    """
    endpoint = ImapEndpoint.parse(imap_url)
    try:
        client = endpoint.connect(timeout)
    except (IMAPClientError, OSError) as exc:
        msg = f"cannot reach {endpoint.host}:{endpoint.port} to try {user!r}: {exc}"
        raise MailStoreError(msg) from exc
    try:
        client.login(user, password)
    except LoginError:
        return False
    except (IMAPClientError, OSError) as exc:
        msg = f"the login of {user!r} at {endpoint.host}:{endpoint.port} failed: {exc}"
        raise MailStoreError(msg) from exc
    finally:
        close_connection(client)
    return True
