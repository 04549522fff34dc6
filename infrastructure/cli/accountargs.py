"""What the account commands' parsers share: stdin-only passwords, codes, nested groups.

The ``user`` commands take passwords, and an operator who types one on the command
line by mistake must neither succeed nor see it echoed back: argparse repeats an
unrecognised argument, or the value of ``--password-stdin=...``, as typed. The
parser of these commands refuses such input with a message that quotes none of it,
and ``--password`` is an option of its own that only says where passwords go.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn, TypeVar, overload
from uuid import UUID

from domain.address import shown
from domain.errors import InvalidInput
from infrastructure.backupcodes import looks_like_backup_code
from infrastructure.cli.arguments import Argument, Command, Subcommands, argument, flag
from infrastructure.cli.output import Parser, read_stdin

N = TypeVar("N")

# A TOTP code (RFC 6238, six digits) or an SMS code; spaces as an app groups them.
ONE_TIME_CODE = re.compile(r"[0-9]{6}")
CODE_SEPARATORS = str.maketrans("", "", " -")
MAX_CODE_TYPED = 80
NOT_REPEATED = "(not repeated here: it may hold a password)"
STDIN_ONLY = (
    "passwords are read from standard input only: use --password-stdin "
    "and pipe the password in"
)

# The account a command is about, as the user logs in.
LOGIN = argument("login", metavar="LOGIN", help="the user's login (a mail address)")


class AccountParser(Parser):
    """A :class:`Parser` that never repeats what may be a password typed on argv."""

    @overload
    def parse_known_args(
        self, args: Iterable[str] | None = None, namespace: None = None
    ) -> tuple[argparse.Namespace, list[str]]: ...
    @overload
    def parse_known_args(
        self, args: Iterable[str] | None, namespace: N
    ) -> tuple[N, list[str]]: ...
    @overload
    def parse_known_args(self, *, namespace: N) -> tuple[N, list[str]]: ...

    def parse_known_args(
        self,
        args: Iterable[str] | None = None,
        namespace: Any = None,
    ) -> tuple[Any, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            # The top-level parser would repeat them as typed ("unrecognized
            # arguments: hunter2"): refused here, where the command is known.
            self.error(f"{len(extras)} unrecognised argument(s) {NOT_REPEATED}")
        return parsed, extras

    def error(self, message: str) -> NoReturn:
        # "argument --password-stdin: ignored explicit argument 'hunter2'" and
        # "ambiguous option: --pass=hunter2 could match ..." quote the value.
        if "explicit argument" in message or message.startswith("ambiguous option"):
            message = f"{message.split(':', 1)[0]}: {NOT_REPEATED}"
        super().error(message)


class RefusePassword(argparse.Action):
    """``--password [VALUE]``: refused, the value never repeated (passwords on stdin)."""

    # argparse's signature; only the parser is used.
    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,  # noqa: ARG002 - see above
        values: str | Sequence[Any] | None,  # noqa: ARG002 - never read, never shown
        option_string: str | None = None,  # noqa: ARG002 - see above
    ) -> None:
        parser.error(STDIN_ONLY)


def password_stdin(what: str = "the account password") -> tuple[Argument, Argument]:
    """``--password-stdin`` (required) and the ``--password`` trap beside it."""
    return (
        flag(
            "--password-stdin",
            f"read {what} from standard input (never an argument)",
            required=True,
        ),
        argument(
            "--password", nargs="?", action=RefusePassword, help=argparse.SUPPRESS
        ),
    )


def user_group(
    sub: Subcommands,
    common: Parser,
    name: str,
    summary: str,
    commands: Iterable[Command],
) -> Subcommands:
    """A command group whose commands parse with :class:`AccountParser`.

    Returns the group's subcommands, so another module can add a nested group
    (``mailhost user 2fa ...``) under it.
    """
    group: Subcommands = sub.add_parser(name, help=summary).add_subparsers(
        parser_class=AccountParser
    )
    for command in commands:
        command.add_to(group, common)
    return group


def subcommands_of(sub: Subcommands, name: str) -> Subcommands:
    """The subcommands of the group ``name`` that another module registered before."""
    try:
        parser = sub.choices[name]
    except KeyError:
        msg = f"the {name!r} group must be registered before its nested groups"
        raise LookupError(msg) from None
    for action in parser._actions:  # noqa: SLF001 - argparse lists a parser's subcommands only privately
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001 - as above
            found: Subcommands = action
            return found
    msg = f"{name!r} is a command, not a group"
    raise LookupError(msg)


def second_factor_code(text: str) -> str:
    """An argparse type: a one-time code (six digits) or a backup code, else exit 2.

    Checked before any engine opens, so a mistyped code changes nothing (no failure
    counted against the account) and its message names the argument.
    """
    code = _typed_code(text)
    if ONE_TIME_CODE.fullmatch(code):
        return code
    if looks_like_backup_code(text):
        return text.strip()
    msg = f"{shown(text[:MAX_CODE_TYPED])} is neither a 6-digit code nor a backup code"
    raise argparse.ArgumentTypeError(msg)


second_factor_code.__name__ = "code"


def one_time_code(text: str) -> str:
    """An argparse type: the six digits of an authenticator app or an SMS, else exit 2."""
    code = _typed_code(text)
    if ONE_TIME_CODE.fullmatch(code):
        return code
    msg = f"{shown(text[:MAX_CODE_TYPED])} is not a 6-digit code"
    raise argparse.ArgumentTypeError(msg)


one_time_code.__name__ = "code"


def _typed_code(text: str) -> str:
    if len(text) > MAX_CODE_TYPED:
        msg = f"is longer than {MAX_CODE_TYPED} characters"
        raise argparse.ArgumentTypeError(msg)
    return text.strip().translate(CODE_SEPARATORS)


def identifier(text: str) -> UUID:
    """An argparse type: an id as the commands print it (a UUID), else exit 2."""
    try:
        return UUID(text.strip())
    except ValueError:
        msg = f"{shown(text[:MAX_CODE_TYPED])} is not an id (a UUID as listed)"
        raise argparse.ArgumentTypeError(msg) from None


identifier.__name__ = "id"


def read_two_passwords() -> tuple[str, str]:
    """The current and the new password: two lines of standard input, in that order."""
    # Split on line feeds only: str.splitlines also breaks at characters a password
    # may hold (U+2028, a vertical tab).
    text = read_stdin("passwords").removesuffix("\n")
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if len(lines) != 2:  # noqa: PLR2004 - the current one and the new one
        raise InvalidInput(
            "passwords on stdin: expected two lines, the current password then the "
            f"new one (got {len(lines)})"
        )
    return lines[0], lines[1]
