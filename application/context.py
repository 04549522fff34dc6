"""Who acted and why: the context a command runs in, recorded beside every event it saves.

Auditors ask of every event who caused it and what else the same request caused. The
use case knows the first (its required ``by``), the embedder or the job knows the
second (a request id, the job's own correlation id); the event classes know neither,
and should not: the mapper stores this context next to each event's fields, so the
domain stays pure and no event class grows audit fields.
"""

from __future__ import annotations

import contextvars
import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar
from uuid import UUID, uuid4

from attrs import frozen

from domain import ids

ActorKind = Literal["operator", "account", "system", "worker"]
ACTOR_KINDS: tuple[ActorKind, ...] = ("operator", "account", "system", "worker")

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")


@frozen
class Actor:
    """The operator (the CLI, a script), an account, an engine component, or a job."""

    kind: ActorKind
    # The account's id, the component's or the job's name; empty for the operator.
    id: str = ""

    @classmethod
    def operator(cls) -> Actor:
        return cls("operator")

    @classmethod
    def account(cls, account_id: UUID) -> Actor:
        return cls("account", str(account_id))

    @classmethod
    def system(cls, component: str) -> Actor:
        return cls("system", component)

    @classmethod
    def worker(cls, job_kind: str) -> Actor:
        return cls("worker", job_kind)

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}" if self.id else self.kind

    @classmethod
    def parse(cls, text: str) -> Actor:
        kind, _, ident = text.partition(":")
        if kind not in ACTOR_KINDS:
            msg = f"unknown actor kind {kind!r}"
            raise ValueError(msg)
        return cls(kind, ident)


def actor_of(by: UUID | str | None) -> Actor:
    """The actor a use case's ``by`` names: an account (its id, or its login), or None
    for the operator."""
    if by is None:
        return Actor.operator()
    return Actor.account(by if isinstance(by, UUID) else ids.account_id(by))


@frozen
class CommandContext:
    actor: Actor
    # Links the command to every event and job it caused, and theirs in turn.
    correlation_id: UUID
    # The log position of the event a job acted on; None for a command from outside.
    causation: int | None = None

    def as_stored(self) -> dict[str, Any]:
        stored: dict[str, Any] = {
            "actor": str(self.actor),
            "correlation": str(self.correlation_id),
        }
        if self.causation is not None:
            stored["causation"] = self.causation
        return stored

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> CommandContext:
        causation = stored.get("causation")
        return cls(
            Actor.parse(str(stored["actor"])),
            UUID(str(stored["correlation"])),
            None if causation is None else int(causation),
        )


UNBOUND = Actor.system("unbound")

_CURRENT: contextvars.ContextVar[CommandContext | None] = contextvars.ContextVar(
    "mailhost_command_context", default=None
)


def current() -> CommandContext | None:
    return _CURRENT.get()


@contextmanager
def acting(
    actor: Actor,
    *,
    correlation_id: UUID | None = None,
    causation: int | None = None,
) -> Iterator[CommandContext]:
    """Run what follows as ``actor``; a nested command keeps the outer correlation id."""
    outer = _CURRENT.get()
    if correlation_id is None:
        correlation_id = outer.correlation_id if outer is not None else uuid4()
    if causation is None and outer is not None:
        causation = outer.causation
    context = CommandContext(actor, correlation_id, causation)
    token = _CURRENT.set(context)
    try:
        yield context
    finally:
        _CURRENT.reset(token)


@contextmanager
def correlated(correlation_id: UUID) -> Iterator[None]:
    """Bind an embedder's request id: every command inside records it.

    The actor stays whatever each command's ``by`` names; only the correlation is
    bound here, so one HTTP request that runs three use cases reads as one in the
    audit trail.
    """
    outer = _CURRENT.get()
    actor = outer.actor if outer is not None else UNBOUND
    with acting(actor, correlation_id=correlation_id):
        yield


# Called after every command with its name, its outcome ("ok" or the error's class
# name) and its duration in seconds: the metrics adapter counts and times commands
# here without the use cases knowing it exists.
CommandObserver = Callable[[str, str, float], None]
_OBSERVERS: list[CommandObserver] = []


def observe(observer: CommandObserver) -> Callable[[], None]:
    """Add an observer of every command; returns the function that removes it."""
    _OBSERVERS.append(observer)
    return lambda: _OBSERVERS.remove(observer)


# What marks a use case, for whoever walks the engine's groups (the tests that every
# command refuses to run without its caller): "by" for a command, "self" for one whose
# caller proves who they are.
KIND_OF_COMMAND = "__mailhost_command__"


@contextmanager
def _observed(name: str) -> Iterator[None]:
    started = time.perf_counter()
    outcome = "ok"
    try:
        yield
    except Exception as e:
        outcome = type(e).__name__
        raise
    finally:
        for observer in tuple(_OBSERVERS):
            observer(name, outcome, time.perf_counter() - started)


def command(
    method: Callable[Concatenate[S, P], R],
) -> Callable[Concatenate[S, P], R]:
    """A use case whose caller is its required keyword ``by`` (None: the operator).

    Refused before the method runs when ``by`` is left out: an embedder who forgets it
    on a user's request must not act with the operator's rights by default.
    """
    name = method.__qualname__

    @functools.wraps(method)
    def bound(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        if "by" not in kwargs:
            msg = f"{name}() needs by= (the acting account, or OPERATOR)"
            raise TypeError(msg)
        by = kwargs["by"]
        with _observed(name):
            actor = actor_of(by if isinstance(by, UUID | str) else None)
            with acting(actor):
                return method(self, *args, **kwargs)

    setattr(bound, KIND_OF_COMMAND, "by")
    return bound


def self_service(
    method: Callable[Concatenate[S, P], R],
) -> Callable[Concatenate[S, P], R]:
    """A use case whose caller proves who they are, so it takes no ``by``.

    The proof (a password, a session token, a code, an invitation's token) names the
    account; a ``by`` beside it could only disagree with it. The method calls
    :func:`identified` once it knows the account; until then it runs unbound, so a save
    before that shows as ``system:unbound`` (which the tests look for).
    """
    name = method.__qualname__

    @functools.wraps(method)
    def bound(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with _observed(name), acting(UNBOUND):
            return method(self, *args, **kwargs)

    setattr(bound, KIND_OF_COMMAND, "self")
    return bound


def identified(account_id: UUID) -> None:
    """The running self-service use case acts as this account from here on.

    Set in place, not as a nested block: the use case's own binding
    (:func:`self_service`) is reset when it returns, and this goes with it. Called in a
    nested ``acting`` block it would end with that block.
    """
    outer = _CURRENT.get()
    if outer is None:
        msg = "identified() outside a use case: decorate it with @self_service"
        raise RuntimeError(msg)
    _CURRENT.set(
        CommandContext(Actor.account(account_id), outer.correlation_id, outer.causation)
    )


# The mapper records the context on every event it decodes under this attribute, so
# read models (the job schedule, the audit views) can read who and why without a
# second read of the stored bytes.
RECORDED = "_mailhost_context"


def recorded(event: object) -> CommandContext | None:
    """The context stored beside a decoded event; None for one never stored."""
    value = getattr(event, "__dict__", {}).get(RECORDED)
    return value if isinstance(value, CommandContext) else None
