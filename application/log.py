"""The event log: eventsourcing's Application over the configured persistence module."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import (
    Aggregate,
    DomainEventProtocol,
    MutableOrImmutableAggregate,
)
from eventsourcing.persistence import IntegrityError, Recording

from application import context
from domain.account import UserAccount
from domain.errors import AlreadyExists, NotFound
from domain.importjob import ImportJob
from domain.mailbox import Mailbox
from domain.mailservice import MailService
from domain.organisation import Organisation
from domain.replywindow import ReplyBudget
from domain.responder import AutoResponder

A = TypeVar("A", bound=Aggregate)
T = TypeVar("T")

MAX_CONFLICT_RETRIES = 10
BACKOFF_S = 0.005


class MailHostLog(Application[UUID]):
    # PostgreSQL names its tables after this; renaming it would point at empty tables.
    name = "mailhost"
    # Accounts gain an event per login, mailboxes one per message sent, services one
    # per address created, imports one per batch copied: a snapshot every 50-100
    # events keeps loading them flat.
    snapshotting_intervals: ClassVar[dict[Any, int]] = {
        UserAccount: 50,
        Mailbox: 100,
        MailService: 100,
        AutoResponder: 100,
        ReplyBudget: 100,
        ImportJob: 100,
        # Every sign-in reads its organisation (ORG-2), which gains an event per member.
        Organisation: 100,
    }

    def save(
        self,
        *objs: MutableOrImmutableAggregate[UUID] | DomainEventProtocol[UUID] | None,
        **kwargs: Any,  # noqa: ANN401 - passed through to eventsourcing as it takes them
    ) -> list[Recording[UUID]]:
        """Every event records who and why; a save outside any command is "unbound".

        Binding here, not in the mapper, gives all events of one save one correlation.
        """
        if context.current() is not None:
            return super().save(*objs, **kwargs)
        with context.acting(context.UNBOUND):
            return super().save(*objs, **kwargs)

    def load(self, aggregate_id: UUID, kind: type[A], what: str) -> A:
        """The aggregate as a private copy: a command may mutate it and save it."""
        return self._get(aggregate_id, kind, what, copy=True)

    def find(self, aggregate_id: UUID, kind: type[A]) -> A | None:
        """The aggregate (a private copy), or None where none of that kind exists."""
        try:
            return self.load(aggregate_id, kind, "aggregate")
        except NotFound:
            return None

    def read(self, aggregate_id: UUID, kind: type[A], what: str) -> A:
        """The aggregate to read only: never mutate what this returns, nor save it.

        With the aggregate cache on (a long-running decider, ``open_engine(cached=True)``)
        this is the cached object itself, fast-forwarded to the log's last event but not
        deep-copied: the copy ``load`` makes costs about a quarter of a cached decision,
        and a lookup that only reads (the service and mailbox an address names, the
        responder's config) has no use for it. A command on it would change the cached
        state of every later load without any event saved, so whatever mutates goes
        through ``load``/``update``. A later load fast-forwards this same object in
        place, so hold it for one decision only. Without the cache it is a fresh replay.
        """
        return self._get(aggregate_id, kind, what, copy=False)

    def read_or_none(self, aggregate_id: UUID, kind: type[A]) -> A | None:
        """``read``, or None where none of that kind exists; never mutate the result."""
        try:
            return self.read(aggregate_id, kind, "aggregate")
        except NotFound:
            return None

    def _get(self, aggregate_id: UUID, kind: type[A], what: str, *, copy: bool) -> A:
        try:
            aggregate: Aggregate = self.repository.get(
                aggregate_id, deepcopy_from_cache=copy
            )
        except AggregateNotFoundError:
            raise NotFound(f"{what} does not exist") from None
        if not isinstance(aggregate, kind):
            raise NotFound(f"{what} does not exist")
        return aggregate

    def exists(self, aggregate_id: UUID) -> bool:
        """Whether the aggregate has any event; one indexed row read, not a replay."""
        return bool(self.recorder.select_events(aggregate_id, limit=1))

    def create(self, *aggregates: Aggregate, what: str) -> None:
        """Save new aggregates; a derived id that exists already means a duplicate."""
        try:
            self.save(*aggregates)
        except IntegrityError:
            raise AlreadyExists(f"{what} exists already") from None

    def update(
        self, aggregate_id: UUID, kind: type[A], what: str, decide: Callable[[A], T]
    ) -> T:
        """Load, decide, save; decided again on fresh state if another writer won."""

        def attempt() -> T:
            aggregate = self.load(aggregate_id, kind, what)
            result = decide(aggregate)
            self.save(aggregate)
            return result

        return self.retrying(attempt)

    def retrying(self, command: Callable[[], T]) -> T:
        """Run load-decide-save again when another writer saved first.

        Optimistic concurrency is the log's only lock: a stale save raises
        IntegrityError, and the command is simply re-decided on fresh state.
        """
        for attempt in range(MAX_CONFLICT_RETRIES - 1):
            try:
                return command()
            except IntegrityError:
                # Jittered, growing pause: writers that collided should not collide again.
                time.sleep(random.uniform(0, BACKOFF_S * 2**attempt))  # noqa: S311 - jitter, no secret
        return command()
