"""The LMTP listener's protocol (RFC 2033): aiosmtpd's LMTP session in front of ``deliver``.

An MTA hands a message to many recipients in one transaction; after DATA each accepted
recipient gets its own reply (RFC 2033 section 4.2, formats in ``infrastructure.lmtpwire``).
The decision is the engine's own use case, run in a bounded thread pool so the event
loop never waits on the store; concurrent decisions for one sender are kept to one reply
by the event store's optimistic concurrency (RSP-9), not by anything here.

What aiosmtpd does not bound, this module does: of the message only the bytes the
decision can read are kept (the header block, :data:`KEPT`), the rest is counted against
SIZE and dropped as it arrives, so a transaction costs at most ``KEPT`` bytes whatever its
size; a connection beyond the cap is told ``421`` before any session exists; a line of
command text is bounded by aiosmtpd's reader (1001 octets) and its command limits.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import AnyStr

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import Envelope, Session
from attrs import frozen

from application.replydelivery import MAX_MESSAGE_BYTES
from domain.address import EmailAddress, shown
from domain.errors import DomainError, InvalidInput, NotFound
from domain.incoming import MAX_HEADER_BYTES
from domain.replyplan import Decision
from domain.text import forbidden_character, neutralise
from infrastructure.lmtpwire import decided_reply, plain_path

log = logging.getLogger("mailhost.lmtp")

# header_block reads at most MAX_HEADER_BYTES + 4 bytes: any longer prefix decides alike.
KEPT = MAX_HEADER_BYTES + 8
MAX_PATH = 256  # octets of a reverse or forward path (RFC 5321 section 4.5.3.1.3)
MAX_RECIPIENTS = 100  # RFC 5321 section 4.5.3.1.8: the minimum a server must take
# The idle timer is re-armed after this many bytes of DATA, not per line: a large
# message on a slow link is not idle, and a timer per line would cost more than the line.
REARM_EVERY = 64 * 1024
COMMAND_LIMIT = 512  # RFC 5321 section 4.5.3.1.4
MAIL_EXTENSIONS = 26 + 10  # SIZE= and SMTPUTF8 lengthen MAIL (as aiosmtpd counts them)

Decide = Callable[[str, str, bytes], Decision]


@frozen
class ListenerLimits:
    """What one listener process allows; every default is an RFC's or the engine's own."""

    max_size: int = MAX_MESSAGE_BYTES
    workers: int = 4
    max_connections: int = 1000
    timeout: float = 300.0  # RFC 5321 section 4.5.3.2.7: the server's 5 minutes
    grace: float = 30.0
    reject_unknown: bool = False
    hostname: str = "localhost"


def unknown_address(recipient: str) -> dict[str, object]:
    """The decision for a recipient this engine does not host (``deliver`` refuses it)."""
    return {
        "reply": False,
        "reason": f"no such address here: {shown(recipient)}",
        "rule": None,
        "check": "unknown-address",
    }


def _ascii(text: str) -> str:
    return neutralise(text, max_length=300).encode("ascii", "replace").decode()


def _bad_path(address: str) -> bool:
    """Not UTF-8 (lone surrogates of undecodable bytes), a control, or too long."""
    try:
        octets = address.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return len(octets) > MAX_PATH or forbidden_character(address) is not None


# An MTA names the same recipients over and over; parsing one costs more than the rest
# of the RCPT command. Bounded: at most this many paths of at most MAX_PATH octets.
@functools.lru_cache(maxsize=4096)
def _valid_recipient(address: str) -> bool:
    try:
        EmailAddress.parse(address, what="recipient")
    except InvalidInput:
        return False
    return True


class Listener:
    """What every connection of one listener shares: the decision, the pool, the cap."""

    def __init__(self, decide: Decide, limits: ListenerLimits, pool: Executor) -> None:
        self.decide = decide
        self.limits = limits
        self.pool = pool
        self.sessions: set[LmtpSession] = set()
        self.stopping = False
        self.idle = asyncio.Event()
        # A decider process (``infrastructure.lmtpdecider``) tells its parent here.
        self.on_close: Callable[[LmtpSession], None] | None = None

    def protocol(self) -> asyncio.Protocol:
        """A session, or a ``421`` refusal when the cap is reached or the listener stops."""
        if self.stopping or len(self.sessions) >= self.limits.max_connections:
            return _Refused()
        return LmtpSession(self)

    def opened(self, session: LmtpSession) -> None:
        self.sessions.add(session)
        self.idle.clear()

    def closed(self, session: LmtpSession) -> None:
        self.sessions.discard(session)
        if self.on_close is not None:
            self.on_close(session)
        if not self.sessions:
            self.idle.set()

    def stop(self) -> None:
        """Take no new transaction; a session between transactions is closed now."""
        self.stopping = True
        if not self.sessions:
            self.idle.set()
        for session in list(self.sessions):
            if not session.in_transaction:
                session.goodbye()

    def abort(self) -> None:
        for session in list(self.sessions):
            session.goodbye()

    def replies(self, recipient: str, sender: str, message: bytes) -> list[str]:
        """One recipient's reply lines (run in the pool); never raises."""
        try:
            decision = self.decide(recipient, sender, message)
        except NotFound:
            if self.limits.reject_unknown:
                lines = [f"550 5.1.1 <{recipient}> unknown address"]
            else:
                lines = decided_reply(recipient, unknown_address(recipient))
        except DomainError as e:
            lines = [f"554 5.6.0 <{recipient}> refused: {_ascii(str(e))}"]
        except Exception as e:  # noqa: BLE001 - whatever failed, nothing was decided: 4xx
            log.warning(
                "nothing decided for %s: %s",
                shown(recipient),
                _ascii(f"{type(e).__name__}: {e}"),
            )
            return [f"451 4.3.0 <{recipient}> temporary failure, nothing decided"]
        else:
            out = decision.as_dict()
            if decision.reply:
                out["queued"] = True  # the send job is in the log; the relay sends it
            lines = decided_reply(recipient, out)
            log.info(
                "decided for %s from %s: %s",
                shown(recipient),
                shown(sender or "<>"),
                decision.reason[:120],
            )
        return lines


class _Refused(asyncio.Protocol):
    """Beyond the cap: one line and the door (RFC 5321 section 3.8), no session made."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.WriteTransport):
            transport.write(b"421 4.3.2 too many connections, try again later\r\n")
        transport.close()


class _Hooks:
    """aiosmtpd's handler hooks: envelope checks at MAIL and RCPT, LHLO's extensions."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener

    async def handle_EHLO(  # noqa: N802 - aiosmtpd's hook name (LHLO calls it)
        self,
        _server: LmtpSession,
        session: Session,
        _envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        first, *rest = responses
        return [first, "250-PIPELINING", "250-ENHANCEDSTATUSCODES", *rest]

    async def handle_MAIL(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: LmtpSession,
        _session: Session,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> str:
        if self.listener.stopping:
            server.closing_after_reply = True
            return "421 4.3.2 shutting down, try again later"
        if _bad_path(address):
            return "553 5.1.7 malformed sender address"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self,
        _server: LmtpSession,
        _session: Session,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 too many recipients"
        if _bad_path(address) or not _valid_recipient(address):
            return "553 5.1.3 malformed recipient address"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    async def handle_exception(self, error: Exception) -> str:
        log.warning("session failed: %s", _ascii(f"{type(error).__name__}: {error}"))
        return "451 4.3.0 internal error, try again later"


class LmtpSession(LMTP):
    """One connection: aiosmtpd's command loop, our DATA (bounded, one reply per RCPT)."""

    def __init__(self, listener: Listener) -> None:
        # aiosmtpd keeps command limits in one class-wide dict that every new session
        # clears and every LHLO grows: a per-session dict, so sessions cannot race.
        self.command_size_limits: collections.defaultdict[str, int] = (
            collections.defaultdict(lambda: COMMAND_LIMIT)
        )
        limits = listener.limits
        super().__init__(
            _Hooks(listener),
            data_size_limit=limits.max_size,
            enable_SMTPUTF8=True,
            hostname=limits.hostname,
            ident="mailhost LMTP",
            timeout=limits.timeout,
            loop=asyncio.get_running_loop(),
        )
        self.command_size_limits["MAIL"] = COMMAND_LIMIT + MAIL_EXTENSIONS
        self.listener = listener
        self.in_data = False
        self.closing_after_reply = False

    @property
    def in_transaction(self) -> bool:
        envelope: Envelope | None = self.envelope
        return self.in_data or bool(envelope is not None and envelope.mail_from)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.listener.opened(self)

    def connection_lost(self, error: Exception | None) -> None:
        self.listener.closed(self)
        super().connection_lost(error)

    def goodbye(self) -> None:
        transport = self.transport
        if transport is None:
            return
        if isinstance(transport, asyncio.WriteTransport):
            transport.write(b"421 4.3.2 shutting down, try again later\r\n")
        transport.close()

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's path reading, with the plain form an MTA sends read directly."""
        read = plain_path(arg)
        if read is None:
            return super()._getaddr(arg)
        limit = self.local_part_limit
        if limit and len(read[0].rpartition("@")[0]) > limit:
            return None, None
        return read

    async def push(self, status: AnyStr) -> None:
        await super().push(status)
        if self.closing_after_reply and self.transport is not None:
            self.transport.close()

    async def smtp_DATA(self, arg: str | None) -> None:  # noqa: N802 - aiosmtpd's name
        if await self.check_helo_needed("LHLO"):
            return
        envelope = self.envelope
        assert envelope is not None  # noqa: S101 - aiosmtpd makes one per session
        if not envelope.rcpt_tos:
            await self.push("503 5.5.1 need RCPT command")
            return
        if arg:
            await self.push("501 5.5.4 Syntax: DATA")
            return
        self.in_data = True
        try:
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            read = await self._read_message()
            if read is None:
                return  # the client went away mid-DATA: nothing was decided
            kept, size = read
            lines = await self._replies(envelope, kept, size)
            self.envelope = self._create_envelope()  # the post-DATA state
            self.in_data = False
            if self.listener.stopping:
                lines.append("421 4.3.2 shutting down, try again later")
                self.closing_after_reply = True
            await self.push("\r\n".join(lines))
        finally:
            self.in_data = False
            self._reset_timeout()

    async def _replies(self, envelope: Envelope, kept: bytes, size: int) -> list[str]:
        """Every accepted recipient's reply, in RCPT order (RFC 2033 section 4.2)."""
        recipients: Sequence[str] = envelope.rcpt_tos
        if size > self.listener.limits.max_size:
            limit = self.listener.limits.max_size
            return [
                f"552 5.3.4 <{r}> message exceeds the size limit of {limit} bytes"
                for r in recipients
            ]
        sender = "" if envelope.mail_from == "<>" else str(envelope.mail_from)
        loop = asyncio.get_running_loop()
        found = await asyncio.gather(
            *(
                loop.run_in_executor(
                    self.listener.pool, self.listener.replies, r, sender, kept
                )
                for r in recipients
            )
        )
        return [line for lines in found for line in lines]

    async def _read_message(self) -> tuple[bytes, int] | None:
        """The message up to its end (``.``): its first :data:`KEPT` bytes and its size.

        Dot-stuffing removed (RFC 5321 section 4.5.2); a line longer than the reader's
        limit arrives in pieces, only the first of which starts a line. None: EOF.
        """
        reader: asyncio.StreamReader = self._reader
        kept = bytearray()
        size = unarmed = 0
        line_start = True
        while True:
            try:
                line = await reader.readuntil(b"\r\n")
            except asyncio.LimitOverrunError as e:
                line = await reader.read(e.consumed)
            except asyncio.IncompleteReadError:
                return None
            if not line:
                return None
            if line_start:
                if line == b".\r\n":
                    return bytes(kept), size
                if line[:1] == b".":
                    line = line[1:]
            size += len(line)
            if len(kept) < KEPT:
                kept += line[: KEPT - len(kept)]
            line_start = line.endswith(b"\r\n")
            unarmed += len(line)
            if unarmed >= REARM_EVERY:
                self._reset_timeout()
                unarmed = 0
