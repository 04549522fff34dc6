"""Connecting and logging in to an import source, and naming why it failed.

The connection follows the ``ImportSource``: implicit TLS or mandatory STARTTLS with the
certificate and host name verified (against ``ca_file`` alone when one is given), plain
text only on loopback (``domain.importsource.is_loopback``, the one rule the request
was checked with) or when explicitly insecure.

The password is sent with LOGIN when it is ASCII (imaplib encodes commands as ASCII),
with AUTHENTICATE PLAIN in UTF-8 (RFC 4616) otherwise. Nothing the server says in answer
to a login is kept: a server may echo the password back, quoted, escaped or cut, and no
masking catches every form. Only a known RFC 5530 response code is named.
"""

from __future__ import annotations

import re
import ssl
from typing import Any, Final

from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import (
    CapabilityError,
    IMAPClientAbortError,
    IMAPClientError,
    LoginError,
)

from application.importports import ImportSourceError
from domain.importsource import ImportSource, Security, is_loopback
from domain.text import neutralise
from infrastructure.imap import as_text, close_connection
from infrastructure.imapguard import LiteralTooLarge, guard

__all__ = ["DEADLINE_FACTOR", "as_source_error", "connect", "is_loopback"]

# An answer must be complete within this many socket timeouts (imapguard).
DEADLINE_FACTOR: Final = 10
_CODES: Final = frozenset(
    {
        "AUTHENTICATIONFAILED",
        "AUTHORIZATIONFAILED",
        "UNAVAILABLE",
        "EXPIRED",
        "PRIVACYREQUIRED",
        "CONTACTADMIN",
        "LIMIT",
    }
)
_CODE: Final = re.compile(r"\[([A-Z]+)\]")


def _server_text(exc: BaseException) -> str:
    """What the server or library said, safe to show: no controls, bounded."""
    text = as_text(exc.args[0]) if exc.args else type(exc).__name__
    return neutralise(text, max_length=200)


def _login_refusal(exc: BaseException) -> str:
    """The RFC 5530 code of a refused login, if a known one; never the server's text."""
    text = as_text(exc.args[0]) if exc.args else ""
    codes = [code for code in _CODE.findall(text.upper()) if code in _CODES]
    return f" [{codes[0]}]" if codes else ""


def as_source_error(
    exc: BaseException, where: str, *, login: bool = False
) -> ImportSourceError:
    """The named reason for a failure while talking to ``where`` (host:port).

    ``login``: the failure answered a login, so the server's text is dropped.
    """
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        detail = f"{where}: TLS failed: {_server_text(exc)}"
        return ImportSourceError("tls_failed", detail, transient=False)
    if isinstance(exc, LoginError) or (login and isinstance(exc, IMAPClientError)):
        code = _login_refusal(exc)
        if code == " [UNAVAILABLE]":  # RFC 5530: the server's authentication is down
            detail = f"{where}: login unavailable{code}"
            return ImportSourceError("unreachable", detail, transient=True)
        if isinstance(exc, LoginError) or not isinstance(exc, IMAPClientAbortError):
            detail = f"{where}: login refused{code}"
            return ImportSourceError("authentication_failed", detail, transient=False)
    if isinstance(exc, LiteralTooLarge):
        return ImportSourceError("too_large", f"{where}: {exc}", transient=False)
    if isinstance(exc, IMAPClientAbortError | OSError | EOFError):
        said = type(exc).__name__ if login else _server_text(exc)
        detail = f"{where}: connection lost: {said}"
        return ImportSourceError("unreachable", detail, transient=True)
    said = type(exc).__name__ if login else _server_text(exc)
    return ImportSourceError("source_refused", f"{where}: {said}", transient=False)


def _ssl_context(source: ImportSource, where: str) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=source.ca_file)
    except (OSError, ssl.SSLError) as exc:
        detail = (
            f"{where}: cannot use the CA file {source.ca_file!r}: {_server_text(exc)}"
        )
        raise ImportSourceError("tls_failed", detail, transient=False) from None


def _login(client: Any, user: str, password: str, where: str) -> None:  # noqa: ANN401 - imapclient is untyped
    if (user + password).isascii():
        client.login(user, password)
        return
    if not client.has_capability("AUTH=PLAIN"):
        detail = (
            f"{where}: the user name or password has non-ASCII characters, which IMAP"
            " LOGIN cannot send, and the server does not offer AUTHENTICATE PLAIN"
        )
        raise ImportSourceError("authentication_failed", detail, transient=False)
    client.plain_login(user, password)


def connect(
    source: ImportSource,
    password: str,
    timeout: float,
    max_literal: int,
) -> Any:  # noqa: ANN401 - imapclient is untyped
    """A logged-in IMAPClient, or ImportSourceError naming why not."""
    where = f"{source.host}:{source.port}"
    if source.security is Security.NONE and not (
        source.insecure or is_loopback(source.host)
    ):
        detail = f"{where}: plain text is refused off loopback; use tls or starttls"
        raise ImportSourceError("tls_failed", detail, transient=False)
    context = None if source.security is Security.NONE else _ssl_context(source, where)
    try:
        client = IMAPClient(
            source.host,
            port=source.port,
            ssl=source.security is Security.TLS,
            ssl_context=context,
            timeout=SocketTimeout(connect=timeout, read=timeout),
        )
    except (IMAPClientError, OSError, EOFError) as exc:
        raise as_source_error(exc, where) from None
    guard(client, deadline=timeout * DEADLINE_FACTOR, max_literal=max_literal)
    try:
        if source.security is Security.STARTTLS:
            if not client.has_capability("STARTTLS"):
                detail = f"{where}: the server does not offer STARTTLS"
                raise ImportSourceError("tls_failed", detail, transient=False)  # noqa: TRY301 - closed below
            client.starttls(context)
    except ImportSourceError:
        close_connection(client)
        raise
    except CapabilityError:
        close_connection(client)
        detail = f"{where}: the server does not offer STARTTLS"
        raise ImportSourceError("tls_failed", detail, transient=False) from None
    except (IMAPClientError, OSError, EOFError) as exc:
        close_connection(client)
        raise as_source_error(exc, where) from None
    try:
        _login(client, source.user, password, where)
    except ImportSourceError:
        close_connection(client)
        raise
    except (IMAPClientError, OSError, EOFError) as exc:
        close_connection(client)
        raise as_source_error(exc, where, login=True) from None
    client.normalise_times = False  # aware datetimes, not local naive ones
    return client
