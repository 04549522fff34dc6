"""The raw baseline: a plain eventsourcing aggregate, one event per command.

eventsourcing's own default mapper and transcoder, a SQLite file, no engine code: what
any command of the engine costs beyond this is the engine's.
"""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


class Counter(Aggregate):
    def __init__(self, name: str) -> None:
        self.name = name
        self.total = 0
        self.last_note = ""

    @event("Counted")
    def count(self, by: int, note: str) -> None:
        self.total += by
        self.last_note = note


class RawLog(Application[UUID]):
    name = "rawbaseline"


def open_raw_log(path: Path) -> RawLog:
    return RawLog(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(path),
            "CREATE_TABLE": "y",
            "MAPPER_TOPIC": "",
            "CIPHER_TOPIC": "",
            "CIPHER_KEY": "",
            "COMPRESSOR_TOPIC": "",
            "IS_SNAPSHOTTING_ENABLED": "no",
        }
    )


class RawCommands:
    """get + trigger one event + save, rotating over a few aggregates."""

    def __init__(self, log: RawLog, aggregates: int) -> None:
        self.log = log
        self.ids: list[UUID] = []
        for i in range(aggregates):
            counter = Counter(name=f"counter {i}")
            log.save(counter)
            self.ids.append(counter.id)
        self._next = 0

    def seed(self, events: int) -> None:
        """Give every aggregate ``events`` more events, saved in one transaction each."""
        for aggregate_id in self.ids:
            counter = self._get(aggregate_id)
            for i in range(events):
                counter.count(1, note=f"seed {i}")
            self.log.save(counter)

    def _get(self, aggregate_id: UUID) -> Counter:
        counter: Aggregate = self.log.repository.get(aggregate_id)
        if not isinstance(counter, Counter):
            raise TypeError(f"{aggregate_id} is not a Counter")
        return counter

    def command(self) -> None:
        aggregate_id = self.ids[self._next % len(self.ids)]
        self._next += 1
        counter = self._get(aggregate_id)
        counter.count(1, note=f"command {self._next}")
        self.log.save(counter)

    def batch(self, size: int) -> int:
        for _ in range(size):
            self.command()
        return size
