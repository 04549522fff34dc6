"""What the command groups' parsers share: the type they add commands to, argument types."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeAlias

from domain.address import shown
from infrastructure.cli.output import Parser

# What ``add_subparsers`` returns, each group adding its commands to it. Quoted: the
# class is not subscriptable at run time, only in the type stubs.
Subcommands: TypeAlias = "argparse._SubParsersAction[Parser]"  # noqa: SLF001 - argparse names the type only privately


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high``, else a usage error.

    ``int`` alone takes any number of digits, and a 31-digit limit then fails far
    from the command line (an SQLite integer overflows): exit 1 where bad input
    deserves exit 2 and the option's name.
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            msg = f"{shown(text)} is not a whole number"
            raise argparse.ArgumentTypeError(msg) from None
        if not low <= value <= high:
            msg = f"must be from {low} to {high}"
            raise argparse.ArgumentTypeError(msg)
        return value

    parse.__name__ = "whole number"
    return parse
