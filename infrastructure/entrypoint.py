"""The ``mailhost`` console script: ``deliver`` at a running listener's speed.

An MTA runs ``mailhost deliver`` once per message. Importing the engine costs most of a
second, so when ``MAILHOST_LMTP`` names a ``mailhost lmtp`` listener (``unix:/path`` or
``IP:PORT``) this module forwards the message to it over LMTP (RFC 2033) with
``infrastructure.lmtpclient`` and prints the decision the listener replied, importing
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

A decided message must cost ~40 ms all in (issue 13: half ``dovecot-lda``'s speed), so
the decided path imports nothing but this package's four small modules and C modules
(``_socket``, ``_json``): no ``typing``, ``re``, ``json``, ``datetime`` or ``pathlib``
(each 1-5 ms); refusals, ``--received-at`` and the fallback import what they need when
they need it. A test lists what the fastest start (``infrastructure/mtapipe.py``) loads.
"""

from __future__ import annotations

import os
import sys

from domain.errors import InvalidInput
from infrastructure.deliverargs import Request, parse_request, received_at
from infrastructure.lmtpclient import (
    Client,
    LmtpError,
    Reply,
    crlf,
    extensions,
)
from infrastructure.lmtpwire import ENV_LMTP, listen_parts, parse_decided

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~2 ms)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

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
QUIT_TIMEOUT_S = 1.0  # the decision is printed by then: QUIT is a courtesy
# The LHLO keyword and MAIL parameter that carry the MTA's --received-at, in UTC (only
# xtext characters, RFC 3461 section 4: no "+"), e.g. 2026-06-01T08:00:00Z.
RECEIVED_AT = "X-RECEIVED-AT"
UNKNOWN_ADDRESS = "unknown-address"  # the check of the listener's "no such address"
CLIENT_NAME = "mailhost-deliver"  # the LHLO argument
_UNWIRED = "<>\x7f"  # with blanks and controls: what ends a path between brackets
_GREETING, _OK, _CONTINUE, _NO_MAILBOX = 220, 250, 354, 550


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
    if sys.flags.no_site:  # `python -S -m infrastructure.entrypoint`: the fast start
        import site  # noqa: PLC0415 - the engine's dependencies live in site-packages

        site.main()
    from infrastructure.cli import main as full  # noqa: PLC0415 - the engine only here

    status = full(words)
    if words[:1] == ["deliver"]:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


def forward(request: Request, where: str) -> int | None:
    """The exit status of the message forwarded to the listener at ``where``; None when
    it is decided in this process instead (nothing has been read or sent then)."""
    try:
        address = listen_parts(where)
    except ValueError:
        return None  # the full command names the variable (a configuration error)
    try:
        at = received_at(request.received_at)
    except InvalidInput as e:
        return _said(_Refusal(EX_DATAERR, str(e)))
    greeted = _listener_for(request, address, at)
    if greeted is None:
        return None
    lmtp, offered = greeted
    try:
        decision = _forwarded(lmtp, offered, request, at)
    except _Refusal as refusal:
        return _said(refusal)
    finally:
        _hang_up(lmtp)
    sys.stdout.write(printed(decision) + "\n")  # ASCII JSON, as the in-process command
    sys.stdout.flush()
    return 0


def printed(decision: dict[str, object]) -> str:
    """``json.dumps(decision)`` as the in-process command prints it, by the C encoder
    ``json.dumps`` itself uses with its defaults (``json``'s import compiles ``re``
    patterns: ~5 ms of a thin client's ~20); a test pins the two alike."""
    try:
        from _json import encode_basestring_ascii, make_encoder  # noqa: PLC0415 - CPython's accelerator
    except ImportError:  # another interpreter: the module it accelerates
        import json  # noqa: PLC0415 - only where the accelerator is missing

        return json.dumps(decision)
    encode = make_encoder(
        {},  # markers: check_circular
        _unserialisable,
        encode_basestring_ascii,  # ensure_ascii
        None,  # indent
        ": ",
        ", ",
        False,  # noqa: FBT003 - sort_keys, positional in the C signature
        False,  # noqa: FBT003 - skipkeys
        True,  # noqa: FBT003 - allow_nan
    )
    return "".join(encode(decision, 0))


def _unserialisable(value: object) -> object:
    msg = f"Object of type {type(value).__name__} is not JSON serializable"
    raise TypeError(msg)


Greeted = tuple[Client, dict[str, str]]


def _listener_for(
    request: Request, address: str | tuple[str, int], at: datetime | None
) -> Greeted | None:
    """A greeted client of a listener that takes this envelope as it is, and the
    extensions it offered; or None."""
    if not (_wired(request.recipient) and _wired(request.sender)):
        return None
    greeted = _connected(address)
    if greeted is not None and not _carries(greeted[1], request, at):
        _hang_up(greeted[0])
        return None
    return greeted


def _forwarded(
    lmtp: Client, offered: dict[str, str], request: Request, at: datetime | None
) -> dict[str, object]:
    # At most one byte more than the limit, as in process: a message of any size costs
    # at most that much memory. One read: BufferedReader.read(n) loops to EOF itself.
    raw = sys.stdin.buffer.read(MAX_MESSAGE_BYTES + 1)
    if len(raw) > MAX_MESSAGE_BYTES:
        text = f"the message is larger than {MAX_MESSAGE_BYTES} bytes"
        raise _Refusal(EX_DATAERR, text)
    try:
        return _transaction(lmtp, offered, request, at, raw)
    except (OSError, LmtpError) as e:
        raise _went_away(e) from e


def _wired(address: str) -> bool:
    """Whether LMTP carries ``address`` as it is: UTF-8, nothing that ends the path
    (angle brackets, blanks, controls)."""
    try:
        address.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: bytes that were not UTF-8
        return False
    return not any(c in _UNWIRED or c < " " or c.isspace() for c in address)


def _connected(address: str | tuple[str, int]) -> Greeted | None:
    """A greeted client (LHLO answered), or None: no listener answered in time."""
    try:
        lmtp = Client.connect(address, CONNECT_TIMEOUT_S)
    except (OSError, ValueError):  # ValueError: a host that is no IP literal
        return None
    try:
        hello = lmtp.reply()
        if hello.code == _GREETING:
            hello = lmtp.command(f"LHLO {CLIENT_NAME}")
    except (OSError, LmtpError):
        hello = Reply(0, [])
    if hello.code != _OK:  # a 421 greeting (too many connections, stopping), or none
        _hang_up(lmtp)
        return None
    lmtp.settimeout(TRANSACTION_TIMEOUT_S)
    return lmtp, extensions(hello)


def _carries(offered: dict[str, str], request: Request, at: datetime | None) -> bool:
    """Whether this listener takes the envelope as given (else: decided in process)."""
    if not (request.recipient + request.sender).isascii() and "smtputf8" not in offered:
        return False
    return at is None or RECEIVED_AT.lower() in offered


def _transaction(
    lmtp: Client,
    offered: dict[str, str],
    request: Request,
    at: datetime | None,
    raw: bytes,
) -> dict[str, object]:
    """MAIL, RCPT, DATA; the decision replied for the recipient, or ``_Refusal``."""
    wire = crlf(raw)
    options: list[str] = []
    if "size" in offered:
        options.append(f"SIZE={len(wire)}")
    if not wire.isascii() and "8bitmime" in offered:
        options.append("BODY=8BITMIME")
    encoding = "ascii"
    if not (request.recipient + request.sender).isascii():
        options.append("SMTPUTF8")
        encoding = "utf-8"
    if at is not None:
        options.append(f"{RECEIVED_AT}={at.isoformat().replace('+00:00', 'Z')}")
    mail = " ".join([f"MAIL FROM:<{request.sender}>", *options])
    envelope = [mail, f"RCPT TO:<{request.recipient}>"]
    text = _expect(_envelope_and_message(lmtp, offered, envelope, wire, encoding))
    try:
        decision = parse_decided(request.recipient, text)
    except ValueError as e:
        # Told it was decided but not what: the MTA retries, and the sender's window
        # keeps the second decision from replying twice (RSP-4).
        raise _Refusal(EX_TEMPFAIL, f"temporary failure, unreadable reply: {e}") from e
    if decision.get("check") == UNKNOWN_ADDRESS:
        raise _Refusal(EX_NOUSER, str(decision.get("reason") or "unknown address"))
    return decision


def _envelope_and_message(
    lmtp: Client,
    offered: dict[str, str],
    envelope: list[str],
    wire: bytes,
    encoding: str,
) -> Reply:
    """MAIL and RCPT (``envelope``) and DATA, in one write where the listener offers
    PIPELINING (RFC 2920 section 3.1: two round trips fewer), then the message; the
    first refusal, or the recipient's reply after the message."""
    if "pipelining" not in offered:
        for command in envelope:
            _expect(lmtp.command(command, encoding))
        return lmtp.data(wire)
    *replies, go = lmtp.pipelined([*envelope, "DATA"], encoding)
    refused = [reply for reply in replies if reply.code // 100 != 2]  # noqa: PLR2004 - 2xx: SMTP's success class
    if go.code != _CONTINUE:
        return refused[0] if refused else go
    if refused:  # a 354 with no recipient (section 3.1 forbids it): end it empty
        lmtp.message(b"")
        return refused[0]
    return lmtp.message(wire)


def _expect(reply: Reply) -> str:
    """A positive reply's text; ``_Refusal`` with the exit status otherwise."""
    code, text = reply.code, reply.text
    if code // 100 == 2 or code == _CONTINUE:  # noqa: PLR2004 - 2yz
        return text
    from domain.text import neutralise  # noqa: PLC0415 - a refusal's cost only

    said = neutralise(" ".join(text.split()), max_length=300)
    if code // 100 == 4:  # noqa: PLR2004 - 4yz: transient (RFC 5321 section 4.2.1)
        raise _Refusal(EX_TEMPFAIL, f"temporary failure, nothing decided: {said}")
    if code == _NO_MAILBOX and said.startswith("5.1.1 "):  # RFC 3463: bad mailbox
        raise _Refusal(EX_NOUSER, said)
    # The engine's own refusal text where the listener quotes it (554 5.6.0).
    _, refused, engine_text = said.partition(" refused: ")
    raise _Refusal(EX_DATAERR, engine_text if refused else f"refused: {code} {said}")


def _went_away(error: Exception) -> _Refusal:
    from domain.text import neutralise  # noqa: PLC0415 - a failure's cost only

    text = neutralise(f"{type(error).__name__}: {error}", max_length=300)
    return _Refusal(EX_TEMPFAIL, f"temporary failure, the listener went away: {text}")


def _said(refusal: _Refusal) -> int:
    """The refusal on stderr in one line, as the in-process command says it."""
    from domain.text import printable  # noqa: PLC0415 - a refusal's cost only

    print(printable(f"mailhost: {refusal}"), file=sys.stderr)  # noqa: T201 - stderr
    return refusal.status


def _hang_up(lmtp: Client) -> None:
    """QUIT where the listener still listens; the socket closed in any case."""
    try:
        lmtp.settimeout(QUIT_TIMEOUT_S)
        lmtp.command("QUIT")
    except (OSError, LmtpError):
        pass
    finally:
        lmtp.close()


if (
    __name__ == "__main__"
):  # `python -S /srv/mh/infrastructure/entrypoint.py deliver ...`
    sys.exit(main())
