"""What every ``mailhost`` command shares: its engine, its output, its parser's errors.

Every line a command writes goes through ``say`` (or ``emit``): text from outside (a
User-Agent, a header, a name in an error message) can then never put an escape sequence,
a bell or a bidi override on the operator's terminal, whichever command printed it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from attrs import AttrsInstance

from application.jobs import RUN_IMPORT
from domain.errors import InvalidInput
from domain.text import printable
from infrastructure.bootstrap import Engine, open_engine
from infrastructure.mapper import make_converter


class Parser(argparse.ArgumentParser):
    """Usage errors exit with status 2 and a one-line message on stderr."""

    def error(self, message: str) -> NoReturn:
        # argparse repeats unrecognised arguments as they were typed.
        self.print_usage(sys.stderr)
        self.exit(2, printable(f"{self.prog}: error: {message}") + "\n")


# An import runs for minutes or hours: a short-lived command leaves it to `mailhost run`
# (or to `mailhost import start --wait`, which runs the workers while it follows).
WORKERS_ONLY = (RUN_IMPORT,)


@contextmanager
def engine_for(args: argparse.Namespace) -> Iterator[Engine]:
    """The engine on ``--home`` (or the environment), without background threads.

    What the command started (a passwd-file line, a mail) runs before the process
    exits, under the same claims as any worker's; what fails stays due for the next
    process that runs jobs, and the user is told so.
    """
    engine = open_engine(args.home, background=False)
    try:
        yield engine
        engine.drain(exclude=WORKERS_ONLY)
        now = engine.host.alerts.clock.now()
        left = engine.jobs.unfinished(now, exclude=WORKERS_ONLY)
        if left and not engine.settings.broker_url:
            say(
                f"mailhost: {left} background job(s) could not run yet; "
                "`mailhost run` (or the next command) retries them",
                err=True,
            )
    finally:
        engine.close()


def say(text: str, *, err: bool = False) -> None:
    """Print ``text`` (any number of lines) with no character a terminal would obey."""
    print(printable(text), file=sys.stderr if err else sys.stdout)


def emit(args: argparse.Namespace, data: object, text: str) -> None:
    """``--json`` prints the data, otherwise the sentence.

    JSON needs no neutralising: ``json.dumps`` escapes every control and non-ASCII
    character, and a link in it is data for a program, not text for a reader.
    """
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2))  # noqa: T201 - stdout is the CLI's output
    else:
        say(text)


# The stored events' conversions (datetimes as ISO 8601, UUIDs as text, tuples as lists)
# are the ones a script reading ``--json`` expects too.
_VIEWS = make_converter()


def as_json(view: AttrsInstance) -> dict[str, Any]:
    """A read model's view as ``--json`` shows it: its attributes, in their order.

    One conversion for every view whose JSON is the view itself, so a field added to
    it reaches scripts without a second list of names to keep in step.
    """
    data: dict[str, Any] = _VIEWS.unstructure(view)
    return data


def read_stdin(what: str) -> str:
    """All of standard input as UTF-8 text, or ``InvalidInput`` naming ``what``.

    Read as bytes: the text layer would decode with the locale's codec, and under a C
    locale it smuggles undecodable bytes in as lone surrogates that fail much later.
    """
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{what} on stdin is not valid UTF-8") from None


def read_password() -> str:
    """The password of ``--password-stdin``: one line, its line ending removed."""
    return read_stdin("password").rstrip("\r\n")
