"""The rows of a CSV file of addresses (ADR-9): each cell read for what its column means.

``address``
    Required. The local part (``alice``) or the full address in the service's domain
    (``alice@example.org``); RFC 5321/5322, ASCII, unique case-insensitively.
``kind``
    ``mailbox`` (the default, when the column or the cell is empty), ``redirect``, or
    ``no_reply`` (``no-reply`` also reads).
``users``
    Logins of members of the service's organisation: each gets the address assigned
    and linked in their mail app (ADR-4). Empty: the address is unassigned (ADR-6).
    Not for a redirect, which only forwards.
``targets``
    The addresses a redirect forwards to (ADR-10): required for ``redirect``, refused
    for the other kinds.
``signature``
    The name of one of the service's signature templates (ADR-12). Not for a redirect.

``users`` and ``targets`` hold lists separated by ``;`` (or by ``,`` inside a quoted
cell). Every cell is trimmed of surrounding whitespace; a row may have fewer cells than
the header (the missing ones are empty), never more. Refused in every cell: NUL bytes
and other control characters, and a cell (or an item of a list) beginning with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return, the characters that make a spreadsheet
run a cell as a formula (OWASP, "CSV injection"). Hosted addresses starting with them
are legal per RFC 5322 but are not created from a file: the report and every later
export would carry them.

Nothing here needs the state of the service: what exists, who is a member, which
templates there are, and the quota are asked of the aggregates (application/bulk.py).
"""

from __future__ import annotations

from uuid import UUID

from attrs import frozen

from application.accounts import account_key
from application.csvfile import (
    MAX_FIELD,
    Refused,
    RowError,
    quoted,
    split_file,
)
from application.csvreader import RowReader, cell_problem, formula_problem
from domain.address import identity
from domain.errors import InvalidInput
from domain.hosted import AddressKind, local_key, parse_local_part
from domain.redirect import redirect_target, too_many_targets
from domain.text import clean_line

MAX_ADDRESS = 254  # RFC 5321 4.5.3.1.3: a path holds at most 256 octets, <> included

KINDS = {
    "mailbox": AddressKind.MAILBOX,
    "redirect": AddressKind.REDIRECT,
    "no_reply": AddressKind.NO_REPLY,
    "no-reply": AddressKind.NO_REPLY,
}


@frozen
class ParsedRow:
    """A data row as read: each part that parsed (None / empty where it did not)."""

    line: int
    local: str | None
    kind: AddressKind | None
    users: tuple[tuple[str, UUID], ...]
    targets: tuple[str, ...]
    signature: str | None


@frozen
class ReadFile:
    """The rows that parsed, how many data rows there were, and every problem found."""

    rows: tuple[ParsedRow, ...]
    count: int
    errors: tuple[RowError, ...]


def read_file(data: bytes, domain: str) -> ReadFile:
    """Decode, split and check the syntax of every row (nothing here needs the state)."""
    split = split_file(data)
    if isinstance(split, Refused):
        return ReadFile((), split.count, split.errors)
    return ReadFile(*_AddressReader(domain, split.columns).read_all(split.body))


class _AddressReader(RowReader[ParsedRow]):
    """Reads each row for what it parsed to: a part that did not parse is None."""

    def __init__(self, domain: str, columns: tuple[str, ...]) -> None:
        super().__init__(columns)
        self.domain = domain
        self._first_line: dict[str, int] = {}
        self._logins: dict[str, UUID | str] = {}

    def take(self, line: int, cells: list[str]) -> None:
        self.rows.append(self._row(line, self._values(line, cells)))

    def _values(self, line: int, cells: list[str]) -> dict[str, str | None]:
        """Each named column's trimmed cell; None: a refused cell, already reported."""
        values: dict[str, str | None] = {}
        for name, raw in self.named_cells(line, cells):
            problem = cell_problem(raw)
            if problem is not None:
                self.error(line, name, problem)
                values[name] = None
                continue
            values[name] = raw.strip()
        return values

    def _row(self, line: int, values: dict[str, str | None]) -> ParsedRow:
        local = self._address(line, values.get("address", ""))
        kind = self._kind(line, values.get("kind", ""))
        users = self._users(line, values.get("users", ""), kind)
        targets = self._targets(line, values.get("targets", ""), kind, local)
        # A clean cell (no control character, at most MAX_FIELD): only blanks collapse.
        name = values.get("signature", "") or ""
        signature = clean_line(name, field="signature", max_length=MAX_FIELD) or None
        if signature is not None and kind is AddressKind.REDIRECT:
            self.error(
                line,
                "signature",
                "a redirect sends no mail of its own: it has no signature",
            )
            signature = None
        return ParsedRow(line, local, kind, users, targets, signature)

    def _address(self, line: int, value: str | None) -> str | None:
        if value is None:
            return None
        if not value:
            if "address" in self.columns:
                self.error(line, "address", "the address is empty")
            return None
        if len(value) > MAX_ADDRESS:
            self.error(
                line,
                "address",
                f"the address is {len(value)} characters long; at most {MAX_ADDRESS}",
            )
            return None
        try:
            local = parse_local_part(value, self.domain)
        except InvalidInput as e:
            self.error(line, "address", str(e))
            return None
        first = self._first_line.setdefault(local_key(local), line)
        if first != line:
            self.error(
                line,
                "address",
                f"address {local}@{self.domain} is listed twice: on line {first} and "
                f"line {line}",
            )
            return None
        return local

    def _kind(self, line: int, value: str | None) -> AddressKind | None:
        if value is None:
            return None
        if not value:
            return AddressKind.MAILBOX
        kind = KINDS.get(value.casefold())
        if kind is None:
            self.error(
                line,
                "kind",
                f"kind {quoted(value)} is not mailbox, redirect or no_reply",
            )
        return kind

    def _users(
        self, line: int, value: str | None, kind: AddressKind | None
    ) -> tuple[tuple[str, UUID], ...]:
        if value is None:
            return ()
        logins = _items(value)
        if logins and kind is AddressKind.REDIRECT:
            self.error(
                line,
                "users",
                "a redirect has no users: it only forwards to its targets",
            )
            return ()
        found: dict[UUID, str] = {}
        for login in logins:
            parsed = self._login(login)
            if isinstance(parsed, str):
                self.error(line, "users", parsed)
            else:
                found.setdefault(parsed, login)
        return tuple((login, account) for account, login in found.items())

    def _login(self, login: str) -> UUID | str:
        """The account id of a login, or why it is not one (cached: rows repeat users)."""
        known = self._logins.get(login)
        if known is not None:
            return known
        problem = formula_problem(login, quoted(login))
        if problem is not None:
            result: UUID | str = f"user {problem}"
        else:
            try:
                result = account_key(login, what="user")
            except InvalidInput as e:
                result = str(e)
        self._logins[login] = result
        return result

    def _targets(
        self,
        line: int,
        value: str | None,
        kind: AddressKind | None,
        local: str | None,
    ) -> tuple[str, ...]:
        if value is None:
            return ()
        items = _items(value)
        if kind is not AddressKind.REDIRECT:
            if items and kind is not None:
                self.error(
                    line,
                    "targets",
                    f"only a redirect has targets (this row's kind is {kind.value}): "
                    "set kind to redirect or empty the cell",
                )
            return ()
        if not items:
            self.error(line, "targets", "a redirect needs at least one target address")
            return ()
        own = f"{local}@{self.domain}" if local else ""
        clean: dict[str, str] = {}
        for item in items:
            problem = formula_problem(item, quoted(item))
            if problem is not None:
                self.error(line, "targets", f"target {problem}")
                continue
            try:
                target = redirect_target(item, own=own)
            except InvalidInput as e:
                self.error(line, "targets", str(e))
                continue
            clean.setdefault(identity(target), target)
        too_many = too_many_targets(len(clean))
        if too_many is not None:
            self.error(line, "targets", too_many)
        return tuple(clean.values())


def _items(value: str) -> list[str]:
    return [item.strip() for item in value.replace(",", ";").split(";") if item.strip()]
