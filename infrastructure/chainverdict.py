"""What ``audit verify`` finds: the kinds of break, each break, and the verdict.

Plain values, so the command line, its JSON and a library caller read the same result.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from attrs import frozen


class Kind(StrEnum):
    EVENT_CHANGED = "event bytes changed"
    EVENT_MISSING = "event missing or deleted"
    EVENT_INSERTED = "event inserted"
    REORDERED = "events reordered"
    LINK_ALTERED = "chain link altered"
    SIGNATURE_BAD = "checkpoint signature bad"
    HEAD_MISMATCH = "checkpoint head mismatch"
    CHAIN_MISSING = "chain missing"


class NoPublicKeyError(ValueError):
    """Signed checkpoints and no key to check them with: a question for the caller,
    not a tamper alarm."""


@frozen
class Break:
    position: int
    kind: Kind
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "kind": self.kind.name.lower(),
            "detail": self.detail,
        }


@frozen
class Verdict:
    events: int
    head: int
    pending: int
    checkpoints: int
    breaks: tuple[Break, ...]
    stopped: bool = False
    genesis: int = 0  # the chain starts after it: the events up to it predate the chain
    unchained: int = 0
    notes: tuple[str, ...] = ()

    @property
    def intact(self) -> bool:
        return not self.breaks

    @property
    def first(self) -> Break | None:
        return min(self.breaks, key=lambda b: b.position) if self.breaks else None

    def as_json(self) -> dict[str, Any]:
        first = self.first
        return {
            "intact": self.intact,
            "events": self.events,
            "head": self.head,
            "pending": self.pending,
            "checkpoints": self.checkpoints,
            "first_break": first.as_json() if first else None,
            "breaks": [b.as_json() for b in sorted(self.breaks, key=_order)],
            "stopped_early": self.stopped,
            "genesis": self.genesis,
            "not_chained": self.unchained,
            "notes": list(self.notes),
        }


def _order(item: Break) -> int:
    return item.position
