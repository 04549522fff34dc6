"""A page of recent-activity lines, written at the page's end (``RecentActivity``).

A hundred guesses from one network and client are one line "wrong password x100"
(SEC-3): each failure folds into the account's latest login line when it repeats it.
Read one row at a time, that is a query and an update per failure; here the page keeps
each account's latest login line in memory (read from the store once, the first time
the account is met), folds into it there, and writes the new lines in multi-row
INSERTs and each stored line it folded into with one UPDATE. The rows are those the
event-at-a-time fold writes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from projections.storage import Cursor, insert_rows

# A line as ``projections.activity`` describes an event: at, kind, outcome, place,
# network, device, detail.
Line = tuple[datetime, str, str, str, str, str, str]

# A line as its columns, in the order of the INSERT (a list: a fold changes it).
_AT, _OUTCOME, _NETWORK, _DEVICE, _REPEATS = 2, 4, 6, 7, 9
INSERT = (
    "INSERT INTO mh_activity (position, account_id, at, kind, outcome, place,"
    " network, device, detail, repeats)"
)


class ActivityPage:
    def __init__(self, cursor: Cursor) -> None:
        self.cursor = cursor
        self.new: list[list[Any]] = []
        # Each account's latest login line, new or stored; None: it has none.
        self.latest: dict[str, list[Any] | None] = {}
        # Stored lines this page folds into; their repeats count this page's only.
        self.stored: list[list[Any]] = []

    def add(self, account: str, entry: Line, position: int, *, fold: bool) -> None:
        """A line for the event, or one more repeat of the latest if ``fold`` may.

        ``entry``: at, kind, outcome, place, network, device, detail.
        """
        when, kind, outcome, place, network, device, detail = entry
        at = when.isoformat()
        if fold:
            last = self._latest_login(account)
            if (
                last is not None
                and last[_OUTCOME] == outcome
                and last[_NETWORK] == network
                and client(last[_DEVICE]) == client(device)
            ):
                last[_REPEATS] += 1
                last[_AT] = at
                return
        line = [position, account, at, kind, outcome, place, network, device, detail, 1]
        self.new.append(line)
        if kind == "login":
            self.latest[account] = line

    def _latest_login(self, account: str) -> list[Any] | None:
        if account in self.latest:
            return self.latest[account]
        self.cursor.execute(
            "SELECT position, outcome, network, device FROM mh_activity"
            " WHERE account_id = ? AND kind = 'login' ORDER BY position DESC LIMIT 1",
            (account,),
        )
        row = self.cursor.fetchone()
        line = None
        if row is not None:
            position, outcome, network, device = row
            line = [position, account, "", "login", outcome, "", network, device, "", 0]
            self.stored.append(line)
        self.latest[account] = line
        return line

    def write(self) -> None:
        insert_rows(self.cursor, INSERT, self.new)
        for line in self.stored:
            if line[_REPEATS]:
                self.cursor.execute(
                    "UPDATE mh_activity SET repeats = repeats + ?, at = ?"
                    " WHERE position = ?",
                    (line[_REPEATS], line[_AT], line[0]),
                )


def client(device: str) -> str:
    """The user agent part of a device column, without the device fingerprint."""
    return device.rpartition(" [")[0]
