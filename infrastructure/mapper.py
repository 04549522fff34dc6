"""Stores events as JSON through cattrs, so attrs value objects and tuples round-trip.

eventsourcing's default transcoder knows only a few types and turns tuples into lists;
this mapper structures every field back to the exact type its event class declares.

Beside the fields, each event's JSON holds the audit context it was saved in
(``"_meta"``, application.context) and its class version (``"_v"``,
infrastructure.upcasting); personal fields are sealed per person
(infrastructure.personaldata) once the engine gives the mapper its key ring.
"""

from __future__ import annotations

import functools
import json
import typing
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Snapshot
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

from application.context import RECORDED, UNBOUND, CommandContext, current
from infrastructure import eventform, upcasting
from infrastructure.eventform import CONVERTER, META
from infrastructure.eventform import context_text as _context_text
from infrastructure.eventform import defaulted as _defaulted
from infrastructure.eventform import fields as _fields
from infrastructure.eventform import recorded as _recorded
from infrastructure.personaldata import (
    PERSONAL,
    KeyRing,
    open_fields,
    open_snapshot,
    seal_fields,
    seal_snapshot,
    sorted_list,
)
from infrastructure.rundecoding import RunDecoding
from projections.envelope import Envelope

# Read from here (the CLI's output, tests) as before the stored form had its module.
make_converter = eventform.make_converter
_utc_text = eventform.utc_text

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


@functools.lru_cache(maxsize=1024)
def _stored_context(context: CommandContext) -> dict[str, Any]:
    """One command's events share one context: its stored form is made once."""
    return context.as_stored()


def _meta(event: object) -> dict[str, Any]:
    """The context of the save; an event read from a log keeps the one it has."""
    context = event.__dict__.get(RECORDED) or current()
    if context is None:  # MailHostLog.save binds one; a bare Application may not
        return CommandContext(UNBOUND, uuid4()).as_stored()
    return _stored_context(context)


class CattrsMapper(Mapper[UUID]):
    # The per-person keys personal fields are sealed with (set by the engine's
    # bootstrap); without them they are stored plain, as before sealing existed.
    keys: KeyRing | None = None

    def to_stored_event(self, domain_event: Any) -> StoredEvent:  # noqa: ANN401 - any event class
        cls = type(domain_event)
        state = {
            name: CONVERTER.unstructure(getattr(domain_event, name), hint)
            for name, hint in _fields(cls)
        }
        if isinstance(domain_event, Snapshot):
            state["state"] = seal_snapshot(
                self.keys,
                resolve_topic(domain_event.topic),
                domain_event.originator_id,
                domain_event.originator_version,
                _snapshot_state(domain_event.state, domain_event.topic, encode=True),
            )
        else:
            if self.keys is not None and cls in PERSONAL:
                seal_fields(
                    self.keys,
                    cls,
                    domain_event.originator_id,
                    domain_event.originator_version,
                    state,
                )
            state[META] = _meta(domain_event)
            state[upcasting.VERSION_KEY] = upcasting.current(cls)[1]
        # surrogatepass: a lone surrogate in some client-supplied text (a user agent)
        # is stored and read back as it came, rather than failing the command.
        data = json.dumps(
            state, separators=(",", ":"), ensure_ascii=False, default=sorted_list
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
        return self._decode(stored_event)[0]

    def decoded(self, stored_event: StoredEvent) -> tuple[Any, Envelope]:
        """The event and its envelope, from one read of the stored JSON."""
        event, meta, raw = self._decode(stored_event)
        at = raw.get("timestamp")
        envelope = Envelope(
            type(event),
            str(event.originator_id),
            event.originator_version,
            _utc_text(at)
            if isinstance(at, str)
            else event.timestamp.astimezone(UTC).isoformat(timespec="microseconds"),
            None if meta is None else _context_text(meta),
            event=event,
        )
        return event, envelope

    def run_decoding(self) -> RunDecoding:
        """A decoding for one pass over a whole log (``infrastructure.rundecoding``)."""
        return RunDecoding(self)

    def envelope_of(self, stored_event: StoredEvent) -> Envelope:
        """Who, when and which aggregate, without structuring a field or opening a
        sealed one (the envelope holds no personal data).

        An event stored in an older shape is decoded fully: its upcasters, not this
        reading, know what its stored fields mean.
        """
        cls = resolve_topic(stored_event.topic)
        try:
            raw = self._raw(stored_event)
            if (
                issubclass(cls, Snapshot)
                or raw.get(upcasting.VERSION_KEY, 1) != upcasting.current(cls)[1]
            ):
                return self.decoded(stored_event)[1]
            meta = raw.get(META)
            envelope = Envelope(
                cls,
                _aggregate_text(stored_event.originator_id),
                stored_event.originator_version,
                _utc_text(raw["timestamp"]),
                None if meta is None else _context_text(meta),
            )
        except MapperDeserialisationError:
            raise
        except Exception as e:
            raise _unreadable(stored_event, e) from e
        return envelope

    def _decode(
        self, stored_event: StoredEvent
    ) -> tuple[Any, dict[str, Any] | None, dict[str, Any]]:
        """The event, its stored context and its stored (upcast) fields."""
        cls = resolve_topic(stored_event.topic)
        originator_id = stored_event.originator_id
        if not isinstance(originator_id, UUID):
            originator_id = UUID(str(originator_id))
        try:
            raw = self._raw(stored_event)
            meta = raw.pop(META, None)
            if issubclass(cls, Snapshot):
                raw["state"] = open_snapshot(
                    self.keys,
                    originator_id,
                    stored_event.originator_version,
                    raw["state"],
                )
            else:
                raw = upcasting.upcast(cls, raw)
                if cls in PERSONAL:
                    open_fields(
                        self.keys,
                        cls,
                        originator_id,
                        stored_event.originator_version,
                        raw,
                    )
            state = _structured(cls, raw)
            if meta is not None:
                state[RECORDED] = _recorded(
                    meta["actor"], meta["correlation"], meta.get("causation")
                )
        except Exception as e:
            raise _unreadable(stored_event, e) from e
        state["originator_id"] = originator_id
        state["originator_version"] = stored_event.originator_version
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return event, meta, raw

    def _raw(self, stored_event: StoredEvent) -> dict[str, Any]:
        data = stored_event.state
        if self.cipher:
            data = self.cipher.decrypt(data)
        if self.compressor:
            data = self.compressor.decompress(data)
        raw: dict[str, Any] = json.loads(data.decode("utf-8", "surrogatepass"))
        return raw


def _unreadable(stored_event: StoredEvent, error: Exception) -> Exception:
    msg = (
        f"cannot read stored event {stored_event.topic} of "
        f"{stored_event.originator_id} v{stored_event.originator_version}: {error}"
    )
    return MapperDeserialisationError(msg)


def _aggregate_text(originator_id: object) -> str:
    if isinstance(originator_id, UUID):
        return str(originator_id)
    return str(UUID(str(originator_id)))


def _structured(cls: type[Any], raw: dict[str, Any]) -> dict[str, Any]:
    # A field added later with a default (UserAccount.LoggedIn.persistent) is
    # absent from older events: the class default stands in for it.
    state = {
        name: CONVERTER.structure(raw[name], hint)
        for name, hint in _fields(cls)
        if name in raw or name not in _defaulted(cls)
    }
    if issubclass(cls, Snapshot):
        state["state"] = _snapshot_state(state["state"], state["topic"], encode=False)
    return state
