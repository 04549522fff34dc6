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
# Rows per multi-row INSERT: well under SQLite's oldest bound parameter limit (999)
# for the widest table a projection batches (10 columns).
ROWS_PER_INSERT = 90


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


def row_with_children(
    cursor: Cursor, parent_sql: str, key: str, children_sql: str
) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]] | None:
    """The row ``parent_sql`` finds by ``key`` and those ``children_sql`` finds by its id.

    None when there is no such row: a read model not (yet) holding it. The parent's first
    column is the id its children are selected by, in the same transaction.
    """
    cursor.execute(parent_sql, (key,))
    parent = cursor.fetchone()
    if parent is None:
        return None
    cursor.execute(children_sql, (parent[0],))
    return parent, cursor.fetchall()


def insert_rows(
    cursor: Cursor,
    head: str,
    rows: Sequence[Sequence[Any]],
    tail: str = "",
    *,
    returning: bool = False,
) -> list[tuple[Any, ...]]:
    """``head VALUES (...), (...) tail`` for ``rows``, a statement per few dozen rows;
    with ``returning`` (a ``RETURNING`` tail), the rows every statement returned.

    One statement for many rows is where a batch saves most: each statement costs a
    call, a parse lookup and (on PostgreSQL) a round trip, whatever its size. An
    ``ON CONFLICT ... DO UPDATE`` tail must not meet the same key twice in one
    statement (PostgreSQL refuses): fold such rows first.
    """
    if not rows:
        return []
    values = [value for row in rows for value in row]
    return insert_flat(cursor, head, len(rows[0]), values, tail, returning=returning)


def insert_flat(
    cursor: Cursor,
    head: str,
    width: int,
    values: Sequence[Any],
    tail: str = "",
    *,
    returning: bool = False,
) -> list[tuple[Any, ...]]:
    """``insert_rows`` for rows laid end to end in one sequence, ``width`` values each:
    a batch that gathers its values in that order binds them as they are, with no
    row made only to be taken apart again."""
    returned: list[tuple[Any, ...]] = []
    if not values:
        return returned
    one = "(" + ", ".join("?" * width) + ")"
    step = width * ROWS_PER_INSERT
    full = f"{head} VALUES {', '.join([one] * ROWS_PER_INSERT)}{tail}"
    for start in range(0, len(values), step):
        chunk = values[start : start + step]
        rows = len(chunk) // width
        sql = (
            full
            if rows == ROWS_PER_INSERT
            else f"{head} VALUES {', '.join([one] * rows)}{tail}"
        )
        cursor.execute(sql, chunk)
        if returning:
            returned += cursor.fetchall()
    return returned
