"""What the command groups' parsers share: commands declared as data, argument types.

Each group lists its commands as :class:`Command` values (name, help line, handler,
example, arguments) rather than a function of ``add_argument`` calls per command: the
table is the command line's shape, read in one place, and a command differs from its
neighbours only where its data does. A module builds its table in a function that
runs when the parser is built, so each handler is the module's function at that moment.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypeAlias

from attrs import field, frozen

from domain.address import shown
from infrastructure.cli.output import Parser

# What ``add_subparsers`` returns, each group adding its commands to it. Quoted: the
# class is not subscriptable at run time, only in the type stubs.
Subcommands: TypeAlias = "argparse._SubParsersAction[Parser]"  # noqa: SLF001 - argparse names the type only privately
Handler: TypeAlias = Callable[[argparse.Namespace], int]
# Where arguments go: a parser, an argument group or a mutually exclusive group.
Container: TypeAlias = "argparse._ActionsContainer"  # noqa: SLF001 - argparse names the type only privately


class Declares(Protocol):
    """One entry of a command's argument list: it adds itself to ``container``."""

    def add_to(self, container: Container) -> None: ...


@frozen
class Argument:
    """One ``add_argument`` call: its names and options, exactly as argparse takes them."""

    names: tuple[str, ...]
    options: Mapping[str, Any]

    def add_to(self, container: Container) -> None:
        container.add_argument(*self.names, **self.options)


def argument(*names: str, **options: Any) -> Argument:  # noqa: ANN401 - argparse's own options are untyped
    return Argument(names, options)


def flag(name: str, summary: str | None = None, **options: Any) -> Argument:  # noqa: ANN401 - argparse's own options are untyped
    """An option without a value (``--apply``): true when given, its help ``summary``."""
    return Argument((name,), {"action": "store_true", "help": summary, **options})


# The machine-readable output of a command that prints a result.
JSON = flag("--json")


@frozen
class OneOf:
    """Arguments of which at most one (with ``required``, exactly one) may be given."""

    arguments: tuple[Declares, ...]
    required: bool = False

    def add_to(self, container: Container) -> None:
        exclusive = container.add_mutually_exclusive_group(required=self.required)
        for entry in self.arguments:
            entry.add_to(exclusive)


@frozen
class Section:
    """Arguments listed under their own heading in ``--help``."""

    title: str
    arguments: tuple[Declares, ...]

    def add_to(self, container: Container) -> None:
        section = container.add_argument_group(self.title)
        for entry in self.arguments:
            entry.add_to(section)


@frozen
class Command:
    """A command as data; :meth:`add_to` declares it with :func:`add_command`."""

    name: str
    summary: str
    handler: Handler
    arguments: tuple[Declares, ...] = ()
    example: str = ""
    epilog: str | None = None
    formatter_class: type[argparse.HelpFormatter] = argparse.HelpFormatter
    defaults: Mapping[str, object] = field(factory=dict)

    def add_to(self, commands: Subcommands, common: Parser) -> Parser:
        cmd = add_command(
            commands,
            common,
            self.name,
            summary=self.summary,
            handler=self.handler,
            example=self.example,
            epilog=self.epilog,
            formatter_class=self.formatter_class,
            defaults=dict(self.defaults),
        )
        for entry in self.arguments:
            entry.add_to(cmd)
        return cmd


def add_group(
    sub: Subcommands,
    common: Parser,
    name: str,
    summary: str,
    commands: Iterable[Command],
) -> None:
    """A command group (``mailhost NAME ...``), its commands added in ``commands``' order."""
    group = sub.add_parser(name, help=summary).add_subparsers(parser_class=Parser)
    for command in commands:
        command.add_to(group, common)


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
