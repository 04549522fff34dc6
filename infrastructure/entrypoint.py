"""The ``mailhost`` console script: ``deliver`` at a running listener's speed.

An MTA runs ``mailhost deliver`` once per message. Importing the engine costs most of a
second, so when ``MAILHOST_LMTP`` names a ``mailhost lmtp`` listener (``unix:/path`` or
``IP:PORT``) this module forwards the message to it over LMTP (RFC 2033) with the
standard library's client and prints the decision the listener replied, importing
neither the engine nor ``infrastructure.cli``. It exits as a pipe transport expects
(sysexits.h): 0 decided, 75 (EX_TEMPFAIL) when nothing could be decided (a 4xx, or the
listener went away during the transaction: the MTA delivers again, and the sender's
window keeps a second decision from replying twice, RSP-4), 65 (EX_DATAERR) for bad
input, 67 (EX_NOUSER) for an address this engine does not host.

Whatever the thin path cannot carry exactly goes to the full command, which decides in
this process as it always has: no listener answering at connect, a command line other
than the plain flags (help, a usage error, an abbreviation: argparse then says what is
wrong, as ever), an envelope address the wire cannot hold unambiguously, a
``--received-at`` the listener does not take. Every other command goes straight there.
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from domain.errors import InvalidInput
from domain.text import neutralise, printable
from infrastructure.lmtpwire import ENV_LMTP, ListenAddress, parse_decided, parse_listen

# sysexits.h, as a pipe transport (Postfix pipe(8), Exim) reads them.
EX_DATAERR = 65
EX_NOUSER = 67
EX_TEMPFAIL = 75
# application.replydelivery.MAX_MESSAGE_BYTES, which cannot be imported here without
# the engine behind it; a test pins the two equal.
MAX_MESSAGE_BYTES = 50 * 1024 * 1024
# Connect, greeting and LHLO: a listener that does not answer in this time is treated as
# absent (the message is decided in this process). The transaction may take longer: a
# decision waits for the listener's pool under load.
CONNECT_TIMEOUT_S = 5.0
TRANSACTION_TIMEOUT_S = 60.0
# The LHLO keyword and MAIL parameter that carry the MTA's --received-at, in UTC (only
# xtext characters, RFC 3461 section 4: no "+"), e.g. 2026-06-01T08:00:00Z.
RECEIVED_AT = "X-RECEIVED-AT"
UNKNOWN_ADDRESS = "unknown-address"  # the check of the listener's "no such address"
_FLAGS = {
    "--recipient": "recipient",
    "--sender": "sender",
    "--received-at": "received_at",
    "--home": "home",
}
# Characters an envelope address cannot carry between angle brackets unambiguously.
_UNWIRED = re.compile(r"[<>\s\x00-\x1f\x7f]")
_EOL = re.compile(rb"\r\n|\n|\r(?!\n)")
_GREETING, _OK, _CONTINUE, _NO_MAILBOX = 220, 250, 354, 550


class Request(NamedTuple):
    """The arguments of ``mailhost deliver`` (not attrs: ~25 ms of import for one value)."""

    recipient: str
    sender: str
    received_at: str | None = None
    home: str | None = None


class _Refusal(Exception):  # noqa: N818 - an outcome, carried to the one place that exits
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    where = os.environ.get(ENV_LMTP, "").strip()
    if words[:1] == ["deliver"] and where:
        request = parse_request(words[1:])
        if request is not None:
            status = forward(request, where)
            if status is not None:
                return status
    return _in_process(words)


def _in_process(words: list[str]) -> int:
    """The full command. ``deliver`` then leaves without the interpreter's teardown of
    every engine module (~100 ms): its output is flushed and its engine closed."""
    from infrastructure.cli import main as full  # noqa: PLC0415 - the engine only here

    status = full(words)
    if words[:1] == ["deliver"]:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


def parse_request(words: Sequence[str]) -> Request | None:
    """``deliver``'s flags as argparse reads them, or None for anything else.

    None sends the words to the full parser, whose help and usage errors are the ones
    every ``mailhost`` command gives; what it accepts and this does not merely costs
    the in-process path.
    """
    found: dict[str, str] = {}
    rest = iter(words)
    for word in rest:
        name, equals, value = word.partition("=")
        if name not in _FLAGS:
            return None
        if not equals:
            following = next(rest, None)
            if following is None or following.startswith("-"):
                return None
            value = following
        found[_FLAGS[name]] = value
    if "recipient" not in found or "sender" not in found:
        return None
    return Request(**found)


def received_at(text: str | None) -> datetime | None:
    """``--received-at`` as ``infrastructure.cli.deliver`` reads it, with its errors (a
    test pins the two alike)."""
    if not text:
        return None
    try:
        received = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"--received-at {text!r} is not ISO 8601") from None
    if received.tzinfo is None:
        raise InvalidInput(
            "--received-at needs a UTC offset, e.g. 2026-11-28T10:00+01:00"
        )
    try:
        return received.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 has no UTC instant
        raise InvalidInput(
            f"--received-at {text!r} is outside the range of dates this engine keeps"
        ) from None


def forward(request: Request, where: str) -> int | None:
    """The exit status of the message forwarded to the listener at ``where``; None when
    it is decided in this process instead (nothing has been read or sent then)."""
    try:
        address = parse_listen(where)
    except ValueError:
        return None  # the full command names the variable (a configuration error)
    try:
        at = received_at(request.received_at)
    except InvalidInput as e:
        return _said(_Refusal(EX_DATAERR, str(e)))
    lmtp = _listener_for(request, address, at)
    if lmtp is None:
        return None
    try:
        decision = _forwarded(lmtp, request, at)
    except _Refusal as refusal:
        return _said(refusal)
    finally:
        _hang_up(lmtp)
    print(json.dumps(decision))  # noqa: T201 - ASCII JSON, as the in-process command prints
    sys.stdout.flush()
    return 0


def _listener_for(
    request: Request, address: ListenAddress, at: datetime | None
) -> smtplib.LMTP | None:
    """A greeted client of a listener that takes this envelope as it is, or None."""
    if not (_wired(request.recipient) and _wired(request.sender)):
        return None
    lmtp = _connected(address)
    if lmtp is not None and not _carries(lmtp, request, at):
        _hang_up(lmtp)
        return None
    return lmtp


def _forwarded(
    lmtp: smtplib.LMTP, request: Request, at: datetime | None
) -> dict[str, object]:
    # At most one byte more than the limit, as in process: a message of any size costs
    # at most that much memory.
    raw = sys.stdin.buffer.read(MAX_MESSAGE_BYTES + 1)
    if len(raw) > MAX_MESSAGE_BYTES:
        text = f"the message is larger than {MAX_MESSAGE_BYTES} bytes"
        raise _Refusal(EX_DATAERR, text)
    try:
        return _transaction(lmtp, request, at, raw)
    except (OSError, smtplib.SMTPException) as e:
        raise _went_away(e) from e


def _wired(address: str) -> bool:
    """Whether LMTP carries ``address`` as it is: UTF-8, nothing that ends the path."""
    try:
        address.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: bytes that were not UTF-8
        return False
    return _UNWIRED.search(address) is None


def _connected(address: ListenAddress) -> smtplib.LMTP | None:
    """A greeted client (LHLO answered), or None: no listener answered in time."""
    lmtp = smtplib.LMTP(timeout=CONNECT_TIMEOUT_S)
    try:
        if address.path is not None:
            code, _ = lmtp.connect(str(address.path))
        else:
            code, _ = lmtp.connect(str(address.host), address.port or 0)
        if code == _GREETING:
            code, _ = lmtp.ehlo()  # LHLO: smtplib.LMTP sends it for ehlo
    except (OSError, smtplib.SMTPException):
        code = 0
    if code != _OK:  # a 421 greeting (too many connections, stopping) among others
        _hang_up(lmtp)
        return None
    if lmtp.sock is not None:
        lmtp.sock.settimeout(TRANSACTION_TIMEOUT_S)
    return lmtp


def _carries(lmtp: smtplib.LMTP, request: Request, at: datetime | None) -> bool:
    """Whether this listener takes the envelope as given (else: decided in process)."""
    if not (request.recipient + request.sender).isascii() and not lmtp.has_extn(
        "smtputf8"
    ):
        return False
    return at is None or lmtp.has_extn(RECEIVED_AT.lower())


def _transaction(
    lmtp: smtplib.LMTP, request: Request, at: datetime | None, raw: bytes
) -> dict[str, object]:
    """MAIL, RCPT, DATA; the decision replied for the recipient, or ``_Refusal``."""
    wire = _EOL.sub(
        b"\r\n", raw
    )  # RFC 5321 section 2.3.8: lines end in CRLF on the wire
    options: list[str] = []
    if lmtp.has_extn("size"):
        options.append(f"SIZE={len(wire)}")
    if not wire.isascii() and lmtp.has_extn("8bitmime"):
        options.append("BODY=8BITMIME")
    if not (request.recipient + request.sender).isascii():
        options.append("SMTPUTF8")
        lmtp.command_encoding = "utf-8"
    if at is not None:
        options.append(f"{RECEIVED_AT}={at.isoformat().replace('+00:00', 'Z')}")
    _expect(lmtp.docmd("MAIL", " ".join([f"FROM:<{request.sender}>", *options])))
    _expect(lmtp.docmd("RCPT", f"TO:<{request.recipient}>"))
    reply: tuple[int, bytes | str]
    try:
        reply = lmtp.data(wire)
    except smtplib.SMTPDataError as e:
        reply = (e.smtp_code, e.smtp_error)
    _, text = _expect(reply)
    try:
        decision = parse_decided(request.recipient, text)
    except ValueError as e:
        # Told it was decided but not what: the MTA retries, and the sender's window
        # keeps the second decision from replying twice (RSP-4).
        raise _Refusal(EX_TEMPFAIL, f"temporary failure, unreadable reply: {e}") from e
    if decision.get("check") == UNKNOWN_ADDRESS:
        raise _Refusal(EX_NOUSER, str(decision.get("reason") or "unknown address"))
    return decision


def _expect(reply: tuple[int, bytes | str]) -> tuple[int, str]:
    """A positive reply's code and text; ``_Refusal`` with the exit status otherwise."""
    code, raw = reply
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
    if code // 100 == 2 or code == _CONTINUE:  # noqa: PLR2004 - 2yz
        return code, text
    said = neutralise(" ".join(text.split()), max_length=300)
    if code // 100 == 4:  # noqa: PLR2004 - 4yz: transient (RFC 5321 section 4.2.1)
        raise _Refusal(EX_TEMPFAIL, f"temporary failure, nothing decided: {said}")
    if code == _NO_MAILBOX and said.startswith("5.1.1 "):  # RFC 3463: bad mailbox
        raise _Refusal(EX_NOUSER, said)
    # The engine's own refusal text where the listener quotes it (554 5.6.0).
    _, refused, engine_text = said.partition(" refused: ")
    raise _Refusal(EX_DATAERR, engine_text if refused else f"refused: {code} {said}")


def _went_away(error: Exception) -> _Refusal:
    text = neutralise(f"{type(error).__name__}: {error}", max_length=300)
    return _Refusal(EX_TEMPFAIL, f"temporary failure, the listener went away: {text}")


def _said(refusal: _Refusal) -> int:
    """The refusal on stderr in one line, as the in-process command says it."""
    print(printable(f"mailhost: {refusal}"), file=sys.stderr)  # noqa: T201 - stderr
    return refusal.status


def _hang_up(lmtp: smtplib.LMTP) -> None:
    """QUIT where the listener still listens; the socket closed in any case."""
    try:
        if lmtp.sock is not None:
            lmtp.quit()
    except (OSError, smtplib.SMTPException):
        pass
    finally:
        lmtp.close()
