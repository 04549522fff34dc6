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

    def add(self, account: str, entry: Line, position: int, *, fold: bool) -> None:
        """A line for the event, or one more repeat of the latest if ``fold`` may.

        ``entry``: at, kind, outcome, place, network, device, detail.
        """
        if fold:
            last = self.latest.get(account, _UNSEEN)
            if last is _UNSEEN:
                last = self._look_up(account)
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

    def _look_up(self, account: str) -> tuple[list[Any], int] | None:
        """The account's latest stored login line (the page has written none yet: it
        is as the page began), remembered for the page."""
        self.cursor.execute(
            "SELECT position, outcome, network, device FROM mh_activity"
            " WHERE account_id = ? AND kind = 'login' ORDER BY position DESC LIMIT 1",
            (account,),
        )
        row = self.cursor.fetchone()
        found: tuple[list[Any], int] | None = None
        if row is not None:
            position, outcome, network, device = row
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
            found = (line, 0)
        self.latest[account] = found
        return found

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
