"""What the command groups' parsers share: how a command is added, argument types."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from typing import TypeAlias

from domain.address import shown
from infrastructure.cli.output import Parser

# What ``add_subparsers`` returns, each group adding its commands to it. Quoted: the
# class is not subscriptable at run time, only in the type stubs.
Subcommands: TypeAlias = "argparse._SubParsersAction[Parser]"  # noqa: SLF001 - argparse names the type only privately
Handler: TypeAlias = Callable[[argparse.Namespace], int]
Declaration: TypeAlias = Callable[[Subcommands, Parser], None]


def add_group(
    sub: Subcommands,
    common: Parser,
    name: str,
    summary: str,
    declarations: Iterable[Declaration],
) -> None:
    """A command group (``mailhost NAME ...``), its commands added in ``declarations``' order."""
    commands = sub.add_parser(name, help=summary).add_subparsers(parser_class=Parser)
    for declare in declarations:
        declare(commands, common)


def add_command(
    commands: Subcommands,
    common: Parser,
    name: str,
    *,
    summary: str,
    handler: Handler,
    example: str = "",
    epilog: str | None = None,
    formatter_class: type[argparse.HelpFormatter] = argparse.HelpFormatter,
    defaults: dict[str, object] | None = None,
) -> Parser:
    """One command: the common options (``--home``), its help line (``summary``), its example.

    Every command's ``--help`` ends with its example ("example: mailhost ...") or,
    for several, a whole ``epilog``; the caller then adds the command's own
    arguments, in the order its help lists them.
    """
    cmd = commands.add_parser(
        name,
        parents=[common],
        help=summary,
        epilog=f"example: {example}" if example else epilog,
        formatter_class=formatter_class,
    )
    cmd.set_defaults(handler=handler, **(defaults or {}))
    return cmd


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
