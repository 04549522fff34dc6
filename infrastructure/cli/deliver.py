"""``mailhost deliver``: the auto-responder's MTA pipe transport.

It reads one message on standard input and prints the decision as one JSON object. Its
exit status is what a pipe transport understands (sysexits.h): 0 once the decision is
recorded, even when the reply could not be sent before the process ends ("queued": the
send job is in the log and is retried); 75 (EX_TEMPFAIL, the MTA tries again later) when
nothing could be decided; 2 for bad input. It never prints a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from application.replydelivery import MAX_MESSAGE_BYTES
from domain.errors import DomainError, InvalidInput
from domain.replyplan import Decision
from domain.text import neutralise
from infrastructure.bootstrap import Engine, open_engine
from infrastructure.cli.arguments import Subcommands, add_command
from infrastructure.cli.output import Parser, say
from infrastructure.settings import ConfigurationError, Settings

EX_TEMPFAIL = 75  # sysexits.h: a temporary failure, the MTA retries the delivery
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


def _received_at(text: str | None) -> datetime | None:
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


def _bad_input(error: Exception) -> bool:
    return isinstance(error, DomainError | ConfigurationError | ValueError)


def _deliver(args: argparse.Namespace) -> int:
    # At most one byte more than the limit: the refusal needs no more, and a message of
    # any size costs at most that much memory.
    raw = sys.stdin.buffer.read(MAX_MESSAGE_BYTES + 1)
    received = _received_at(args.received_at)
    with _quiet_logs():
        try:
            # Embedded, this process sends the reply itself before it exits; with Redis
            # the reply job waits for `mailhost run` to relay it to the workers.
            broker_url = Settings.from_env(home=args.home).broker_url
            engine = open_engine(args.home, background=not broker_url)
        except Exception as e:
            if _bad_input(e):
                raise
            return _not_decided(e)
        try:
            try:
                decision = engine.host.responders.deliver(
                    args.recipient, args.sender, raw, received
                )
            except Exception as e:
                if _bad_input(e):
                    raise
                return _not_decided(e)
            _report(engine, decision)
        finally:
            _close(engine)
    return 0


def _not_decided(error: Exception) -> int:
    """Nothing was recorded: the MTA keeps the message and delivers it again later."""
    text = neutralise(f"{type(error).__name__}: {error}", max_length=300)
    say(f"mailhost: temporary failure, nothing decided: {text}", err=True)
    return EX_TEMPFAIL


def _report(engine: Engine, decision: Decision) -> None:
    """Print the decision once it is recorded; wait a little for its reply to go out."""
    out = decision.as_dict()
    if decision.reply:
        sent = False
        try:
            engine.host.settle(SETTLE_S)
            sent = engine.host.responders.reply_sent(decision)
        except Exception as e:  # noqa: BLE001 - the decision stands; the job retries the send
            logging.getLogger(__name__).warning(
                "the reply is queued, not sent yet: %s: %s", type(e).__name__, e
            )
        out["queued"] = not sent
    say(json.dumps(out))
    # Out before anything closing the engine may log: the MTA reads this line first.
    sys.stdout.flush()


def _close(engine: Engine) -> None:
    try:
        engine.close()
    except Exception as e:  # noqa: BLE001 - after the decision, closing cannot undo it
        logging.getLogger(__name__).warning(
            "closing the engine failed: %s: %s", type(e).__name__, e
        )
