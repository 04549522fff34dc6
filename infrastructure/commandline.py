"""What every ``mailhost`` command shares: its engine, its output, its parser's errors."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

from infrastructure.bootstrap import Engine, open_engine


class Parser(argparse.ArgumentParser):
    """Usage errors exit with status 2 and a one-line message on stderr."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


@contextmanager
def engine_for(args: argparse.Namespace) -> Iterator[Engine]:
    """The engine on ``--home`` (or the environment), without background threads."""
    engine = open_engine(args.home, background=False)
    try:
        yield engine
    finally:
        engine.close()


def emit(args: argparse.Namespace, data: object, text: str) -> None:
    """``--json`` prints the data, otherwise the sentence."""
    print(json.dumps(data, indent=2) if getattr(args, "json", False) else text)  # noqa: T201
