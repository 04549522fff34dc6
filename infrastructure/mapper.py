"""Stores events as JSON through cattrs, so attrs value objects and tuples round-trip.

eventsourcing's default transcoder knows only a few types and turns tuples into lists;
this mapper structures every field back to the exact type its event class declares.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import typing
from datetime import datetime
from typing import Any
from uuid import UUID

import cattrs
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

_ENVELOPE = frozenset({"originator_id", "originator_version"})


def make_converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    converter.register_unstructure_hook(datetime, datetime.isoformat)
    converter.register_structure_hook(datetime, lambda v, _: datetime.fromisoformat(v))
    converter.register_unstructure_hook(UUID, str)
    converter.register_structure_hook(UUID, lambda v, _: UUID(v))
    return converter


CONVERTER = make_converter()


_FIELDS: dict[type[Any], tuple[tuple[str, Any], ...]] = {}


def _fields(cls: type[Any]) -> tuple[tuple[str, Any], ...]:
    """The (name, type) of each stored field; Any where a type variable stands."""
    known = _FIELDS.get(cls)
    if known is not None:
        return known
    hints = typing.get_type_hints(cls)
    fields = []
    for f in dataclasses.fields(cls):
        if f.name in _ENVELOPE:
            continue
        hint = hints.get(f.name, Any)
        fields.append((f.name, Any if isinstance(hint, typing.TypeVar) else hint))
    _FIELDS[cls] = tuple(fields)
    return _FIELDS[cls]


@functools.cache
def _defaulted(cls: type[Any]) -> frozenset[str]:
    """The fields of an event class that have a default."""
    return frozenset(
        f.name
        for f in dataclasses.fields(cls)
        if f.default is not dataclasses.MISSING
        or f.default_factory is not dataclasses.MISSING
    )


# Attributes eventsourcing keeps on every aggregate, beside the declared ones.
_BASE_STATE: dict[str, Any] = {"_created_on": datetime, "_modified_on": datetime}
_STATES: dict[type[Any], dict[str, Any]] = {}


def _state_hints(aggregate_cls: type[Any]) -> dict[str, Any]:
    """The declared type of each attribute of a snapshotted aggregate.

    An aggregate that is snapshotted declares its attributes at class level, so its
    snapshot comes back with the same types as a replay would build.
    """
    known = _STATES.get(aggregate_cls)
    if known is None:
        known = {**typing.get_type_hints(aggregate_cls), **_BASE_STATE}
        _STATES[aggregate_cls] = known
    return known


def _snapshot_state(
    state: dict[str, Any], topic: str, *, encode: bool
) -> dict[str, Any]:
    hints = _state_hints(resolve_topic(topic))
    convert = CONVERTER.unstructure if encode else CONVERTER.structure
    out = {}
    for name, value in state.items():
        if name not in hints:
            msg = f"{topic} attribute {name!r} has no class-level type annotation"
            raise TypeError(msg)
        out[name] = convert(value, hints[name])
    return out


def _sorted_list(value: object) -> list[Any]:
    """Sets are stored sorted, so equal states store equal bytes."""
    if isinstance(value, set | frozenset):
        return sorted(value)
    msg = f"cannot store a {type(value).__name__}"
    raise TypeError(msg)


class CattrsMapper(Mapper[UUID]):
    def to_stored_event(self, domain_event: Any) -> StoredEvent:  # noqa: ANN401 - any event class
        cls = type(domain_event)
        state = {
            name: CONVERTER.unstructure(getattr(domain_event, name), hint)
            for name, hint in _fields(cls)
        }
        if isinstance(domain_event, Snapshot):
            state["state"] = _snapshot_state(
                domain_event.state, domain_event.topic, encode=True
            )
        # surrogatepass: a lone surrogate in some client-supplied text (a user agent)
        # is stored and read back as it came, rather than failing the command.
        data = json.dumps(
            state, separators=(",", ":"), ensure_ascii=False, default=_sorted_list
        ).encode("utf-8", "surrogatepass")
        if self.compressor:
            data = self.compressor.compress(data)
        if self.cipher:
            data = self.cipher.encrypt(data)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=get_topic(cls),
            state=data,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:  # noqa: ANN401 - any event class
        cls = resolve_topic(stored_event.topic)
        data = stored_event.state
        try:
            if self.cipher:
                data = self.cipher.decrypt(data)
            if self.compressor:
                data = self.compressor.decompress(data)
            raw = json.loads(data.decode("utf-8", "surrogatepass"))
            # A field added later with a default (UserAccount.LoggedIn.persistent) is
            # absent from older events: the class default stands in for it.
            state = {
                name: CONVERTER.structure(raw[name], hint)
                for name, hint in _fields(cls)
                if name in raw or name not in _defaulted(cls)
            }
            if issubclass(cls, Snapshot):
                state["state"] = _snapshot_state(
                    state["state"], state["topic"], encode=False
                )
        except Exception as e:
            msg = (
                f"cannot read stored event {stored_event.topic} of "
                f"{stored_event.originator_id} v{stored_event.originator_version}: {e}"
            )
            raise MapperDeserialisationError(msg) from e
        originator_id = stored_event.originator_id
        state["originator_id"] = (
            originator_id
            if isinstance(originator_id, UUID)
            else UUID(str(originator_id))
        )
        state["originator_version"] = stored_event.originator_version
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return event
