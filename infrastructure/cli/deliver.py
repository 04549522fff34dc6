"""``mailhost deliver``: the auto-responder's MTA pipe transport, in this process.

It reads one message on standard input and prints the decision as one JSON object. Its
exit status is what a pipe transport understands (sysexits.h): 0 once the decision is
recorded, even when the reply could not be sent before the process ends ("queued": the
send job is in the log and is retried); 75 (EX_TEMPFAIL, the MTA tries again later) when
nothing could be decided; 65 (EX_DATAERR) for bad input (the message, --received-at, a
malformed recipient); 67 (EX_NOUSER) for a recipient address that does not exist. It
never prints a traceback.

This is the cold path: ``infrastructure.entrypoint`` forwards to a running ``mailhost
lmtp`` listener instead when ``MAILHOST_LMTP`` names one. A cold process opens the
engine without background threads: for one decision it sends its reply itself, in the
foreground, rather than starting a relay and workers it would then wait ~200 ms to stop.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from application.replydelivery import MAX_MESSAGE_BYTES
from domain.errors import DomainError, NotFound
from domain.replyplan import Decision
from domain.text import neutralise
from infrastructure.bootstrap import Engine, open_engine
from infrastructure.cli.arguments import Subcommands, add_command
from infrastructure.cli.output import WORKERS_ONLY, Parser, say
from infrastructure.deliverargs import received_at
from infrastructure.settings import ConfigurationError

# One reading of --received-at for both paths: the thin client's (few imports).
_received_at = received_at

# sysexits.h, as a pipe transport (Postfix pipe(8), Exim) reads them.
EX_DATAERR = 65  # bad input: the MTA bounces rather than retries
EX_NOUSER = 67  # no such recipient address
EX_TEMPFAIL = 75  # a temporary failure, the MTA retries the delivery
# How long ``deliver`` waits for its reply to be sent: enough for a working mail server,
# short enough that a down one does not hold the MTA's delivery slot (the send job
# stays queued and is retried).
SETTLE_S = 3.0


def register(sub: Subcommands, common: Parser) -> None:
    deliver = add_command(
        sub,
        common,
        "deliver",
        summary="decide the auto-reply for one message on stdin; prints JSON",
        handler=_deliver,
        example="mailhost deliver --recipient ann@example.org --sender "
        "bob@example.net < message.eml",
    )
    deliver.add_argument("--recipient", required=True)
    deliver.add_argument(
        "--sender", required=True, help="the envelope sender ('' for <>)"
    )
    deliver.add_argument("--received-at", help="ISO 8601 with offset; default now")


class _OneLine(logging.Formatter):
    """A log record as one neutralised line: the worker threads' errors (a mail server
    down) are news for the operator, their tracebacks are not, on an MTA's stderr."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            text += f" ({type(error).__name__}: {error})"
        return (
            f"mailhost: {record.levelname.lower()}: {neutralise(text, max_length=300)}"
        )


@contextmanager
def _quiet_logs() -> Iterator[None]:
    """Every log line of this process, the background threads' too, as one line."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine())
    handler.setLevel(logging.WARNING)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


def _refused(error: Exception) -> int:
    """Bad input, said on stderr in one line: 67 for an address that does not exist,
    65 for anything else the MTA gave (the message, --received-at, the recipient)."""
    if isinstance(error, UnicodeError):
        # Its text would quote bytes of the input.
        say("mailhost: the input is not valid UTF-8", err=True)
        return EX_DATAERR
    say(f"mailhost: {error}", err=True)
    return EX_NOUSER if isinstance(error, NotFound) else EX_DATAERR


def _deliver(args: argparse.Namespace) -> int:
    # At most one byte more than the limit: the refusal needs no more, and a message of
    # any size costs at most that much memory.
    raw = sys.stdin.buffer.read(MAX_MESSAGE_BYTES + 1)
    with _quiet_logs():
        try:
            received = _received_at(args.received_at)
            # No relay and no workers: this process sends its one reply itself.
            engine = open_engine(args.home, background=False)
        except ConfigurationError as e:
            # The operator's to fix, not the message's fault: the MTA keeps it meanwhile.
            return _not_decided(e)
        except (DomainError, ValueError) as e:
            return _refused(e)
        except Exception as e:  # noqa: BLE001 - the store unreachable: the MTA retries
            return _not_decided(e)
        finished = True
        try:
            try:
                decision = engine.host.responders.deliver(
                    args.recipient, args.sender, raw, received
                )
            except (DomainError, ValueError) as e:
                return _refused(e)
            except Exception as e:  # noqa: BLE001 - nothing recorded: the MTA retries
                return _not_decided(e)
            finished = _report(engine, decision)
        finally:
            if finished:
                _close(engine)
    return 0


def _not_decided(error: Exception) -> int:
    """Nothing was recorded: the MTA keeps the message and delivers it again later."""
    text = neutralise(f"{type(error).__name__}: {error}", max_length=300)
    say(f"mailhost: temporary failure, nothing decided: {text}", err=True)
    return EX_TEMPFAIL


def _report(engine: Engine, decision: Decision) -> bool:
    """Print the decision once it is recorded, after up to SETTLE_S sending its reply.

    False when the send is still under way: the engine is then left open (closing its
    databases under the send would only add errors); the process exits, and the job's
    claim expires so that the next process that runs jobs sends it.
    """
    out = decision.as_dict()
    finished = True
    if decision.reply:
        finished = _send(engine)
        sent = False
        try:
            sent = finished and engine.host.responders.reply_sent(decision)
        except Exception as e:  # noqa: BLE001 - the decision stands; the job retries the send
            logging.getLogger(__name__).warning(
                "the reply is queued, not sent yet: %s: %s", type(e).__name__, e
            )
        out["queued"] = not sent
    say(json.dumps(out))
    # Out before anything closing the engine may log: the MTA reads this line first.
    sys.stdout.flush()
    return finished


def _send(engine: Engine) -> bool:
    """Run the due jobs (the reply's send among them) for up to SETTLE_S; whether that
    finished. In a daemon thread only so that a silent mail server (the SMTP client's
    timeout is longer) cannot hold the MTA's delivery slot past SETTLE_S."""
    sender = threading.Thread(
        target=_drain, args=(engine,), name="deliver-send", daemon=True
    )
    sender.start()
    sender.join(SETTLE_S)
    return not sender.is_alive()


def _drain(engine: Engine) -> None:
    try:
        engine.drain(SETTLE_S, exclude=WORKERS_ONLY)
    except Exception as e:  # noqa: BLE001 - the decision stands; the job retries the send
        logging.getLogger(__name__).warning(
            "the reply is queued, not sent yet: %s: %s", type(e).__name__, e
        )


def _close(engine: Engine) -> None:
    try:
        engine.close()
    except Exception as e:  # noqa: BLE001 - after the decision, closing cannot undo it
        logging.getLogger(__name__).warning(
            "closing the engine failed: %s: %s", type(e).__name__, e
        )
