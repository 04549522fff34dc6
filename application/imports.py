"""Mailbox import use cases (IMP-1..IMP-9): request, cancel, run, confirm, forget.

A request is checked whole before anything is written: the destination is a live
mailbox of a service, linked to the requesting user's mail app (IMP-7, except for a
batch or the operator), one or two sources, no provider that accepts only OAuth2, and
a hosted source's own password (IMP-5). Each password is then sealed (bound to the job
and the source's place in it) into the credential store, owned by the job, before the
job's ``Requested`` event and its place in the destination's lane are saved together;
the events name only the credential ids (IMP-9). The copy, the confirmation mail and
the forgetting of the passwords are jobs derived from the job's events
(``application.jobs``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from uuid import UUID, uuid4

from attrs import field, frozen

from application.authorization import OPERATOR
from application.context import command
from application.credentials import staged_secret
from application.importcopy import CopyPolicy, ImportCopy, seal_context
from application.importmail import ImportMail
from application.importports import (
    HostedSource,
    ImportDestination,
    ImportProgress,
    ImportQueries,
    MailSource,
)
from application.log import MailHostLog
from application.mailservices import MailServices
from application.ports import (
    Clock,
    CredentialStore,
    EngineMail,
    PasswordHasher,
    Sealer,
)
from domain.errors import InvalidInput, NotFound, NotPermitted
from domain.hosted import AddressKind
from domain.ids import account_id
from domain.importfacts import MAX_SOURCES, SourceRef
from domain.importjob import ImportJob, ImportLane, lane_id
from domain.importsource import ImportSource
from domain.mailbox import Mailbox
from domain.mailservice import MailService
from domain.text import forbidden_character

MAX_PASSWORD = 1024


@frozen
class SourceRequest:
    """One source as asked for: a server (None: an address hosted here), login, password."""

    source: ImportSource | None
    user: str
    password: str = field(repr=False)


@frozen
class _Checked:
    """A source that passed every check, with the password to seal (None: nothing to)."""

    ref: SourceRef
    password: str | None = field(repr=False)


class ImportsNotConfigured(RuntimeError):  # noqa: N818 - reads as what is wrong
    """The engine was assembled without the import adapters."""


@frozen
class ImportAdapters:
    """What imports read from and write to; without them ``host.imports`` refuses to
    run (a request needs the ``sealer``, a copy the source and destination)."""

    sealer: Sealer | None = None
    source: MailSource | None = None
    destination: ImportDestination | None = None
    hosted: HostedSource | None = None
    queries: ImportQueries | None = None
    policy: CopyPolicy = field(factory=CopyPolicy)


@frozen
class Imports:
    log: MailHostLog
    services: MailServices
    credentials: CredentialStore
    hasher: PasswordHasher
    mail: EngineMail
    clock: Clock
    adapters: ImportAdapters = field(factory=ImportAdapters)

    @property
    def policy(self) -> CopyPolicy:
        """The copy's limits; its attempts bound a worker's retries of one job."""
        return self.adapters.policy

    # -- requests -------------------------------------------------------------------

    @command
    def start(
        self,
        destination: str,
        sources: Sequence[SourceRequest],
        *,
        by: UUID | str | None,
        batch_id: UUID | None = None,
    ) -> UUID:
        """Request an import; its job id. Nothing is stored when a check fails."""
        sealer = self._sealer()
        actor = _actor(by)
        service, mailbox = self._destination(destination, actor, batch=batch_id)
        if not 1 <= len(sources) <= MAX_SOURCES:
            raise InvalidInput(
                f"an import has one or two sources, not {len(sources)} (IMP-7)"
            )
        checked = [self._checked(request, batch=batch_id) for request in sources]
        job_id = uuid4()
        refs = tuple(c.ref for c in checked)

        def save() -> None:
            at = self.clock.now()
            job = ImportJob.request(
                job_id,
                destination=mailbox.address,
                mailbox_id=mailbox.id,
                domain=service.domain,
                requested_by=actor,
                sources=refs,
                batch_id=batch_id,
                at=at,
            )
            lane = self.log.find(
                lane_id(job.destination), ImportLane
            ) or ImportLane.open(job.destination, at=at)
            lane.enqueue(job_id, at=at)
            self.log.save(job, lane)

        with ExitStack() as staged:
            for index, source in enumerate(checked):
                if source.password is None:
                    continue
                sealed = sealer.seal(
                    source.password.encode(), context=seal_context(job_id, index)
                )
                staged.enter_context(
                    staged_secret(
                        self.credentials, source.ref.credential_id, sealed, owner=job_id
                    )
                )
            self.log.retrying(save)
        return job_id

    @command
    def cancel(self, job_id: UUID, *, by: UUID | str | None) -> None:
        """Cancel before the copy starts (IMP-2); refused once it has started."""
        actor = _actor(by)

        def attempt() -> None:
            job = self.get(job_id)
            if actor is not OPERATOR and actor != job.requested_by:
                mailbox = self.log.find(job.mailbox_id, Mailbox)
                if mailbox is None or actor not in mailbox.linked:
                    raise NotPermitted("only who requested an import may cancel it")
            at = self.clock.now()
            job.cancel(actor, at=at)
            lane = self.log.load(lane_id(job.destination), ImportLane, "import lane")
            lane.release(job_id, at=at)
            self.log.save(job, lane)

        self.log.retrying(attempt)

    # -- the jobs -------------------------------------------------------------------

    def run(
        self,
        job_id: UUID,
        keep_alive: Callable[[], bool] = lambda: True,
        *,
        attempt: int = 1,
    ) -> None:
        """The worker's copy: resumable and idempotent (``application.importcopy``)."""
        adapters = self.adapters
        if adapters.source is None or adapters.destination is None:
            raise ImportsNotConfigured("no import source or destination adapter")
        ImportCopy(
            self.log,
            self.credentials,
            self._sealer(),
            adapters.source,
            adapters.destination,
            self.clock,
            adapters.hosted,
            adapters.policy,
            adapters.queries,
        ).run(job_id, keep_alive, attempt=attempt)

    def send_confirmation(self, job_id: UUID) -> bool:
        """IMP-4: the mail of a finished job, once; True if a mail went out."""
        return ImportMail(self.log, self.mail, self.clock).send(job_id)

    def forget_credentials(self, job_id: UUID) -> None:
        """IMP-9: a job that is over destroys its sources' sealed passwords."""
        job = self.log.find(job_id, ImportJob)
        if job is None or not job.is_over or job.credentials_forgotten:
            return
        for ref in job.sources:
            self.credentials.forget_secret(ref.credential_id)

        def record() -> None:
            fresh = self.get(job_id)
            if not fresh.credentials_forgotten:
                fresh.forget_credentials(at=self.clock.now())
                self.log.save(fresh)

        self.log.retrying(record)

    # -- queries --------------------------------------------------------------------

    def get(self, job_id: UUID) -> ImportJob:
        return self.log.load(job_id, ImportJob, f"import {job_id}")

    def progress(self, job_id: UUID) -> ImportProgress | None:
        return self._queries().progress(job_id)

    def for_user(self, user: UUID | str) -> list[ImportProgress]:
        return self._queries().for_user(
            account_id(user) if isinstance(user, str) else user
        )

    def for_destination(self, address: str) -> list[ImportProgress]:
        _, mailbox = self.services.mailbox(address)
        return self._queries().for_destination(mailbox.address)

    def recent(self, limit: int = 200) -> list[ImportProgress]:
        """Every import, newest first (the operator's view)."""
        return self._queries().recent(limit)

    # -- checks ---------------------------------------------------------------------

    def _destination(
        self, address: str, actor: UUID | None, *, batch: UUID | None
    ) -> tuple[MailService, Mailbox]:
        service, mailbox = self.services.mailbox(address)
        if mailbox.deleted:
            raise NotFound(f"address {address} was deleted")
        if mailbox.kind is not AddressKind.MAILBOX:
            raise InvalidInput(
                f"{mailbox.address} is a {mailbox.kind.value.replace('_', '-')} address:"
                " only a mailbox can receive an import"
            )
        if batch is None and actor is not OPERATOR and actor not in mailbox.linked:
            raise NotPermitted(
                f"{mailbox.address} is not linked to your mail app (IMP-7)"
            )
        return service, mailbox

    def _checked(self, request: SourceRequest, *, batch: UUID | None) -> _Checked:
        _check_password(request.password)
        if request.source is None:
            return self._hosted(request)
        provider = request.source.oauth_provider
        if provider is not None:
            where = " in a batch (IMP-8)" if batch is not None else ""
            raise InvalidInput(
                f"{provider} accepts only OAuth2 (XOAUTH2) logins for IMAP, and imports"
                f" use passwords: {request.source.user} cannot be imported{where}"
            )
        return _Checked(SourceRef.of(request.source, uuid4()), request.password)

    def _hosted(self, request: SourceRequest) -> _Checked:
        """IMP-5: an address of this provider, its own password checked here."""
        _, mailbox = self.services.mailbox(request.user)
        if mailbox.deleted or mailbox.kind is not AddressKind.MAILBOX:
            raise NotFound(f"address {request.user} has no mailbox to import from")
        encoded = (
            self.credentials.secret(mailbox.credential_id)
            if mailbox.credential_id is not None
            else None
        )
        if encoded is None:
            self.hasher.verify_dummy(request.password)
            raise NotPermitted(f"wrong password for {mailbox.address}")
        if not self.hasher.verify(encoded, request.password):
            raise NotPermitted(f"wrong password for {mailbox.address}")
        # Read through the provider's own store: no password needs keeping.
        return _Checked(SourceRef.hosted_address(mailbox.address, uuid4()), None)

    def _sealer(self) -> Sealer:
        if self.adapters.sealer is None:
            raise ImportsNotConfigured("no sealer for the import passwords")
        return self.adapters.sealer

    def _queries(self) -> ImportQueries:
        if self.adapters.queries is None:
            raise ImportsNotConfigured("no import read model")
        return self.adapters.queries


def _actor(by: UUID | str | None) -> UUID | None:
    """An account id, from its id or its login; None is the operator."""
    if isinstance(by, str):
        return account_id(by)
    return by


def _check_password(password: str) -> None:
    if not password:
        raise InvalidInput("the source password is empty")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(
            f"the source password is longer than {MAX_PASSWORD} characters"
        )
    if forbidden_character(password) is not None:
        # Named without the character's place or the text: it is a secret.
        raise InvalidInput("the source password contains a control character")
