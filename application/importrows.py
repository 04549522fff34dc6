"""The rows of a batch-import CSV file (IMP-8): each cell read for what its column means.

The file format (bytes, UTF-8, header, delimiter, quoting, blank rows) is the address
file's, application/csvfile.py; only the columns differ:

``destination``
    Required. An address of the domain's service, in full (``ann@example.org``) or as
    its local part (``ann``); it must exist and have a mailbox (not a redirect).
``host``
    Required. The source IMAP server: a host name or an IP address, or the name of a
    preset (``yahoo``, ``icloud``, ... ``domain.importsource.PRESETS``), which then
    gives the port and security the row leaves empty.
``port``
    1 to 65535; empty: 993 for ``tls``, 143 otherwise.
``security``
    ``tls`` (the default), ``starttls`` or ``none``; ``none`` only for a server on this
    machine (a batch has no ``--insecure``).
``user``
    Required. The login at the source.
``password``
    Required. The source password, taken exactly as written (not trimmed: a space may
    be part of it). It is sealed into the credential store by the job's request and is
    never quoted in a report, an error or a log.

Refused per row: a provider that only accepts OAuth2 logins (Google, Microsoft 365:
``domain.importsource.needs_oauth``, by server or by the user's address), and a row
that repeats another (same destination, server, port and user). Every other cell
follows the address file's rules: trimmed, no control character, no cell starting like
a spreadsheet formula (the password excepted: it is never exported).
"""

from __future__ import annotations

from attrs import field, frozen

from application.csvfile import (
    FILE,
    Refused,
    RowError,
    split_file,
)
from application.csvreader import RowReader, cell_problem
from domain.address import identity
from domain.errors import InvalidInput, NotFound
from domain.hosted import AddressKind, parse_local_part
from domain.importsource import (
    PRESETS,
    ImportSource,
    Security,
    needs_oauth,
    parse_host,
    parse_port,
    parse_security,
    parse_user,
)
from domain.mailservice import MailService

COLUMNS = ("destination", "host", "port", "security", "user", "password")
REQUIRED = "destination"
MAX_BATCH_ROWS = 25  # IMP-8
# An alias names its mailbox, which receives the import.
RECEIVES_IMPORTS = frozenset({AddressKind.MAILBOX, AddressKind.ALIAS})


@frozen
class BatchRow:
    """A row that passed every check: one import job to request."""

    line: int
    destination: str
    source: ImportSource
    password: str = field(repr=False)

    @property
    def identity(self) -> tuple[str, str, int, str]:
        """Two rows with one identity import the same mailbox into the same address."""
        source = self.source
        return (
            identity(self.destination),
            source.host.lower(),
            source.port,
            source.user.casefold(),
        )


@frozen
class ReadBatch:
    """The rows that passed, how many data rows there were, and every problem found."""

    rows: tuple[BatchRow, ...]
    count: int
    errors: tuple[RowError, ...]


def read_batch(data: bytes, service: MailService) -> ReadBatch:
    """Decode, split and check every row against the service's addresses."""
    split = split_file(data, columns=COLUMNS, required=REQUIRED)
    if isinstance(split, Refused):
        return ReadBatch((), split.count, split.errors)
    if len(split.body) > MAX_BATCH_ROWS:
        line = split.body[MAX_BATCH_ROWS][0]
        return ReadBatch(
            (),
            len(split.body),
            (
                RowError(
                    FILE,
                    "",
                    f"the file has {len(split.body):,} rows; a batch import takes at "
                    f"most {MAX_BATCH_ROWS} (IMP-8; row {MAX_BATCH_ROWS + 1} is on line "
                    f"{line:,}): split it into files of {MAX_BATCH_ROWS} rows or fewer",
                ),
            ),
        )
    return ReadBatch(*_Reader(service, split.columns).read_all(split.body))


class _Reader(RowReader[BatchRow]):
    """Reads the data rows one by one, keeping each good row and each problem."""

    def __init__(self, service: MailService, columns: tuple[str, ...]) -> None:
        super().__init__(columns)
        self.service = service
        self._first_line: dict[tuple[str, str, int, str], int] = {}

    def take(self, line: int, cells: list[str]) -> None:
        values = self._values(line, cells)
        if values is None:
            return
        row = self._row(line, values)
        if row is not None:
            self._keep(row)

    def _values(self, line: int, cells: list[str]) -> dict[str, str] | None:
        """Each named column's cell (trimmed, the password excepted); None: refused."""
        errors_before = len(self.errors)
        values: dict[str, str] = {}
        for name, raw in self.named_cells(line, cells):
            problem = cell_problem(raw, password=name == "password", show=True)
            if problem is not None:
                self.error(line, name, problem)
                continue
            values[name] = raw if name == "password" else raw.strip()
        return None if len(self.errors) > errors_before else values

    def _row(self, line: int, values: dict[str, str]) -> BatchRow | None:
        errors_before = len(self.errors)
        destination = self._destination(line, values.get("destination", ""))
        source = self._source(line, values)
        password = values.get("password", "")
        if not password:
            self.error(
                line, "password", "the password is empty; give the source password"
            )
        if len(self.errors) > errors_before or destination is None or source is None:
            return None
        return BatchRow(line, destination, source, password)

    def _destination(self, line: int, value: str) -> str | None:
        if not value:
            self.error(line, "destination", "the destination address is empty")
            return None
        service = self.service
        try:
            local = parse_local_part(value, service.domain)
            entry = service.entry(local)
        except (InvalidInput, NotFound) as e:
            self.error(line, "destination", str(e))
            return None
        if entry.kind not in RECEIVES_IMPORTS:
            kind = entry.kind.value.replace("_", "-")
            self.error(
                line,
                "destination",
                f"{service.address_of(entry)} is a {kind} address: only a mailbox can "
                "receive an import",
            )
            return None
        return service.address_of(entry)

    def _source(self, line: int, values: dict[str, str]) -> ImportSource | None:
        """The source of the row, each problem at its own column."""
        host, port, security = _with_preset(
            values.get("host", ""), values.get("port", ""), values.get("security", "")
        )
        checks = (
            ("host", lambda: parse_host(host)),
            ("port", lambda: parse_port(port) if port else None),
            ("security", lambda: parse_security(security) if security else None),
            ("user", lambda: parse_user(values.get("user", ""))),
        )
        failed = False
        for column, check in checks:
            try:
                check()
            except InvalidInput as e:
                self.error(line, column, str(e))
                failed = True
        if failed:
            return None
        try:
            source = ImportSource.of(
                host, port or None, security or Security.TLS, values.get("user", "")
            )
        except InvalidInput as e:  # security none off this machine
            self.error(line, "security", str(e))
            return None
        provider = needs_oauth(source.host, source.user)
        if provider is not None:
            self.error(
                line,
                "host",
                f"{source.user} at {source.host} is a {provider} mailbox, which only "
                "accepts OAuth2 (XOAUTH2) logins, not passwords: a batch import "
                f"cannot read it (IMP-8); import it from {provider}'s own export",
            )
            return None
        return source

    def _keep(self, row: BatchRow) -> None:
        first = self._first_line.setdefault(row.identity, row.line)
        if first != row.line:
            self.error(
                row.line,
                "",
                f"the row repeats line {first}: the same source ({row.source.user} at "
                f"{row.source.host}:{row.source.port}) into {row.destination}",
            )
            return
        self.rows.append(row)


def _with_preset(host: str, port: str, security: str) -> tuple[str, str, str]:
    """A preset's name in the host cell gives its server, port and security."""
    found = PRESETS.get(host.strip().lower())
    if found is None:
        return host, port, security
    return found.host, port or str(found.port), security or found.security.value
