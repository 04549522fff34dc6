"""The ``mailhost`` command: its parser, its entry point, its exit statuses.

Conventions for every command: ``--home DIR`` (or MAILHOST_HOME), ``--json`` where it
prints data, bad input on stderr with exit status 2, any other failure exit status 1.
A stored event this release cannot read (an unknown topic, a shape it has no upcaster
for) is bad stored input: exit status 2, the topic named with the remedy.
Every line goes through ``output.say``/``emit``: no control character of an input
or an exception reaches the terminal.

Each module of this package declares one group of commands (``register``) and runs
them; this one only puts the groups in the order ``mailhost --help`` lists them.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import sys
from collections.abc import Callable, Sequence

from domain.errors import DomainError
from domain.text import neutralise
from infrastructure.cli import (
    accounts,
    addresses,
    advise,
    audit,
    demo,
    forget,
    health,
    imports,
    lmtp,
    responder,
    run,
    sending,
    services,
    twostep,
)
from infrastructure.cli.output import Parser, say
from infrastructure.settings import ConfigurationError
from infrastructure.upcasting import explained

EXAMPLES = """\
examples:
  mailhost demo                         run the demo scenario in ./.mailhost
  mailhost demo --home /tmp/mh          ... with everything under /tmp/mh
  mailhost org create "Example Co"
  printf '%s' "$PW" | mailhost user create ann@example.org --org "Example Co" --password-stdin
  mailhost activity ann@example.org --json
  mailhost run                          follow the log: projections, job relay
                                        (and, embedded, the workers) until Ctrl-C
"""

# Each group adds its commands, in the order ``mailhost --help`` lists them.
GROUPS = (
    demo.register,
    accounts.register,
    twostep.register,  # nested under accounts' `user` group
    forget.register,  # nested under accounts' `user` group
    run.register,
    health.register,
    services.register,
    addresses.register,
    imports.register,
    sending.register,
    advise.register,
    audit.register,
    responder.register,
    lmtp.register,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help(sys.stderr)
        return 2
    try:
        handler: Callable[[argparse.Namespace], int] = args.handler
        status = handler(args)
        # Inside the try: what a command left buffered fails here, not at the exit.
        sys.stdout.flush()
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError as e:
        if not _reader_gone():
            return _refusal(e)  # a socket's, not our output's
        return 128 + signal.SIGPIPE
    except Exception as e:  # noqa: BLE001 - the last line of defence prints, not a trace
        return _refusal(e)
    return status


def _reader_gone() -> bool:
    """Whether standard output's reader has left (``mailhost audit export | head``).

    Then the command stops quietly with SIGPIPE's status, as a Unix filter does. A pipe
    with no reader polls as an error (the failed write's bytes are already dropped, so
    flushing again would not tell). Output goes to /dev/null from here on: the
    interpreter's last flush would fail again and print a traceback of its own.
    """
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):  # replaced by something with no descriptor
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    if not any(mask & select.POLLERR for _, mask in poller.poll(0)):
        return False
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)
    return True


def _refusal(error: Exception) -> int:
    """The exit status for ``error`` and its one line on stderr (no traceback).

    Bad input is status 2, whichever layer noticed it: a refusal of the engine, a value
    a command could not read (a ``ValueError``: a date, a number) or bytes that are not
    UTF-8. So is an event of the log this release cannot read: the operator's remedy is
    an alias or an upcaster, named with the stored topic. Anything else is status 1,
    its text neutralised as outside text: it may quote anything. ``say`` keeps every
    line free of characters a terminal obeys.
    """
    unreadable = explained(error)
    if unreadable is not None:
        say(
            f"mailhost: the log holds an event this release cannot read: {unreadable}",
            err=True,
        )
        return 2
    match error:
        case UnicodeError():
            # Its text would quote bytes of the input, which may be a password.
            say("mailhost: the input is not valid UTF-8", err=True)
            return 2
        case DomainError() | ConfigurationError() | ValueError():
            say(f"mailhost: {error}", err=True)
            return 2
    name = type(error).__name__
    say(f"mailhost: failed: {name}: {neutralise(str(error), max_length=500)}", err=True)
    return 1


def _parser() -> argparse.ArgumentParser:
    common = Parser(add_help=False)
    common.add_argument(
        "--home", help="engine folder (default: $MAILHOST_HOME or ./.mailhost)"
    )
    parser = Parser(
        prog="mailhost",
        description="Event-sourced engine for a mail-hosting provider's accounts.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(title="commands", parser_class=Parser)
    for register in GROUPS:
        register(sub, common)
    return parser
