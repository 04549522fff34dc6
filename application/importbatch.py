"""Batch import from a CSV file (IMP-8): every row checked, then one job per row or none.

The rows are application/importrows.py's (the address file's format, its own columns:
destination, host, port, security, user, password; at most 25 rows). The report has
the address CSV's shape: ``(line, column, message)`` per problem, line 0 for the file.

All or nothing
--------------
Every row is checked before any job is requested: the file format, the destination (an
address of the domain's service with a mailbox), the source (host, port, security,
user; ``none`` only on this machine), a password, no provider that accepts only OAuth2
logins (Google, Microsoft 365), no row repeated. The linked-destination rule (IMP-7)
does not apply: the caller is the domain's admin or the operator. Only then is each
row requested through ``Imports.start`` (which checks again and seals the password).
Should a request still be refused (an address deleted in between), the jobs requested
before it are cancelled (they cannot have started: nothing runs a job before the
command returns, unless Redis workers are running) and the report names the row.

The batch id, and a run of the same file again
----------------------------------------------
Every job of a file carries one batch id: uuid5 of the domain and the file's SHA-256.
Applying the same file again on the same domain therefore carries the same id, which
is how a re-run is recognised: a row whose job of this batch is still waiting or
running (it is in its destination's lane) is not requested twice; the report lists
that job instead (``BatchJob.existing``). A row whose earlier job is over is requested
again: the new job copies only what the source gained since (IMP-3). So a run
interrupted half-way is completed by running the file again, nothing doubled.

Passwords are read from the file once, sealed by the request, and never in a report,
a repr or an error message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from uuid import UUID, uuid5

from attrs import frozen

from application.authorization import require_admin
from application.context import command
from application.csvfile import RowError
from application.importrows import BatchRow, ReadBatch, read_batch
from application.imports import Imports, SourceRequest
from application.log import MailHostLog
from application.mailservices import MailServices
from domain.errors import DomainError
from domain.importjob import ImportJob, ImportLane, lane_id
from domain.mailservice import MailService

BATCH_NAMESPACE = UUID("3a8f6c1e-5b2d-5f94-8e07-c4d19b6a2f3e")


def batch_id(domain: str, data: bytes) -> UUID:
    """The batch of a file on a domain: the same file, the same batch."""
    return uuid5(BATCH_NAMESPACE, f"{domain}:{hashlib.sha256(data).hexdigest()}")


@frozen
class BatchJob:
    """A row's job; ``existing``: requested by an earlier run of the file, still due."""

    line: int
    destination: str
    source: str  # "user at host:port", for the report
    job_id: UUID
    existing: bool = False


@frozen
class BatchReport:
    """What a check or an application of a batch file found.

    ``ok``: no problem (after ``apply``: every row has its job). ``rows``: the data rows
    read. ``applied``: from ``apply``, the jobs exist. ``jobs``: one per row, in the
    file's order.
    """

    ok: bool
    rows: int
    batch_id: UUID
    errors: tuple[RowError, ...] = ()
    jobs: tuple[BatchJob, ...] = ()
    applied: bool = False


@frozen
class ImportBatch:
    """One import job per row of a CSV file of one domain (IMP-8), all or nothing."""

    log: MailHostLog
    services: MailServices
    imports: Imports

    @command
    def check(self, domain: str, data: bytes, *, by: UUID | None) -> BatchReport:
        """Validate every row against the file format and the domain; change nothing."""
        batch, read = self._read(domain, data, by)
        return _report(read.count, batch, read.errors)

    @command
    def apply(self, domain: str, data: bytes, *, by: UUID | None) -> BatchReport:
        """Check, then request one job per row (sharing the batch id), or none."""
        batch, read = self._read(domain, data, by)
        if read.errors:
            return _report(read.count, batch, read.errors)
        jobs: list[BatchJob] = []
        for row in read.rows:
            pending = self._pending(row, batch)
            if pending is not None:
                jobs.append(_job(row, pending, existing=True))
                continue
            try:
                job_id = self.imports.start(
                    row.destination,
                    [SourceRequest(row.source, row.source.user, row.password)],
                    by=by,
                    batch_id=batch,
                )
            except DomainError as e:
                withdrawn = self._withdraw(jobs, by)
                problems = [RowError(row.line, "", str(e)), *withdrawn]
                return _report(read.count, batch, problems)
            jobs.append(_job(row, job_id))
        return BatchReport(
            ok=True, rows=read.count, batch_id=batch, jobs=tuple(jobs), applied=True
        )

    def _read(
        self, domain: str, data: bytes, by: UUID | None
    ) -> tuple[UUID, ReadBatch]:
        """The file's batch id (from its digest) and its rows read against the domain."""
        service = self._service(domain, by)
        return batch_id(service.domain, data), read_batch(data, service)

    def _service(self, domain: str, by: UUID | None) -> MailService:
        service = self.services.get(domain)
        require_admin(self.log, service, by)
        return service

    def _pending(self, row: BatchRow, batch: UUID) -> UUID | None:
        """This row's job of this batch that has not ended (it is in its lane)."""
        lane = self.log.find(lane_id(row.destination), ImportLane)
        if lane is None:
            return None
        wanted = row.identity[1:]
        for queued in lane.queue:
            job = self.log.find(queued, ImportJob)
            if job is None or job.batch_id != batch or len(job.sources) != 1:
                continue
            ref = job.sources[0]
            if (ref.host.lower(), ref.port, ref.user.casefold()) == wanted:
                return job.id
        return None

    def _withdraw(self, jobs: Sequence[BatchJob], by: UUID | None) -> list[RowError]:
        """Cancel the jobs this run requested; a problem for each that could not be."""
        problems = []
        for job in jobs:
            if job.existing:
                continue
            try:
                self.imports.cancel(job.job_id, by=by)
            except DomainError as e:
                problems.append(
                    RowError(
                        job.line,
                        "",
                        f"its import {job.job_id} was requested and could not be "
                        f"withdrawn: {e}",
                    )
                )
        return problems


def _job(row: BatchRow, job_id: UUID, *, existing: bool = False) -> BatchJob:
    source = row.source
    label = f"{source.user} at {source.host}:{source.port}"
    return BatchJob(row.line, row.destination, label, job_id, existing)


def _report(count: int, batch: UUID, errors: Sequence[RowError]) -> BatchReport:
    ordered = tuple(sorted(errors, key=lambda e: e.line))
    return BatchReport(ok=not ordered, rows=count, batch_id=batch, errors=ordered)
