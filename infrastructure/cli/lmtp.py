"""``mailhost lmtp``: the auto-responder's long-running LMTP listener (RFC 2033).

``--processes N`` deciders (default 1) behind one process that accepts
(``infrastructure.lmtpprocs``), or with ``--processes 1`` one process doing both; any
number of MTA connections. The reply jobs are sent by a further process it starts and
stops (``infrastructure.lmtpsender``), or with ``--send-in-process`` by the relay of
the listener's own engine (the accepting process's, with several), or by the Redis
workers. It exits
0 after SIGTERM or SIGINT once the transactions in flight have their replies; 2 for
bad options or configuration, 1 when it cannot listen or open its store.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from application.replydelivery import MAX_MESSAGE_BYTES
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
from infrastructure.lmtpcommon import SETTLE_S, close_engine, log_to_stderr
from infrastructure.lmtpprocs import serve_processes
from infrastructure.lmtpsender import READY, Sender
from infrastructure.lmtpserver import serve
from infrastructure.lmtpsmtp import keep_sessions
from infrastructure.lmtpwire import ENV_LMTP, ListenAddress, parse_listen
from infrastructure.settings import ConfigurationError, Settings

log = logging.getLogger("mailhost.lmtp")
MAX_WORKERS = 64
MAX_CONNECTIONS = 100_000
MAX_PROCESSES = 64
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


# The listener's whole-number limits (``ListenerLimits``): option, lowest, highest,
# default, help.
_LIMITS: tuple[tuple[str, int, int, int, str], ...] = (
    (
        "--max-size",
        1,
        MAX_MESSAGE_BYTES,
        MAX_MESSAGE_BYTES,
        "SIZE: bytes per message (552 beyond)",
    ),
    # One: on this 2-core machine, two deciders plus the acceptor and the reply sender
    # measured slower than one process (0.62 against ~1.2 of the peer's rate, loaded);
    # more deciders pay off only with cores to spare.
    (
        "--processes",
        1,
        MAX_PROCESSES,
        1,
        "decider processes (default 1: this process decides; N: one per core)",
    ),
    ("--workers", 1, MAX_WORKERS, 4, "decisions at once, per decider"),
    ("--max-connections", 1, MAX_CONNECTIONS, 1000, "sessions at once (421 beyond)"),
    ("--timeout", 1, 3600, 300, "seconds a session may stay silent"),
    ("--grace", 0, 3600, 30, "seconds in-flight transactions get after SIGTERM"),
)


def _limits() -> tuple[Declares, ...]:
    """What one listener takes at once and how long it waits: each a bounded number."""
    return tuple(
        argument(name, type=bounded_int(low, high), default=default, help=text)
        for name, low, high, default, text in _LIMITS
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
    log_to_stderr()
    # With Redis the workers are other processes already; embedded, the jobs get a
    # process of their own unless told otherwise.
    separate = (
        not args.send_in_process and not Settings.from_env(home=args.home).broker_url
    )
    # The sender's interpreter starts while this one opens its engine.
    sender = Sender(args.home, SETTLE_S, SENDER_EXIT_S) if separate else None
    try:
        engine = _own_engine(args, relay=not separate)
    except BaseException:
        if sender is not None:
            sender.stop()
        raise
    try:
        if sender is not None:
            sender.start()
        if args.processes > 1 or engine is None:
            serve_many = serve_processes(
                args.processes, args.home, address, limits, args.ready_file
            )
            asyncio.run(serve_many)
        else:
            deliver = engine.host.responders.deliver
            serve(deliver, address, limits, ready_file=args.ready_file)
    finally:
        if sender is not None:
            sender.stop()
        if engine is not None:
            close_engine(engine)
    return 0


def _own_engine(args: argparse.Namespace, *, relay: bool) -> Engine | None:
    """This process's engine: it decides (one process), or runs the relay, or None."""
    if args.processes == 1:
        return open_engine(args.home, background=relay, cached=True)
    return open_engine(args.home, background=True) if relay else None


def run_sender() -> None:
    """The sender process (``infrastructure.lmtpsender``): the relay until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the listener says when to stop
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    log_to_stderr("sender")
    home = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    # No aggregate cache here: a reply is loaded twice, once from the log either way,
    # and a cached copy costs a deep copy on every load.
    engine = open_engine(home, background=True)
    # One reply after another to the same relay: one SMTP session kept, not one each.
    kept = keep_sessions(engine.host.responders.delivery.mail)
    try:
        sys.stdout.buffer.write(READY)
        sys.stdout.buffer.flush()
        sys.stdin.buffer.read()
    finally:
        close_engine(engine)
        if kept is not None:
            kept.close()
