"""Bulk creation of addresses from a CSV file (ADR-9): every row checked, then all or nothing.

The file's format is application/csvfile.py's (bytes, header, records) and
application/csvrows.py's (what each cell means); the report is application/bulkreport.py.

Checks
------
Each row: the address syntax and domain; the kind; users' login syntax; targets
(syntax, at most 50, not the address itself; present exactly for a redirect): those
need no state (csvrows). Then the aggregates are asked: the mail service whether every
address can be claimed (none existing in the domain already, enough free slots in the
quota for all rows: ``MailService.problems``), the organisation whether every user is a
member, the service whether every signature template exists. Each problem keeps the
aggregate's words, with the row's line and column added.

If there is any problem nothing is created. Otherwise ``apply`` claims every address in
one ``AddressesClaimed`` event, creates every ``Mailbox`` in the same transaction, and
returns each address with its generated password (None for a redirect), once.
Passwords never reach an event, the log or the report's repr.

A crash (kill -9)
-----------------
The save is the only write that decides: the mail store gets the hashes from the jobs
the ``Mailbox.Created`` events start (application/storesync.py), so it converges after a
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

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from uuid import UUID, uuid4, uuid5

from attrs import field, frozen

from application.authorization import require_admin
from application.bulkreport import BulkReport, CreatedRow, report_of
from application.context import command
from application.creation import generate_password, not_a_member
from application.credentials import staged_secret
from application.csvfile import FILE, FORMULA_START, RowError
from application.csvrows import ParsedRow, ReadFile, read_file
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
from domain.creation import CreationMode
from domain.errors import InvalidInput, NotFound
from domain.hosted import AddressEntry, AddressKind
from domain.mailbox import Mailbox
from domain.mailservice import MailService, QuotaExceeded
from domain.organisation import Organisation

# BulkReport is imported from here by callers written before application/bulkreport.py.

WITH_PASSWORD = frozenset({AddressKind.MAILBOX, AddressKind.NO_REPLY})
RUN_NAMESPACE = UUID("6f1c2a9e-8d4b-5e37-9a0c-3b7e5d1f4a62")


class _Refused(Exception):  # noqa: N818 - a control-flow signal, never leaves this module
    def __init__(self, errors: Sequence[RowError]) -> None:
        super().__init__("the file no longer applies")
        self.errors = tuple(errors)


@frozen
class _Planned:
    row: ParsedRow
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

    @command
    def check(self, domain: str, data: bytes, *, by: UUID | None) -> BulkReport:
        """Validate every row against the file format and the domain; change nothing."""
        service = self.services.get(domain)
        require_admin(self.log, service, by)
        read = read_file(data, service.domain)
        errors = [*read.errors, *self._against(read, service)]
        return report_of(read.count, errors)

    @command
    def apply(self, domain: str, data: bytes, *, by: UUID | None) -> BulkReport:
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
        read = read_file(data, service.domain)
        errors = [*read.errors, *self._against(read, service)]
        if errors:
            return report_of(read.count, errors)
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
            return report_of(read.count, refused.errors)
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

    @command
    def recover(
        self, domain: str, data: bytes, *, by: UUID | None
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

    def _plan(self, service: MailService, row: ParsedRow) -> _Planned:
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

    def _against(self, read: ReadFile, service: MailService) -> list[RowError]:
        """The checks that depend on the state, each asked of its aggregate."""
        return [
            *_claim_problems(read.rows, service),
            *self._member_problems(read.rows, service),
            *_template_problems(read.rows, service),
        ]

    def _member_problems(
        self, rows: Sequence[ParsedRow], service: MailService
    ) -> Iterator[RowError]:
        if not any(row.users for row in rows):
            return
        org = self.log.load(service.organisation_id, Organisation, "organisation")
        for row in rows:
            for login, account in row.users:
                if account not in org.members:
                    yield RowError(row.line, "users", not_a_member(login, org))


def _claimable(
    rows: Sequence[ParsedRow],
) -> Iterator[tuple[ParsedRow, str, AddressKind]]:
    for row in rows:
        if row.local is not None and row.kind is not None:
            yield row, row.local, row.kind


def _claim_problems(
    rows: Sequence[ParsedRow], service: MailService
) -> Iterator[RowError]:
    """What ``MailService.problems`` says of the rows, at their lines."""
    claimable = list(_claimable(rows))
    entries = [
        AddressEntry(local, kind, service.new_mailbox_id(local))
        for _, local, kind in claimable
    ]
    for problem in service.problems(entries):
        if problem.error is QuotaExceeded:
            yield RowError(FILE, "", _quota_exceeded(service, len(entries)))
        else:
            yield RowError(claimable[problem.index][0].line, "address", problem.reason)


def _quota_exceeded(service: MailService, needed: int) -> str:
    """The aggregate's refusal in the file's terms.

    Kept until tests/integration/test_bulk_csv.py (test_quota_exceeded_names_the_numbers)
    asserts the aggregate's own words ("1 of 5 used, 6 more needed"): then the report
    takes ``problem.reason`` like every other problem of a claim.
    """
    free = service.free
    return (
        f"quota exceeded: the file needs {needed} address slot(s) but {free} of "
        f"{service.quota} are free ({service.used} used); increase the quota of "
        f"{service.domain} by at least {needed - free}"
    )


def _template_problems(
    rows: Sequence[ParsedRow], service: MailService
) -> Iterator[RowError]:
    for row in rows:
        try:
            service.signature(row.signature)
        except NotFound as e:
            yield RowError(row.line, "signature", str(e))


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
