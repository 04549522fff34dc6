"""An entry point of a facade that another object of the facade carries out.

``host.addresses`` and ``host.responders`` offer every command of their concept in one
place, though creation, invitations, passwords or delivery live in their own modules.
Writing each entry point out again repeated the long signature of the method it calls,
and the two copies could drift apart; ``Delegated`` keeps the method's own signature
(parameters, defaults, return type: mypy checks the callers against it) and only names
the part of the facade that carries it out.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Concatenate, Generic, ParamSpec, Self, TypeVar, overload

P = ParamSpec("P")
R = TypeVar("R")


class Delegated(Generic[P, R]):
    """``name = Delegated("part", Part.name)`` makes ``facade.name(...)`` call
    ``facade.part.name(...)``."""

    def __init__(self, part: str, method: Callable[Concatenate[Any, P], R]) -> None:
        self.part = part
        self.method = method
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, facade: None, owner: type | None = None) -> Self: ...

    @overload
    def __get__(self, facade: object, owner: type | None = None) -> Callable[P, R]: ...

    def __get__(
        self, facade: object | None, owner: type | None = None
    ) -> Self | Callable[P, R]:
        if facade is None:
            return self
        return partial(self.method, getattr(facade, self.part))
