"""A page of recent-activity lines, written at the page's end (``RecentActivity``).

A hundred guesses from one network and client are one line "wrong password x100"
(SEC-3): each failure folds into the account's latest login line when it repeats it.
Read one row at a time, that is a query and an update per failure; here the page keeps
each account's latest login line in memory (read from the store once, the first time
the account may fold), folds into it there, and writes the new lines in multi-row
INSERTs and each stored line it folded into with one UPDATE. The rows are those the
event-at-a-time fold writes. (Reading the stored lines of every account that may fold
at once as the page begins was measured slower on the audit benchmark's log: most
accounts meet a login of the page before they fail, and need no stored line.)

The new lines lie end to end in one list, as the INSERTs bind them, and their times
stay ``datetime`` until they are written: a line folded into takes the time of its
latest failure, so only the times of the lines written are formatted.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from projections.storage import Cursor, insert_flat

# A line as ``projections.activity`` describes an event: at, kind, outcome, place,
# network, device, detail.
Line = tuple[datetime, str, str, str, str, str, str]

# A line's columns, in the order of the INSERT; WIDTH of them a line.
_AT, _OUTCOME, _NETWORK, _DEVICE, _REPEATS = 2, 4, 6, 7, 9
WIDTH = 10
INSERT = (
    "INSERT INTO mh_activity (position, account_id, at, kind, outcome, place,"
    " network, device, detail, repeats)"
)
# Accounts per look-up statement: one parameter each, well under SQLite's oldest
# bound parameter limit (999).
_ACCOUNTS_PER_SELECT = 500
_UNSEEN: tuple[list[Any], int] = ([], 0)  # marks an account not met yet


class ActivityPage:
    def __init__(self, cursor: Cursor) -> None:
        self.cursor = cursor
        # The new lines, WIDTH values each (``at`` a datetime until ``write``).
        self.new: list[Any] = []
        # Each account's latest login line, new or stored, as (the list holding it,
        # where it starts); None: it has none.
        self.latest: dict[str, tuple[list[Any], int] | None] = {}
        # Stored lines this page folds into; their repeats count this page's only.
        self.stored: list[list[Any]] = []

    def add(self, account: str, entry: Line, position: int, fold: bool) -> None:
        """A line for the event, or one more repeat of the latest if ``fold`` may.

        ``entry``: at, kind, outcome, place, network, device, detail.
        """
        if fold:
            last = self.latest.get(account, _UNSEEN)
            if last is _UNSEEN:
                self.look_up((account,))
                last = self.latest[account]
            if last is not None:
                lines, i = last
                if (
                    lines[i + _OUTCOME] == entry[2]
                    and lines[i + _NETWORK] == entry[4]
                    and client(lines[i + _DEVICE]) == client(entry[5])
                ):
                    lines[i + _REPEATS] += 1
                    lines[i + _AT] = entry[0]
                    return
        new = self.new
        if entry[1] == "login":
            self.latest[account] = (new, len(new))
        new += (position, account, *entry, 1)

    def look_up(self, accounts: Collection[str]) -> None:
        """Each account's latest stored login line (the page has written none yet:
        they are as the page began)."""
        wanted = [a for a in accounts if a not in self.latest]
        for start in range(0, len(wanted), _ACCOUNTS_PER_SELECT):
            chunk = wanted[start : start + _ACCOUNTS_PER_SELECT]
            values = ", ".join(["(?)"] * len(chunk))
            self.cursor.execute(
                f"WITH wanted (account_id) AS (VALUES {values})"  # noqa: S608 - placeholders only
                " SELECT w.account_id, a.position, a.outcome, a.network, a.device"
                " FROM wanted w JOIN mh_activity a ON a.position = ("
                " SELECT b.position FROM mh_activity b"
                " WHERE b.account_id = w.account_id AND b.kind = 'login'"
                " ORDER BY b.position DESC LIMIT 1)",
                chunk,
            )
            for account, position, outcome, network, device in self.cursor.fetchall():
                line = [
                    position,
                    account,
                    None,
                    "login",
                    outcome,
                    "",
                    network,
                    device,
                    "",
                    0,
                ]
                self.stored.append(line)
                self.latest[account] = (line, 0)
        for account in wanted:
            self.latest.setdefault(account, None)

    def write(self) -> None:
        new = self.new
        new[_AT::WIDTH] = [at.isoformat() for at in new[_AT::WIDTH]]
        insert_flat(self.cursor, INSERT, WIDTH, new)
        for line in self.stored:
            if line[_REPEATS]:
                self.cursor.execute(
                    "UPDATE mh_activity SET repeats = repeats + ?, at = ?"
                    " WHERE position = ?",
                    (line[_REPEATS], line[_AT].isoformat(), line[0]),
                )


def client(device: str) -> str:
    """The user agent part of a device column, without the device fingerprint."""
    return device.rpartition(" [")[0]
