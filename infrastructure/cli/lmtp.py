"""``mailhost lmtp``: the auto-responder's long-running LMTP listener (RFC 2033).

One process deciding, any number of MTA connections; the reply jobs are sent by a
second process it starts and stops (``infrastructure.lmtpsender``), or with
``--send-in-process`` by the relay of its own engine, or by the Redis workers. It exits
0 after SIGTERM or SIGINT once the transactions in flight have their replies; 2 for
bad options or configuration, 1 when it cannot listen or open its store.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from application.replydelivery import MAX_MESSAGE_BYTES
from domain.text import printable
from infrastructure.bootstrap import Engine, open_engine
from infrastructure.cli.arguments import (
    Command,
    Declares,
    OneOf,
    Subcommands,
    argument,
    bounded_int,
)
from infrastructure.cli.output import Parser
from infrastructure.lmtp import ListenerLimits
from infrastructure.lmtpsender import READY, Sender
from infrastructure.lmtpserver import serve
from infrastructure.lmtpwire import ENV_LMTP, ListenAddress, parse_listen
from infrastructure.settings import ConfigurationError, Settings

log = logging.getLogger("mailhost.lmtp")
# Replies still queued at the stop get this long to leave; the rest stay due and the
# next process that runs jobs sends them.
SETTLE_S = 5.0
MAX_WORKERS = 64
MAX_LOG_LINE = 500
MAX_CONNECTIONS = 100_000
SENDER_EXIT_S = 15.0  # beyond the settle time: closing the relay and the stores


def register(sub: Subcommands, common: Parser) -> None:
    Command(
        "lmtp",
        "serve LMTP: an auto-reply decision per recipient, until SIGTERM",
        _lmtp,
        (
            *_where(),
            *_limits(),
            argument(
                "--reject-unknown",
                action="store_true",
                help="550 5.1.1 for an address not hosted here (default: 250 with its JSON)",
            ),
            argument(
                "--ready-file",
                type=Path,
                help="written once listening, removed at the stop",
            ),
            argument(
                "--send-in-process",
                action="store_true",
                help="send the replies from this process (default: a second process does)",
            ),
        ),
        example="mailhost lmtp --socket /run/mailhost/lmtp.sock --ready-file "
        "/run/mailhost/lmtp.ready",
    ).add_to(sub, common)


def _where() -> tuple[Declares, ...]:
    """Where the listener listens: TCP (loopback unless ``--public``) or a socket."""
    return (
        OneOf(
            (
                argument(
                    "--listen",
                    metavar="IP:PORT",
                    help=f"TCP, loopback only (default ${ENV_LMTP})",
                ),
                argument("--socket", metavar="PATH", help="a unix socket, mode 0660"),
            )
        ),
        argument(
            "--public",
            action="store_true",
            help="allow a --listen address off loopback",
        ),
    )


def _limits() -> tuple[Declares, ...]:
    """What one listener takes at once and how long it waits (``ListenerLimits``)."""
    return (
        argument(
            "--max-size",
            type=bounded_int(1, MAX_MESSAGE_BYTES),
            default=MAX_MESSAGE_BYTES,
            help="SIZE: bytes per message (552 beyond)",
        ),
        argument(
            "--workers",
            type=bounded_int(1, MAX_WORKERS),
            default=4,
            help="decisions at once",
        ),
        argument(
            "--max-connections",
            type=bounded_int(1, MAX_CONNECTIONS),
            default=1000,
            help="sessions at once (421 beyond)",
        ),
        argument(
            "--timeout",
            type=bounded_int(1, 3600),
            default=300,
            help="seconds a session may stay silent",
        ),
        argument(
            "--grace",
            type=bounded_int(0, 3600),
            default=30,
            help="seconds in-flight transactions get after SIGTERM",
        ),
    )


def _address(args: argparse.Namespace) -> ListenAddress:
    if args.socket:
        if not Path(args.socket).is_absolute():
            msg = f"--socket {args.socket!r} must be an absolute path"
            raise ConfigurationError(msg)
        return ListenAddress(path=Path(args.socket))
    if args.listen:
        try:
            address = parse_listen(args.listen, any_port=True)
        except ValueError as e:
            raise ConfigurationError(f"--listen: {e}") from None
    else:
        configured = Settings.from_env(home=args.home).lmtp
        if configured is None:
            msg = f"give --listen 127.0.0.1:PORT or --socket PATH (or set {ENV_LMTP})"
            raise ConfigurationError(msg)
        address = configured
    if not address.is_loopback and not args.public:
        msg = f"{address} is not a loopback address; give --public to listen there"
        raise ConfigurationError(msg)
    return address


class _OneLine(logging.Formatter):
    """Every record as one line: no traceback, every control shown as a code.

    Outside values (addresses) arrive quoted by ``shown``; link-like text is kept, as
    an address is the point of the line, and no reader clicks a log.
    """

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            text += f" ({type(error).__name__}: {error})"
        level = record.levelname.lower()
        line = printable(" ".join(text.split()))[:MAX_LOG_LINE]
        return f"mailhost lmtp: {level}: {line}"


def _logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    log.setLevel(logging.INFO)
    # aiosmtpd logs every command line and address at INFO: our own lines say what
    # happened, neutralised, and never a message's content.
    logging.getLogger("mail.log").setLevel(logging.ERROR)


def _lmtp(args: argparse.Namespace) -> int:
    address = _address(args)
    limits = ListenerLimits(
        max_size=args.max_size,
        workers=args.workers,
        max_connections=args.max_connections,
        timeout=float(args.timeout),
        grace=float(args.grace),
        reject_unknown=args.reject_unknown,
    )
    _logging()
    # With Redis the workers are other processes already; embedded, the jobs get a
    # process of their own unless told otherwise.
    separate = (
        not args.send_in_process and not Settings.from_env(home=args.home).broker_url
    )
    # The sender's interpreter starts while this one opens its engine.
    sender = Sender(args.home, SETTLE_S, SENDER_EXIT_S) if separate else None
    try:
        engine = open_engine(args.home, background=not separate, cached=True)
    except BaseException:
        if sender is not None:
            sender.stop()
        raise
    try:
        if sender is not None:
            sender.start()
        serve(
            engine.host.responders.deliver, address, limits, ready_file=args.ready_file
        )
    finally:
        if sender is not None:
            sender.stop()
        _close(engine)
    return 0


def run_sender() -> None:
    """The sender process (``infrastructure.lmtpsender``): the relay until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the listener says when to stop
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _logging()
    home = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    # No aggregate cache here: a reply is loaded twice, once from the log either way,
    # and a cached copy costs a deep copy on every load.
    engine = open_engine(home, background=True)
    try:
        sys.stdout.buffer.write(READY)
        sys.stdout.buffer.flush()
        sys.stdin.buffer.read()
    finally:
        _close(engine)


def _close(engine: Engine) -> None:
    """Give queued replies a moment to leave, then stop the relay and the stores."""
    try:
        engine.host.settle(SETTLE_S)
    except Exception as e:  # noqa: BLE001 - the decisions stand; their jobs stay due
        log.warning("replies still queued at the stop: %s: %s", type(e).__name__, e)
    engine.close()
