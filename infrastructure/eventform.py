"""How an event's fields are stored: the converter, the fields, the context and times.

Shared by the mapper (``infrastructure.mapper``), which decodes one stored event at a
time, and the decoding of a whole log (``infrastructure.rundecoding``), which reads
the same stored form with what repeats between events kept for the pass.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import cattrs

from application.context import CommandContext

_ENVELOPE = frozenset({"originator_id", "originator_version"})
META = "_meta"


def make_converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    converter.register_unstructure_hook(datetime, datetime.isoformat)
    converter.register_structure_hook(datetime, lambda v, _: datetime.fromisoformat(v))
    converter.register_unstructure_hook(UUID, str)
    converter.register_structure_hook(UUID, lambda v, _: UUID(v))
    return converter


CONVERTER = make_converter()


_FIELDS: dict[type[Any], tuple[tuple[str, Any], ...]] = {}


def fields(cls: type[Any]) -> tuple[tuple[str, Any], ...]:
    """The (name, type) of each stored field; Any where a type variable stands."""
    known = _FIELDS.get(cls)
    if known is not None:
        return known
    hints = typing.get_type_hints(cls)
    found = []
    for f in dataclasses.fields(cls):
        if f.name in _ENVELOPE:
            continue
        hint = hints.get(f.name, Any)
        found.append((f.name, Any if isinstance(hint, typing.TypeVar) else hint))
    _FIELDS[cls] = tuple(found)
    return _FIELDS[cls]


_DEFAULTED: dict[type[Any], frozenset[str]] = {}


def defaulted(cls: type[Any]) -> frozenset[str]:
    """The fields of an event class that have a default."""
    known = _DEFAULTED.get(cls)
    if known is None:
        known = _DEFAULTED[cls] = frozenset(
            f.name
            for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING
            or f.default_factory is not dataclasses.MISSING
        )
    return known


@functools.lru_cache(maxsize=1024)
def recorded(actor: str, correlation: str, causation: int | None) -> CommandContext:
    stored: dict[str, Any] = {"actor": actor, "correlation": correlation}
    if causation is not None:
        stored["causation"] = causation
    return CommandContext.from_stored(stored)


# The UTC offset as ``isoformat`` writes it, and where a stored time's seconds end.
_UTC = "+00:00"
_SECONDS = 19


def utc_text(at: str) -> str:
    """A stored time as rows hold it: UTC, to the microsecond.

    The mapper stores UTC times as ``isoformat`` writes them, without the fraction when
    it is zero: those two forms are completed as they are; any other is parsed.
    """
    if at.endswith(_UTC) and at[10:11] == "T":
        if len(at) == _SECONDS + len(_UTC):
            return f"{at[:_SECONDS]}.000000{_UTC}"
        if len(at) == _SECONDS + 7 + len(_UTC) and at[_SECONDS] == ".":
            return at
    return datetime.fromisoformat(at).astimezone(UTC).isoformat(timespec="microseconds")


@functools.lru_cache(maxsize=1024)
def _context_of(
    actor: str, correlation: str, causation: int | None
) -> tuple[str, str, int | None]:
    context = recorded(actor, correlation, causation)
    return str(context.actor), str(context.correlation_id), context.causation


def context_text(meta: dict[str, Any]) -> tuple[str, str, int | None]:
    """The stored context as a decoded event's would print (the same parse)."""
    return _context_of(meta["actor"], meta["correlation"], meta.get("causation"))
