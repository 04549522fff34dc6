"""Schema evolution of stored events: class versions, upcasters, topic aliases.

The log is never rewritten (its hash chain covers the stored bytes), so an event class
that changes shape keeps every older shape readable here: each stored event names its
class version (``"_v"``, absent in events of releases before versioning: version 1),
and the upcasters registered for (topic, version) carry an old stored dict one version
forward at a time until it has the current shape, before cattrs structures it. A class
that moves or is renamed keeps its old topic resolvable through an alias.

How to change an event class (see README "Schema evolution"):

- add a field with a default: nothing to do (the default stands in for it);
- add a field without a default, rename, split or drop one: raise the class version in
  ``VERSIONS`` and register an upcaster from the previous version;
- move or rename the class: ``alias(old_topic, cls)`` here, and pin the new topic in
  tests/unit/test_stored_topics.py.

Upcasters see the stored dict as written: a personal field (infrastructure.personaldata)
is still sealed there, so an upcaster may move or rename it but not look inside.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from eventsourcing.persistence import MapperDeserialisationError
from eventsourcing.utils import TopicError, get_topic, register_topic, resolve_topic

from domain.text import neutralise

Stored = dict[str, Any]
Upcaster = Callable[[Stored], Stored]

# The key of the class version in a stored event's JSON state.
VERSION_KEY = "_v"

# Current class version by topic, where it is not 1 (a class may instead declare
# ``class_version``). Empty so far: no event class has changed shape incompatibly.
VERSIONS: dict[str, int] = {}

# How the library's TopicError and the mapper's MapperDeserialisationError name the
# stored topic they could not read (eventsourcing.utils, infrastructure.mapper).
_UNRESOLVED = re.compile(r"Failed to resolve topic '(?P<topic>[^']*)'")
_UNDECODED = re.compile(
    r"cannot read stored event (?P<topic>\S+) of (?P<event>\S+ v\d+): (?P<why>.*)",
    re.DOTALL,
)
# A stored topic is at most this long when shown: the log is outside text too.
MAX_TOPIC_SHOWN = 200
_TOPIC = "<topic>"

_UPCASTERS: dict[tuple[str, int], Upcaster] = {}
_CURRENT: dict[type[Any], tuple[str, int]] = {}


def alias(old_topic: str, cls: type[Any]) -> None:
    """Keep the events stored under a class's former module or name readable."""
    register_topic(old_topic, cls)


def upcaster(topic: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function taking a stored dict of ``from_version`` to the next."""

    def register(function: Upcaster) -> Upcaster:
        key = (topic, from_version)
        if key in _UPCASTERS:
            msg = f"an upcaster of {topic} v{from_version} is registered already"
            raise ValueError(msg)
        _UPCASTERS[key] = function
        _CURRENT.clear()
        return function

    return register


def current(cls: type[Any]) -> tuple[str, int]:
    """The class's own topic and its current version (cached: asked per event)."""
    known = _CURRENT.get(cls)
    if known is None:
        topic = get_topic(cls)
        version = VERSIONS.get(topic) or int(getattr(cls, "class_version", 1))
        known = _CURRENT[cls] = (topic, version)
    return known


def upcast(cls: type[Any], stored: Stored) -> Stored:
    """The stored dict in the current shape of ``cls`` (its version key removed)."""
    version = stored.pop(VERSION_KEY, 1)
    topic, target = current(cls)
    while version < target:
        step = _UPCASTERS.get((topic, version))
        if step is None:
            msg = f"no upcaster of {topic} from v{version} (the class is at v{target})"
            raise LookupError(msg)
        stored = step(stored)
        version += 1
    if version > target:
        msg = f"{topic} v{version} was written by a newer release (this one knows v{target})"
        raise LookupError(msg)
    return stored


def forget_cached_versions() -> None:
    """For tests that change ``VERSIONS``: the versions are read again."""
    _CURRENT.clear()


def resolves(topic: str) -> bool:
    """Whether a stored topic names a class this release has (directly or by alias)."""
    try:
        resolve_topic(topic)
    except TopicError:
        return False
    return True


def unreadable(topics: Iterable[str]) -> str | None:
    """What to do about stored topics this release cannot resolve; None if all resolve."""
    lost = sorted(topic for topic in topics if not resolves(topic))
    if not lost:
        return None
    return (
        f"stored topics no longer resolve: {lost}; a moved or renamed event class keeps"
        " its old topic readable: register an alias, infrastructure.upcasting.alias"
        "(OLD_TOPIC, TheClass), next to the class's new home"
    )


def explained(error: BaseException) -> str | None:
    """What a reader of the log that met ``error`` tells its operator; None if not one.

    The topic is named as stored, for the operator to match against an alias: it is a
    module path (``domain.account:UserAccount.Created``), which ``neutralise`` would
    cut as a link. It is only bounded here; whoever prints it keeps it printable
    (``output.say``). What a failed decode says of the event's content stays outside
    text, neutralised.
    """
    if isinstance(error, TopicError):
        found = _UNRESOLVED.match(str(error))
        if found is None:
            return None
        return unreadable([found["topic"][:MAX_TOPIC_SHOWN]])
    if isinstance(error, MapperDeserialisationError):
        found = _UNDECODED.match(str(error))
        if found is None:
            return neutralise(str(error), max_length=500)
        topic = found["topic"][:MAX_TOPIC_SHOWN]
        # The reason names the topic again: kept, while the rest is neutralised.
        why = neutralise(found["why"].replace(found["topic"], _TOPIC), max_length=300)
        return (
            f"stored event {topic} of {found['event']}"
            f" cannot be read: {why.replace(_TOPIC, topic)}; an event"
            " class that changed shape reads its older shapes through an upcaster"
            " (infrastructure.upcasting.upcaster), a renamed one through an alias"
        )
    return None
