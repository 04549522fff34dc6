"""The storage the read models are written to, as the projections need it.

Owned here, implemented in ``infrastructure.sql`` (SQLite for the embedded default,
PostgreSQL beside the log): projections speak ``?`` placeholders and the subset of SQL
both dialects share, and know the dialect only where locking differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

Params = Sequence[Any]


class Cursor(Protocol):
    def execute(self, sql: str, params: Params = ()) -> None: ...

    def fetchall(self) -> list[tuple[Any, ...]]: ...

    def fetchone(self) -> tuple[Any, ...] | None: ...


class Database(Protocol):
    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgres``."""
        ...

    def transaction(self) -> AbstractContextManager[Cursor]:
        """One transaction, committed when the block ends, rolled back if it raises."""
        ...

    def ensure_schema(self, statements: Sequence[str]) -> None:
        """Run ``CREATE ... IF NOT EXISTS`` statements, safely beside other processes."""
        ...
