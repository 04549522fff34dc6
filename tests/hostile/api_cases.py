"""The shape of one hostile API case and the values several areas of the API share.

The cases themselves live in one module per area (``api_cases_<area>``), so each area's
list stays short enough to read whole; ``test_api_hostile`` chains them. A case names
one entry point, one argument and one kind of hostile value. Most cases call an entry
point with ordinary arguments but one (an :class:`Entry`), so a row says only which
argument gets which hostile values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from attrs import field, frozen

from domain.errors import InvalidInput, NotFound
from tests.hostile import seed
from tests.hostile.support import MB

if TYPE_CHECKING:
    from tests.hostile.conftest import World

ANN, ORG, DOMAIN_NAME = seed.ANN, seed.ORG, seed.DOMAIN
GOOD_PASSWORD = "another long passphrase"
NEW = "carol@example.org"
OUTSIDE = "dave@example.net"
LOOKUP = (InvalidInput, NotFound)
CORE_LINE = ("nul", "esc", "crlf", "surrogate", "huge")
CORE_HOSTED = (
    "nul",
    "crlf",
    "traversal",
    "traversal-domain",
    "master-login",
    "surrogate",
)
TOKEN: Mapping[str, str] = {
    "nul": "abc\x00def",
    "surrogate": "abc\udcffdef",
    "huge": "t" * MB,
}
MESSAGE = (
    b"From: Bob <bob@example.net>\r\nTo: ann@example.org\r\nSubject: Hello\r\n"
    b"Message-ID: <m1@example.net>\r\n\r\nHello Ann.\r\n"
)

Call = Callable[["World"], object]


@frozen
class Case:
    id: str
    call: Call
    words: tuple[str, ...]
    refusal: tuple[type[BaseException], ...] = (InvalidInput,)
    secret: str | None = field(default=None, repr=False)


def pick(values: Mapping[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in values.items() if not names or k in names}


def bind(call: Callable[[World, Any], object], value: object) -> Call:
    def bound(w: World) -> object:
        return call(w, value)

    return bound


def each(
    prefix: str,
    values: Mapping[str, Any],
    call: Callable[[World, Any], object],
    words: Sequence[str],
    refusal: tuple[type[BaseException], ...] = (InvalidInput,),
    *,
    secret: bool = False,
) -> list[Case]:
    return [
        Case(
            f"{prefix}[{kind}]",
            bind(call, value),
            tuple(words),
            refusal,
            value if secret else None,
        )
        for kind, value in values.items()
    ]


def listed(values: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Each hostile value as the one item of a list, for an argument that takes several."""
    return {kind: [value] for kind, value in values.items()}


@frozen
class Seeded:
    """An argument only the seeded world knows (``world.seeded.<name>``), read as the
    case runs."""

    name: str


class Entry:
    """An entry point of ``MailHost`` (``path``: ``area.method``) and ordinary values
    for the arguments its cases keep; each case gives one argument a hostile value.

    The arguments go by keyword, so a row names the parameter it attacks, and its case
    id (``path/argument``) is that name unless the row gives a ``label``.
    """

    def __init__(self, path: str, /, **arguments: object) -> None:
        self.path = path
        self.arguments = arguments

    def call(self, w: World, /, **changes: object) -> object:
        """The entry point with its ordinary arguments but ``changes``."""
        area, name = self.path.split(".")
        method: Callable[..., object] = getattr(getattr(w.host, area), name)
        arguments = {**self.arguments, **changes}
        return method(
            **{
                k: getattr(w.seeded, v.name) if isinstance(v, Seeded) else v
                for k, v in arguments.items()
            }
        )

    def vary(
        self,
        argument: str,
        values: Mapping[str, Any],
        words: Sequence[str],
        refusal: tuple[type[BaseException], ...] = (InvalidInput,),
        *,
        secret: bool = False,
        label: str | None = None,
    ) -> list[Case]:
        def call(w: World, value: object) -> object:
            return self.call(w, **{argument: value})

        prefix = f"{self.path}/{label or argument}"
        return each(prefix, values, call, words, refusal, secret=secret)
