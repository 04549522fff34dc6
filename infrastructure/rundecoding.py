"""Decoding a whole log in one pass (a rebuild): what repeats between events is done once.

The mapper decodes one stored event at a time, as a load or a catch-up asks. Replaying
a whole log, the same work comes back on nearly every event: the same person's key
looked up again, the same few sealed login contexts of a person (their devices)
opened to the same plaintext and structured into equal objects again, each field
of a class sent through the converter's dispatch again. A ``RunDecoding`` keeps these
for the run:

- the stored JSON parsed by orjson (about twice as fast as ``json`` on these events);
- each class's stored shape and its fields' structure hooks (what ``CONVERTER``
  would dispatch to, looked up once); a bool, int, float or str field stored as
  itself is taken as it is (its hook would return it), an id is read from the form
  ``str(UUID)`` writes without ``UUID``'s reading of every other form (each id of
  a ``tuple[UUID, ...]`` too);
- each aggregate's id as text (it has many events);
- person keys for a few seconds (``KEY_MEMO_S``): a person forgotten meanwhile is
  forgotten from the next events on, as the key ring's own cache sees it within its
  time to live;
- each opened personal value by its plaintext, when the value is immutable (hashable:
  a frozen value object, a string): the events holding it share one object, which
  nothing can tell from equal copies. Kept in memory for the run only, bounded.

It gives exactly what the mapper gives (the same events, the same envelopes): an
event in another shape (an older version, a snapshot) or one this reading fails on
(a damaged or altered field, whatever the error) is handed to the mapper itself, which
decodes or refuses it as it always does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC
from typing import Any, Protocol
from uuid import UUID, SafeUUID

import orjson
from cattrs import BaseConverter
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import resolve_topic

from application.context import RECORDED
from infrastructure import upcasting
from infrastructure.eventform import (
    CONVERTER,
    META,
    context_text,
    defaulted,
    fields,
    recorded,
    utc_text,
)
from infrastructure.personaldata import (
    PERSONAL,
    Forgotten,
    KeyRing,
    is_sealed,
    plaintext,
)
from infrastructure.personkeys import PersonKey
from projections.envelope import Envelope

KEY_MEMO_S = 5.0
MAX_OPENED = 20_000
MAX_TEXTS = 100_000

Hook = Callable[[Any, Any], Any]


class _Never:
    """The type no stored value has: a field whose value always goes to its hook."""


_DIGITS = 32
_new, _set = object.__new__, object.__setattr__
_UUIDS = tuple[UUID, ...]


def _uuid(value: str, _: object) -> UUID:
    """``UUID(value)``, the converter's hook, without its reading of forms no stored
    id has: the number of the 32 hex digits ``str(UUID)`` writes. A brace or a
    ``urn:`` prefix (which ``UUID`` also reads) fails ``int`` here: such a value, and
    one of another length, goes to ``UUID`` itself, which reads or refuses it."""
    digits = value.replace("-", "")
    if len(digits) != _DIGITS:
        return UUID(value)
    try:
        number = int(digits, 16)
    except ValueError:
        return UUID(value)
    made = _new(UUID)
    _set(made, "int", number)
    _set(made, "is_safe", SafeUUID.unknown)
    return made


def _uuids(value: list[str], _: object) -> tuple[UUID, ...]:
    """``tuple[UUID, ...]``'s hook, each id read as ``_uuid`` reads one (a session
    list ended by a password change can hold hundreds); an item that is not text
    fails here, and the mapper reads or refuses the event."""
    return tuple([_uuid(item, None) for item in value])


def _field(hint: Any) -> tuple[Hook, type[Any]]:  # noqa: ANN401 - any field's type
    """The field's hook, and the type whose values the hook returns as they are (a
    bool, int, float or str stored as itself: ``bool(True)`` is ``True``)."""
    if hint is UUID:
        return _uuid, _Never
    if hint == _UUIDS:
        return _uuids, _Never
    hook = CONVERTER.get_structure_hook(hint)
    as_is = hint in (bool, int, float, str) and hook is BaseConverter._structure_call  # noqa: SLF001 - the converter's own hook, told apart
    return hook, hint if as_is else _Never


class _Shape:
    """How a class's stored events are read; ``fields``: (name, hook, type, the type
    read as it is)."""

    __slots__ = ("cls", "defaulted", "fields", "personal", "plain", "version")

    def __init__(self, cls: type[Any]) -> None:
        self.cls = cls
        self.fields: tuple[tuple[str, Hook, Any, type[Any]], ...] = tuple(
            (name, hook, hint, as_is)
            for name, hint in fields(cls)
            for hook, as_is in (_field(hint),)
        )
        self.defaulted = defaulted(cls)
        self.personal: dict[str, Any] = PERSONAL.get(cls) or {}
        self.version = upcasting.current(cls)[1]
        # Snapshots (their whole state sealed) are the mapper's alone.
        self.plain = not issubclass(cls, Snapshot)


class Mapper(Protocol):
    """What this decoding reads through the mapper (``infrastructure.mapper``)."""

    keys: KeyRing | None

    @property
    def cipher(self) -> object | None: ...

    @property
    def compressor(self) -> object | None: ...

    def _raw(self, stored_event: StoredEvent) -> dict[str, Any]: ...

    def decoded(self, stored_event: StoredEvent) -> tuple[Any, Envelope]: ...

    def envelope_of(self, stored_event: StoredEvent) -> Envelope: ...


class _OtherShape(Exception):  # noqa: N818 - a signal inside this module
    pass


class RunDecoding:
    """The ``projections.envelope.Decoding`` of one replay (see the module's notes)."""

    def __init__(self, mapper: Mapper) -> None:
        self.mapper = mapper
        self._shapes: dict[str, _Shape] = {}
        self._keys: dict[str, PersonKey | None] = {}
        self._keys_since = time.monotonic()
        self._opened: dict[tuple[type[Any], str, bytes], Any] = {}
        # Each aggregate's id as text, by its number (an aggregate has many events).
        self._texts: dict[int, str] = {}
        # Stored as JSON text alone: read here (else by the mapper's own reading).
        self._json = mapper.cipher is None and mapper.compressor is None

    def resolve(self, topic: str) -> type[Any]:
        return self._shape(topic).cls

    def event(self, stored_event: StoredEvent) -> object:
        return self.both(stored_event)[0]

    def envelope(self, stored_event: StoredEvent) -> Envelope:
        return self.mapper.envelope_of(stored_event)

    def both(self, stored_event: StoredEvent) -> tuple[object, Envelope]:
        shape = self._shape(stored_event.topic)
        if shape.plain:
            try:
                return self._both(shape, stored_event)
            except Exception:  # noqa: BLE001, S110 - what this reading cannot read, the mapper decodes or refuses with its own error
                pass
        decoded: tuple[object, Envelope] = self.mapper.decoded(stored_event)
        return decoded

    def _shape(self, topic: str) -> _Shape:
        shape = self._shapes.get(topic)
        if shape is None:
            shape = self._shapes[topic] = _Shape(resolve_topic(topic))
        return shape

    def _both(self, shape: _Shape, stored: StoredEvent) -> tuple[object, Envelope]:
        raw = self._raw(stored)
        if raw.pop(upcasting.VERSION_KEY, 1) != shape.version:
            raise _OtherShape
        meta = raw.pop(META, None)
        originator_id = stored.originator_id
        if not isinstance(originator_id, UUID):
            originator_id = UUID(str(originator_id))
        text = self._texts.get(originator_id.int)
        if text is None:
            text = self._text(originator_id)
        version = stored.originator_version
        opened = (
            # ``aad_of``'s bytes, from the id's text already made
            self._open(shape, originator_id, text, f"{text}:{version}".encode(), raw)
            if shape.personal
            else None
        )
        state = self._structured(shape, raw, opened)
        if meta is not None:
            state[RECORDED] = recorded(
                meta["actor"], meta["correlation"], meta.get("causation")
            )
        state["originator_id"] = originator_id
        state["originator_version"] = version
        cls = shape.cls
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        at = raw.get("timestamp")
        return event, Envelope(
            cls,
            text,
            version,
            utc_text(at)
            if isinstance(at, str)
            else event.timestamp.astimezone(UTC).isoformat(timespec="microseconds"),
            None if meta is None else context_text(meta),
            event=event,
        )

    def _raw(self, stored: StoredEvent) -> dict[str, Any]:
        """The stored dict, as the mapper's ``_raw`` reads it, parsed by orjson.

        Whatever orjson refuses and the mapper's ``json`` would take (a lone surrogate,
        an integer beyond 64 bits, ``NaN``) goes to the mapper, which reads it as ever.
        """
        if not self._json:
            return self.mapper._raw(stored)  # noqa: SLF001 - the mapper's own reading
        raw = orjson.loads(stored.state)
        if type(raw) is not dict:
            raise _OtherShape
        return raw

    def _structured(
        self,
        shape: _Shape,
        raw: dict[str, Any],
        opened: dict[str, tuple[bytes, Any]] | None,
    ) -> dict[str, Any]:
        state: dict[str, Any] = {}
        for name, hook, hint, as_is in shape.fields:
            if name not in raw and name in shape.defaulted:
                continue  # absent from older events: the class default stands
            value = raw[name]
            if opened is not None and name in opened:
                plain, known = opened[name]
                if known is None:
                    known = self._remember(shape, name, plain, hook(value, hint))
                state[name] = known
            elif type(value) is as_is:
                state[name] = value
            else:
                state[name] = hook(value, hint)
        return state

    def _open(
        self,
        shape: _Shape,
        subject: UUID,
        subject_text: str,
        aad: bytes,
        raw: dict[str, Any],
    ) -> dict[str, tuple[bytes, Any]]:
        """Open the sealed fields in ``raw``; those opened: (plaintext, known value)."""
        opened: dict[str, tuple[bytes, Any]] = {}
        key: PersonKey | None = None
        looked = False
        for name, forgotten in shape.personal.items():
            value = raw.get(name)
            if not is_sealed(value):
                continue  # plain: written before sealing, or without a key store
            if not looked:
                key, looked = self._key(subject, subject_text), True
            try:
                plain = plaintext(key, value, aad)
            except Forgotten:
                raw[name] = forgotten
                continue
            known = self._opened.get((shape.cls, name, plain))
            if known is None:
                raw[name] = orjson.loads(plain)
            opened[name] = (plain, known)
        return opened

    def _remember(self, shape: _Shape, name: str, plain: bytes, value: Any) -> Any:  # noqa: ANN401 - any field's value
        try:
            hash(value)
        except TypeError:
            return value  # mutable: each event gets its own
        if len(self._opened) >= MAX_OPENED:
            self._opened.clear()
        self._opened[shape.cls, name, plain] = value
        return value

    def _text(self, originator_id: UUID) -> str:
        if len(self._texts) >= MAX_TEXTS:
            self._texts.clear()
        text = self._texts[originator_id.int] = str(originator_id)
        return text

    def _key(self, subject: UUID, text: str) -> PersonKey | None:
        """The subject's opening key; kept by its text (a string hashes in C)."""
        now = time.monotonic()
        if now - self._keys_since > KEY_MEMO_S:
            self._keys.clear()
            self._keys_since = now
        if text in self._keys:
            return self._keys[text]
        keys = self.mapper.keys
        key = None if keys is None else keys.opening_key(subject)
        self._keys[text] = key
        return key
