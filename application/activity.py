"""The recent-activity read model as the application sees it (SEC-3)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from attrs import frozen


@frozen
class ActivityEntry:
    at: datetime
    kind: str
    outcome: str
    place: str = ""
    network: str = ""
    device: str = ""
    detail: str = ""
    # Repeats of the same failure from the same network and client are one line.
    count: int = 1


class ActivityQueries(Protocol):
    def recent(self, account_id: UUID, limit: int = 50) -> list[ActivityEntry]:
        """Newest first."""
        ...
