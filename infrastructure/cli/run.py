"""``mailhost run``: the long-running process that follows the log."""

from __future__ import annotations

import argparse
import time

from infrastructure.bootstrap import open_engine
from infrastructure.cli.arguments import Command, Subcommands
from infrastructure.cli.output import Parser, say


def register(sub: Subcommands, common: Parser) -> None:
    Command(
        "run",
        "follow the log (projections, job relay; embedded: workers) until stopped",
        _run,
        example="MAILHOST_BROKER_URL=redis://127.0.0.1:6379/0 mailhost run",
    ).add_to(sub, common)


def _run(args: argparse.Namespace) -> int:
    """The engine's own threads do the work; this one only waits for Ctrl-C."""
    engine = open_engine(args.home)
    say(f"following the log in {engine.settings.home} (Ctrl-C to stop)", err=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        engine.close()
