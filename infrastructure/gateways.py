"""What the push and SMS gateways share: a JSON-lines outbox, and a signed HTTP POST.

The embedded default writes each message as one JSON line to a 0600 file in the 0700
outbox (it holds codes, like the mail outbox next to it). The HTTP form posts the same
JSON to the provider's gateway with ``X-Mailhost-Signature: sha256=<hex>``, the
HMAC-SHA256 of the exact body under a key shared with the gateway, so the gateway can
refuse what the engine did not send. Nothing here logs: a message carries a code, and an
error names the gateway and the status, never the body.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import ipaddress
import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar, Final, Protocol
from urllib.parse import urlsplit

from infrastructure.files import PRIVATE_DIR, PRIVATE_FILE, secure_outbox

SIGNATURE_HEADER: Final = "X-Mailhost-Signature"
MIN_KEY_BYTES: Final = 32
DEFAULT_TIMEOUT_S: Final = 10.0
_OK = range(200, 300)


class GatewayError(RuntimeError):
    """The gateway did not take the message (unreachable, timed out, or not 2xx).

    Raised, never swallowed: the job that sends the push or the SMS fails and is retried.
    """


def signature(key: bytes, body: bytes) -> str:
    """The header's value: ``sha256=`` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def encode(message: Mapping[str, object]) -> bytes:
    """One line of compact JSON, keys sorted (the signed bytes are reproducible)."""
    return json.dumps(
        message, ensure_ascii=False, sort_keys=True, separators=(",", ":")
    ).encode()


class JsonLinesOutbox:
    """Appends one JSON line per message; concurrent writers are serialised by flock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        secure_outbox(path.parent)

    def __repr__(self) -> str:
        return f"JsonLinesOutbox({str(self.path)!r})"

    def append(self, message: Mapping[str, object]) -> None:
        line = encode(message) + b"\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line)
        finally:
            os.close(fd)  # closing releases the lock


class SignedPoster:
    """POSTs signed JSON to one URL; returns on 2xx, raises ``GatewayError`` otherwise.

    https is required except on loopback (a gateway on the same host, and the tests):
    the body carries codes. Redirects are not followed (a 3xx is an error): the signed
    body goes where it was configured to go, or nowhere.
    """

    def __init__(
        self, url: str, key: bytes, *, what: str, timeout: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self._where = check_url(url, what)
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"the {what} key must have at least {MIN_KEY_BYTES} bytes")
        if not 0 < timeout <= 300:  # noqa: PLR2004 - five minutes is already too long
            raise ValueError(f"the {what} timeout must be 0 to 300 seconds")
        self._url = url
        self._key = key
        self._what = what
        self._timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirect)

    def __repr__(self) -> str:
        return f"SignedPoster({self._what} at {self._where})"

    def post(self, message: Mapping[str, object]) -> None:
        body = encode(message)
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self._url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: signature(self._key, body),
            },
        )
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise GatewayError(
                f"the {self._what} at {self._where} could not be reached ({reason})"
            ) from None
        if status not in _OK:
            raise GatewayError(
                f"the {self._what} at {self._where} refused the message (HTTP {status})"
            )


def check_url(url: str, what: str) -> str:
    """``host:port`` of a usable gateway URL, for messages; ValueError otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError(f"the {what} URL is not a URL") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"the {what} URL must be https://host/path")
    if parts.username or parts.password:
        raise ValueError(f"the {what} URL must not carry a user or password")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise ValueError(f"the {what} URL must be https (http only on loopback)")
    return f"{parts.hostname}:{port or (443 if parts.scheme == 'https' else 80)}"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_: object, **__: object) -> None:
        return None


class Delivering(Protocol):
    """What a gateway's ``send`` builds its message for: either form below."""

    def deliver(self, message: Mapping[str, object]) -> None: ...


class OutboxGateway:
    """The embedded default of a gateway: ``$MAILHOST_HOME/outbox/<name>``, 0600."""

    outbox_name: ClassVar[str]

    def __init__(self, outbox: Path) -> None:
        self._file = JsonLinesOutbox(outbox / self.outbox_name)

    @property
    def path(self) -> Path:
        return self._file.path

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    def deliver(self, message: Mapping[str, object]) -> None:
        self._file.append(message)


class HttpGateway:
    """POSTs each message as signed JSON to the provider's gateway."""

    what: ClassVar[str]

    def __init__(
        self, url: str, key: bytes, timeout: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self._poster = SignedPoster(url, key, what=self.what, timeout=timeout)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._poster!r})"

    def deliver(self, message: Mapping[str, object]) -> None:
        self._poster.post(message)
