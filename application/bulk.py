"""Bulk creation of addresses from a CSV file (ADR-9): every row checked, then all or nothing.

The file
--------
- **Encoding**: UTF-8. A UTF-8 byte-order mark is accepted and stripped. Anything else
  is refused, naming the line and byte offset of the first byte that is not UTF-8 (a
  UTF-16 file is named as such): save the sheet as "CSV UTF-8".
- **Size**: at most 10 MiB, 100,000 rows, and 1,024 characters per cell.
- **Header**: the first non-blank line names the columns, in any order, compared
  without case and surrounding spaces:

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
      The addresses a redirect forwards to (ADR-10): required for ``redirect``,
      refused for the other kinds.
  ``signature``
      The name of one of the service's signature templates (ADR-12). Not for a redirect.

  Any other column is refused and named, a ``password`` column too: passwords are
  generated, one per mailbox and no-reply row, and shown once in the report.
- **Delimiter**: ``,``; a header line that has ``;`` and no ``,`` makes ``;`` the
  delimiter (spreadsheets in decimal-comma locales save CSV that way). Quoting is
  RFC 4180's: a cell holding the delimiter, a quote or a line break is wrapped in ``"``
  and its quotes doubled. ``users`` and ``targets`` hold lists separated by ``;`` (or by
  ``,`` inside a quoted cell).
- **Rows**: blank lines and rows whose cells are all empty are skipped; every cell is
  trimmed of surrounding whitespace. A row may have fewer cells than the header (the
  missing ones are empty), never more.
- **Refused in every cell**: NUL bytes and other control characters, and a cell (or an
  item of a list) beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return,
  the characters that make a spreadsheet run a cell as a formula (OWASP, "CSV
  injection"). Hosted addresses starting with them are legal per RFC 5322 but are not
  created from a file: the report and every later export would carry them.

Checks
------
Each row: the address syntax and domain; the kind; users' login syntax and membership
of the organisation; targets (syntax, at most 50, not the address itself; present
exactly for a redirect); the signature template exists. The file: each address once
(a repeat names both lines), none existing in the domain already (mailboxes, aliases,
redirections, generic addresses), and enough free slots in the quota for all rows.

The report
----------
:class:`BulkReport` lists every problem as ``(line, column, message)``: ``line`` is the
1-based line of the file where the row starts, the header included (line 0 is the file
as a whole: its size, the quota); ``column`` is the header name, or "" for the row or
the file. If there is any problem nothing is created. Otherwise ``apply`` claims every
address in one ``AddressesClaimed`` event, creates every ``Mailbox`` in the same
transaction, and returns each address with its generated password (None for a
redirect), once. Passwords never reach an event, the log or the report's repr.

A crash (kill -9)
-----------------
The save is the only write that decides: the mail store gets the hashes from the jobs
the ``Mailbox.Created`` events start (``Addresses.sync_store``), so it converges after a
crash at any point. The generated passwords would still be lost with the process if it
died between the save and the report, so before the save they are *sealed* (encrypted
under a key derived from the engine's secret key) into the credential store under the
*run id*, derived from the domain and the SHA-256 of the file. Applying the same file
again finds that run saved and returns its passwords from the sealed copy instead of
refusing every row as existing; ``acknowledge`` destroys the copy once the report has
been shown (the CLI does after printing it). A run that crashed before its save left
nothing in the log: applying the file again simply applies it. Secrets of a run that
never saved are taken back at once on a refusal, and by the orphan sweep after a crash
(which also ends an unread sealed copy after its grace period).
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from typing import NamedTuple
from uuid import UUID, uuid4, uuid5

from attrs import field, frozen

from application.addresses import generate_password
from application.authorization import OPERATOR, require_admin
from application.credentials import staged_secret
from application.log import MailHostLog
from application.mailservices import MailServices
from application.ports import (
    Clock,
    CredentialStore,
    MailStore,
    PasswordHasher,
    SealBroken,
    Sealer,
)
from domain import ids
from domain.address import EmailAddress
from domain.errors import InvalidInput
from domain.mailbox import MAX_REDIRECT_TARGETS, CreationMode, Mailbox
from domain.mailservice import (
    TAKES_SLOT,
    AddressEntry,
    AddressKind,
    MailService,
    parse_local_part,
)
from domain.organisation import Organisation

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_ROWS = 100_000
MAX_FIELD = 1_024
MAX_ADDRESS = 254  # RFC 5321 4.5.3.1.3: a path holds at most 256 octets, <> included

COLUMNS = ("address", "kind", "users", "targets", "signature")
KINDS = {
    "mailbox": AddressKind.MAILBOX,
    "redirect": AddressKind.REDIRECT,
    "no_reply": AddressKind.NO_REPLY,
    "no-reply": AddressKind.NO_REPLY,
}
WITH_PASSWORD = frozenset({AddressKind.MAILBOX, AddressKind.NO_REPLY})
# OWASP "CSV injection": a cell starting with one of these runs as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FILE = 0  # the line number of a problem of the file as a whole
MAX_NAMED = 10  # unknown columns named in one message

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
CSV_FIELD_LIMIT_MESSAGE = "field larger than field limit"
RUN_NAMESPACE = UUID("6f1c2a9e-8d4b-5e37-9a0c-3b7e5d1f4a62")


class RowError(NamedTuple):
    """One problem: the line where the row starts (0: the file), its column ("": none)."""

    line: int
    column: str
    message: str


class CreatedRow(NamedTuple):
    """An address created, and its generated password: shown once, never in a repr."""

    address: str
    password: str | None

    def __repr__(self) -> str:
        return f"CreatedRow(address={self.address!r})"


@frozen
class BulkReport:
    """What a check or an application of a file found.

    ``ok``: no problem (after ``apply``: everything was created; after ``check``: applying
    would create everything, if nothing changes in between). ``rows``: the data rows
    read (blank lines excluded). ``applied``: this report comes from ``apply`` and the
    addresses exist. ``recovered``: they were created by an earlier run of the same file
    that did not get to show its report; the passwords come from its sealed copy.
    ``run_id``: the sealed copy to destroy (``BulkCreation.acknowledge``) once shown.
    """

    ok: bool
    rows: int
    errors: tuple[RowError, ...] = ()
    created: tuple[CreatedRow, ...] = ()
    applied: bool = False
    recovered: bool = False
    run_id: UUID | None = None

    def as_text(self) -> str:
        """For a person: the problems, or the addresses with their passwords (shown once)."""
        if self.errors:
            read = f" in a file of {self.rows} row(s)" if self.rows else ""
            lines = [f"nothing was created: {len(self.errors)} problem(s){read}:"]
            for line, column, message in self.errors:
                where = "file" if line == FILE else f"line {line}"
                if column:
                    where += f", column {column}"
                lines.append(f"  {where}: {message}")
            return "\n".join(lines) + "\n"
        if not self.applied:
            return (
                f"{self.rows} row(s) checked, no problem: applying the file creates "
                f"{self.rows} address(es).\n"
            )
        head = (
            f"created {len(self.created)} address(es); "
            "each password is shown this once, pass it on now:"
        )
        if self.recovered:
            head = (
                f"this file was applied already by a run that did not show its report: "
                f"the {len(self.created)} address(es) it created, each password shown "
                "this once, pass it on now:"
            )
        lines = [head]
        width = max((len(c.address) for c in self.created), default=0)
        for address, password in self.created:
            shown = password if password is not None else "(redirect: no password)"
            lines.append(f"  {address:<{width}}  {shown}")
        return "\n".join(lines) + "\n"

    def as_csv(self) -> str:
        """For a program: ``line,column,message`` rows if refused, else ``address,password``.

        Every cell is quoted, and one that a spreadsheet would run as a formula gets a
        leading ``'`` (OWASP). Generated passwords and created addresses never start with
        such a character, so they are never altered.
        """
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        if self.errors:
            writer.writerow(["line", "column", "message"])
            writer.writerows(
                [str(e.line), _neutral(e.column), _neutral(e.message)]
                for e in self.errors
            )
        else:
            writer.writerow(["address", "password"])
            writer.writerows(
                [_neutral(c.address), _neutral(c.password or "")] for c in self.created
            )
        return out.getvalue()


def _neutral(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_START) else cell


@frozen
class _Row:
    """A data row as read: each part that parsed (None / empty where it did not)."""

    line: int
    local: str | None
    kind: AddressKind | None
    users: tuple[tuple[str, UUID], ...]
    targets: tuple[str, ...]
    signature: str | None


@frozen
class _Read:
    rows: tuple[_Row, ...]
    count: int
    errors: tuple[RowError, ...]


class _Refused(Exception):  # noqa: N818 - a control-flow signal, never leaves this module
    def __init__(self, errors: Sequence[RowError]) -> None:
        super().__init__("the file no longer applies")
        self.errors = tuple(errors)


@frozen
class _Planned:
    row: _Row
    address: str
    mailbox_id: UUID
    credential_id: UUID | None
    encoded: str | None = field(repr=False)
    password: str | None = field(repr=False)


def run_id(domain: str, data: bytes) -> UUID:
    """The id of a file's run on a domain: the same file, the same run."""
    return uuid5(RUN_NAMESPACE, f"{domain}:{hashlib.sha256(data).hexdigest()}")


@frozen
class BulkCreation:
    """Create many addresses of one domain from a CSV file (ADR-9), all or nothing.

    ``store`` is not written here any more (the jobs do); it stays a field so that
    callers build this as before. Without a ``sealer`` nothing is sealed: a crash
    between the save and the report loses the passwords (``address password`` sets
    new ones).
    """

    log: MailHostLog
    services: MailServices
    credentials: CredentialStore
    hasher: PasswordHasher
    store: MailStore
    clock: Clock
    sealer: Sealer | None = None

    def check(
        self, domain: str, data: bytes, *, by: UUID | None = OPERATOR
    ) -> BulkReport:
        """Validate every row against the file format and the domain; change nothing."""
        service = self.services.get(domain)
        require_admin(self.log, service, by)
        read = _read(data, service.domain)
        errors = [*read.errors, *self._against(read, service)]
        return _report(read.count, errors)

    def apply(
        self, domain: str, data: bytes, *, by: UUID | None = OPERATOR
    ) -> BulkReport:
        """Check, then create every row or (any problem) nothing.

        The file's run saved already (a crash before its report): its report again,
        from the sealed copy. Otherwise the sealed passwords and the hashes go to the
        credential store first (the hashes under fresh ids the events name, owned by
        their mailboxes); the service and all mailboxes are saved in one transaction
        (re-decided on fresh state if another writer saved first); a refusal takes
        every secret back.
        """
        service = self.services.get(domain)
        require_admin(self.log, service, by)
        run = run_id(service.domain, data)
        recovered = self._recovered(run)
        if recovered is not None:
            return recovered
        read = _read(data, service.domain)
        errors = [*read.errors, *self._against(read, service)]
        if errors:
            return _report(read.count, errors)
        planned = [self._plan(service, row) for row in read.rows]

        def attempt() -> list[Mailbox]:
            fresh = self.services.get(service.domain)
            again = self._against(read, fresh) or _moved(fresh, planned)
            if again:
                raise _Refused(again)
            return self._save(fresh, planned, by)

        try:
            with ExitStack() as staged:
                sealed = self._seal(staged, service, run, planned)
                for plan in planned:
                    if plan.credential_id is not None and plan.encoded is not None:
                        staged.enter_context(
                            staged_secret(
                                self.credentials,
                                plan.credential_id,
                                plan.encoded,
                                owner=plan.mailbox_id,
                            )
                        )
                mailboxes = self.log.retrying(attempt)
        except _Refused as refused:
            return _report(read.count, refused.errors)
        return BulkReport(
            ok=True,
            rows=read.count,
            created=tuple(
                CreatedRow(m.address, p.password)
                for m, p in zip(mailboxes, planned, strict=True)
            ),
            applied=True,
            run_id=run if sealed else None,
        )

    def recover(
        self, domain: str, data: bytes, *, by: UUID | None = OPERATOR
    ) -> BulkReport | None:
        """The report of the file's run if it saved and its sealed copy is unread."""
        service = self.services.get(domain)
        require_admin(self.log, service, by)
        return self._recovered(run_id(service.domain, data))

    def acknowledge(self, report: BulkReport) -> None:
        """The report was shown: destroy its sealed copy (read once, then gone)."""
        if report.run_id is not None:
            self.credentials.forget_secret(report.run_id)

    def _recovered(self, run: UUID) -> BulkReport | None:
        if self.sealer is None:
            return None
        sealed = self.credentials.secret(run)
        if sealed is None:
            return None
        try:
            payload = json.loads(self.sealer.unseal(sealed, context=str(run)))
            probe, rows = UUID(payload["probe"]), payload["rows"]
            created = tuple(
                CreatedRow(str(a), None if p is None else str(p)) for a, p in rows
            )
        except (SealBroken, ValueError, KeyError, TypeError):
            return None  # not this engine's: replaced when the file is applied
        if not self.log.exists(probe):
            return None  # that run never saved: the file applies afresh
        return BulkReport(
            ok=True,
            rows=len(created),
            created=created,
            applied=True,
            recovered=True,
            run_id=run,
        )

    def _seal(
        self,
        staged: ExitStack,
        service: MailService,
        run: UUID,
        planned: Sequence[_Planned],
    ) -> bool:
        """Keep the passwords sealed under the run id for the save; True if sealed.

        A copy already there is of a run that never saved (``_recovered`` said so).
        """
        if self.sealer is None or not any(p.password for p in planned):
            return False
        payload = {
            "domain": service.domain,
            "probe": str(
                planned[0].mailbox_id
            ),  # one saved: all saved (one transaction)
            "rows": [[p.address, p.password] for p in planned],
        }
        sealed = self.sealer.seal(
            json.dumps(payload, separators=(",", ":")).encode(), context=str(run)
        )
        self.credentials.forget_secret(run)
        staged.enter_context(
            staged_secret(self.credentials, run, sealed, owner=service.id)
        )
        return True

    def _plan(self, service: MailService, row: _Row) -> _Planned:
        if row.local is None or row.kind is None:  # pragma: no cover - checked
            raise InvalidInput(f"line {row.line} was not checked")
        address = f"{row.local}@{service.domain}"
        mailbox_id = service.new_mailbox_id(row.local)
        if row.kind not in WITH_PASSWORD:
            return _Planned(row, address, mailbox_id, None, None, None)
        password = generate_password()
        # A leading "-" (one password in 64) would read as a formula in a spreadsheet.
        while password.startswith(FORMULA_START):
            password = generate_password()
        return _Planned(
            row,
            address,
            mailbox_id,
            uuid4(),
            self.hasher.hash_generated(password),
            password,
        )

    def _save(
        self, service: MailService, planned: Sequence[_Planned], by: UUID | None
    ) -> list[Mailbox]:
        at = self.clock.now()
        entries: list[AddressEntry] = []
        mailboxes: list[Mailbox] = []
        for plan in planned:
            row = plan.row
            if row.local is None or row.kind is None:  # pragma: no cover - checked
                raise InvalidInput(f"line {row.line} was not checked")
            entries.append(AddressEntry(row.local, row.kind, plan.mailbox_id))
            mailboxes.append(
                Mailbox.create(
                    plan.mailbox_id,
                    service.id,
                    plan.address,
                    kind=row.kind,
                    mode=CreationMode.FOR_OTHERS
                    if row.users
                    else CreationMode.UNASSIGNED,
                    creator_id=by,
                    credential_id=plan.credential_id,
                    users=[user for _, user in row.users],
                    signature=service.signature(row.signature),
                    targets=row.targets,
                    at=at,
                )
            )
        service.claim(entries, at=at)
        self.log.save(service, *mailboxes)
        return mailboxes

    def _against(self, read: _Read, service: MailService) -> list[RowError]:
        """The checks that depend on the state: existing addresses, members, templates, quota."""
        errors: list[RowError] = []
        members: dict[UUID, object] = {}
        if any(row.users for row in read.rows):
            members = dict(
                self.log.load(
                    service.organisation_id, Organisation, "organisation"
                ).members
            )
        for row in read.rows:
            if row.local is not None:
                existing = service.addresses.get(row.local.casefold())
                if existing is not None:
                    errors.append(
                        RowError(
                            row.line,
                            "address",
                            f"address {service.address_of(existing)} exists already "
                            f"({existing.kind.value})",
                        )
                    )
            errors.extend(
                RowError(
                    row.line,
                    "users",
                    f"user {login} is not a member of the organisation",
                )
                for login, account in row.users
                if account not in members
            )
            if (
                row.signature is not None
                and row.signature not in service.signature_templates
            ):
                errors.append(
                    RowError(
                        row.line,
                        "signature",
                        f"signature template {_show(row.signature)} does not exist "
                        f"in {service.domain}",
                    )
                )
        # Every kind a file creates takes a slot; so does a row too broken to read.
        unread = read.count - len(read.rows)
        needed = unread + sum(
            1 for row in read.rows if row.kind is None or row.kind in TAKES_SLOT
        )
        used = service.used
        free = service.quota - used
        if read.rows and needed > free:
            errors.append(
                RowError(
                    FILE,
                    "",
                    f"quota exceeded: the file needs {needed} address slot(s) but "
                    f"{free} of {service.quota} are free ({used} used); increase the "
                    f"quota of {service.domain} by at least {needed - free}",
                )
            )
        return errors


def _moved(service: MailService, planned: Sequence[_Planned]) -> list[RowError]:
    """Rows whose address was created and deleted since they were planned.

    Their mailbox id (owner of the staged secret) is no longer the one the save would
    give; the file is refused rather than saved with secrets owned by the wrong id.
    """
    return [
        RowError(
            plan.row.line,
            "address",
            f"address {plan.address} was created and deleted while the file was "
            "applied; apply the file again",
        )
        for plan in planned
        if plan.row.local is not None
        and service.new_mailbox_id(plan.row.local) != plan.mailbox_id
    ]


def _report(count: int, errors: Sequence[RowError]) -> BulkReport:
    ordered = tuple(sorted(errors, key=lambda e: e.line))
    return BulkReport(ok=not ordered, rows=count, errors=ordered)


# -- reading the file --------------------------------------------------------------------


_Record = tuple[int, list[str] | csv.Error]


def _read(data: bytes, domain: str) -> _Read:
    """Decode, split and check the syntax of every row (nothing here needs the state)."""
    split = _split(data)
    if isinstance(split, _Read):
        return split
    columns, body = split
    reader = _RowReader(domain, columns)
    for line, cells in body:
        reader.read(line, cells)
    if reader.count == 0:
        reader.errors.append(RowError(FILE, "", "the file has a header but no rows"))
    return _Read(tuple(reader.rows), reader.count, tuple(reader.errors))


def _split(data: bytes) -> tuple[list[str], list[_Record]] | _Read:
    """The header's column names and the data records, or the file's refusal.

    Split first, check after: a file over a limit is refused before any row is checked.
    """
    text = _decode(data)
    if isinstance(text, RowError):
        return _Read((), 0, (text,))
    records = _records(text, _delimiter(text))
    header = next(records, None)
    if header is None:
        return _refused(FILE, _EMPTY)
    line, cells = header
    if isinstance(cells, csv.Error):
        return _refused(line, _csv_problem(cells))
    columns, problems = _columns(cells)
    if problems:
        return _Read((), 0, tuple(RowError(line, "", p) for p in problems))
    body = list(itertools.islice(records, MAX_ROWS + 1))
    if len(body) > MAX_ROWS:
        line = body[-1][0]
        return _refused(
            line,
            f"the file has more than {MAX_ROWS:,} rows (row {MAX_ROWS + 1:,} is on "
            f"line {line:,}): split it",
            count=len(body),
        )
    return columns, body


def _refused(line: int, message: str, *, count: int = 0) -> _Read:
    return _Read((), count, (RowError(line, "", message),))


_EMPTY = (
    f"the file is empty: its first line must be the header, e.g. {','.join(COLUMNS)}"
)


def _decode(data: bytes) -> str | RowError:
    if len(data) > MAX_FILE_BYTES:
        return RowError(
            FILE,
            "",
            f"the file is {len(data):,} bytes; at most {MAX_FILE_BYTES:,} (10 MiB): "
            "split it",
        )
    if data.startswith(UTF16_BOMS):
        return RowError(
            1, "", "the file is UTF-16, not UTF-8: save it as CSV UTF-8 and try again"
        )
    body = data.removeprefix(UTF8_BOM)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as e:
        offset = e.start + (len(data) - len(body))
        before = data[:offset].replace(b"\r\n", b"\n")
        line = before.count(b"\n") + before.count(b"\r") + 1
        return RowError(
            line,
            "",
            f"the file is not UTF-8: byte 0x{data[offset]:02X} at offset {offset:,} "
            "is not valid UTF-8; save the file as CSV UTF-8",
        )


def _delimiter(text: str) -> str:
    """``;`` when the header line has ``;`` and no ``,``; else ``,``."""
    for line in io.StringIO(text, newline=""):
        if line.strip():
            return ";" if ";" in line and "," not in line else ","
    return ","


def _records(text: str, delimiter: str) -> Iterator[tuple[int, list[str] | csv.Error]]:
    """Each record with the line it starts on; malformed ones as their csv.Error."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield start, e
            if reader.line_num < start:  # pragma: no cover - the reader always moves on
                return
            continue
        if not _blank(cells):
            yield start, cells


def _blank(cells: list[str] | csv.Error) -> bool:
    return isinstance(cells, list) and all(not c.strip() for c in cells)


def _csv_problem(error: csv.Error) -> str:
    if CSV_FIELD_LIMIT_MESSAGE in str(error):
        return f"a cell is far longer than {MAX_FIELD:,} characters"
    return (
        f"the line is not valid CSV ({error}): wrap a cell holding the delimiter, a quote "
        "or a line break in double quotes, and double the quotes inside it"
    )


def _columns(cells: list[str]) -> tuple[list[str], list[str]]:
    """The column name of each position ("" for an unnamed one), and what is wrong."""
    names = [cell.strip().casefold() for cell in cells]
    problems: list[str] = []
    unknown = list(dict.fromkeys(n for n in names if n and n not in COLUMNS))
    if unknown:
        hint = (
            "; passwords are not taken from a file, they are generated and shown once"
            if "password" in unknown
            else ""
        )
        shown = ", ".join(_show(n) for n in unknown[:MAX_NAMED])
        more = (
            f" and {len(unknown) - MAX_NAMED:,} more"
            if len(unknown) > MAX_NAMED
            else ""
        )
        problems.append(
            f"unknown column(s) {shown}{more}: the columns are {', '.join(COLUMNS)}{hint}"
        )
    counts = Counter(n for n in names if n in COLUMNS)
    twice = sorted(n for n, seen in counts.items() if seen > 1)
    if twice:
        problems.append(
            f"column(s) {', '.join(twice)} appear more than once in the header"
        )
    if "address" not in names:
        problems.append(
            "the header has no address column (required); the first line must be the "
            f"header, e.g. {','.join(COLUMNS)}"
        )
    return names, problems


class _RowReader:
    """Reads the data rows one by one, keeping what each parsed to and each problem."""

    def __init__(self, domain: str, columns: list[str]) -> None:
        self.domain = domain
        self.columns = columns
        self.rows: list[_Row] = []
        self.errors: list[RowError] = []
        self.count = 0
        self._first_line: dict[str, int] = {}
        self._logins: dict[str, UUID | str] = {}

    def read(self, line: int, cells: list[str] | csv.Error) -> None:
        self.count += 1
        if isinstance(cells, csv.Error):
            self.errors.append(RowError(line, "", _csv_problem(cells)))
            return
        if len(cells) > len(self.columns) and any(
            c.strip() for c in cells[len(self.columns) :]
        ):
            self.errors.append(
                RowError(
                    line,
                    "",
                    f"the row has {len(cells):,} cells but the header {len(self.columns)} "
                    "columns: quote a cell that holds the delimiter",
                )
            )
            return
        values: dict[str, str | None] = {}  # None: a refused cell, already reported
        for position, raw in enumerate(cells):
            name = self.columns[position] if position < len(self.columns) else ""
            if not name:
                if raw.strip():
                    self.errors.append(
                        RowError(
                            line,
                            "",
                            f"cell {position + 1} has a value but its column has no name "
                            "in the header",
                        )
                    )
                continue
            problem = _cell_problem(raw)
            if problem is not None:
                self.errors.append(RowError(line, name, problem))
                values[name] = None
                continue
            values[name] = raw.strip()
        self.rows.append(self._row(line, values))

    def _error(self, line: int, column: str, message: str) -> None:
        self.errors.append(RowError(line, column, message))

    def _row(self, line: int, values: dict[str, str | None]) -> _Row:
        local = self._address(line, values.get("address", ""))
        kind = self._kind(line, values.get("kind", ""))
        users = self._users(line, values.get("users", ""), kind)
        targets = self._targets(line, values.get("targets", ""), kind, local)
        signature = " ".join((values.get("signature", "") or "").split()) or None
        if signature is not None and kind is AddressKind.REDIRECT:
            self._error(
                line,
                "signature",
                "a redirect sends no mail of its own: it has no signature",
            )
            signature = None
        return _Row(line, local, kind, users, targets, signature)

    def _address(self, line: int, value: str | None) -> str | None:
        if value is None:
            return None
        if not value:
            if "address" in self.columns:
                self._error(line, "address", "the address is empty")
            return None
        if len(value) > MAX_ADDRESS:
            self._error(
                line,
                "address",
                f"the address is {len(value)} characters long; at most {MAX_ADDRESS}",
            )
            return None
        try:
            local = parse_local_part(value, self.domain)
        except InvalidInput as e:
            self._error(line, "address", str(e))
            return None
        key = local.casefold()
        first = self._first_line.setdefault(key, line)
        if first != line:
            self._error(
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
            self._error(
                line,
                "kind",
                f"kind {_show(value)} is not mailbox, redirect or no_reply",
            )
        return kind

    def _users(
        self, line: int, value: str | None, kind: AddressKind | None
    ) -> tuple[tuple[str, UUID], ...]:
        if value is None:
            return ()
        logins = _items(value)
        if logins and kind is AddressKind.REDIRECT:
            self._error(
                line,
                "users",
                "a redirect has no users: it only forwards to its targets",
            )
            return ()
        found: dict[UUID, str] = {}
        for login in logins:
            parsed = self._login(login)
            if isinstance(parsed, str):
                self._error(line, "users", parsed)
            else:
                found.setdefault(parsed, login)
        return tuple((login, account) for account, login in found.items())

    def _login(self, login: str) -> UUID | str:
        """The account id of a login, or why it is not one (cached: rows repeat users)."""
        known = self._logins.get(login)
        if known is not None:
            return known
        problem = _item_problem(login)
        if problem is not None:
            result: UUID | str = f"user {problem}"
        else:
            try:
                address = EmailAddress.parse(login, what="user")
            except InvalidInput as e:
                result = str(e)
            else:
                result = ids.account_id(str(address))
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
                self._error(
                    line,
                    "targets",
                    f"only a redirect has targets (this row's kind is {kind.value}): "
                    "set kind to redirect or empty the cell",
                )
            return ()
        if not items:
            self._error(line, "targets", "a redirect needs at least one target address")
            return ()
        own = f"{local}@{self.domain}".casefold() if local else None
        clean: dict[str, str] = {}
        for item in items:
            problem = _item_problem(item)
            if problem is not None:
                self._error(line, "targets", f"target {problem}")
                continue
            try:
                target = str(EmailAddress.parse(item, what="target"))
            except InvalidInput as e:
                self._error(line, "targets", str(e))
                continue
            if target.casefold() == own:
                self._error(line, "targets", "a redirect cannot point at itself")
                continue
            clean.setdefault(target.casefold(), target)
        if len(clean) > MAX_REDIRECT_TARGETS:
            self._error(
                line,
                "targets",
                f"{len(clean)} targets; a redirect has at most {MAX_REDIRECT_TARGETS}",
            )
        return tuple(clean.values())


def _items(value: str) -> list[str]:
    return [item.strip() for item in value.replace(",", ";").split(";") if item.strip()]


def _cell_problem(raw: str) -> str | None:
    """Why a cell is refused whatever its column, or None."""
    if len(raw) > MAX_FIELD:
        return f"the cell is {len(raw):,} characters long; at most {MAX_FIELD:,}"
    if "\x00" in raw:
        return "the cell contains a NUL byte"
    if raw.startswith(("\t", "\r")):
        return (
            "the cell begins with a tab or carriage return, which a spreadsheet may run "
            "as a formula"
        )
    value = raw.strip()
    control = next((c for c in value if unicodedata.category(c) == "Cc"), None)
    if control is not None:
        return f"the cell contains the control character U+{ord(control):04X}"
    return _formula_problem(value, "the cell")


def _item_problem(item: str) -> str | None:
    return _formula_problem(item, _show(item))


def _formula_problem(value: str, what: str) -> str | None:
    if value.startswith(FORMULA_START):
        return (
            f"{what} begins with {value[0]!r}, which makes a spreadsheet run it as a "
            "formula; not accepted"
        )
    return None


def _show(value: str, limit: int = 60) -> str:
    """A cell as messages quote it: escaped, and cut when long."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value):,} characters)"
