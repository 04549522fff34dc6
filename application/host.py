"""``MailHost``: the one object an embedding service holds."""

from __future__ import annotations

from datetime import timedelta
from types import TracebackType
from typing import Self

from attrs import define, frozen

from application.accounts import Accounts
from application.addresses import Addresses
from application.alerts import SecurityAlerts
from application.apppasswords import AppPasswords
from application.challenges import Challenges
from application.forgetting import Forgetting
from application.imports import ImportAdapters, Imports
from application.log import MailHostLog
from application.loginflow import PendingLogins
from application.mailservices import MailServices
from application.organisations import Organisations
from application.orphans import DEFAULT_GRACE, OrphanSweep
from application.ports import (
    ActivityQueries,
    AdvisoryQueries,
    Background,
    Clock,
    CredentialStore,
    DirectoryQueries,
    EngineMail,
    Fingerprints,
    Geolocator,
    MailSender,
    MailStore,
    OwnedSecrets,
    PasswordHasher,
    ResponderQueries,
    Sealer,
)
from application.responders import Responders
from application.secondfactor import SecondFactor
from application.sending import Sending, SendingLimits
from application.twostep import TwoStepVerification
from application.twostepenrol import Enrolling
from application.twostepnotices import TwoStepNotices
from application.twostepports import TwoStepAdapters
from domain.advice import Advice
from domain.errors import NotFound
from domain.responderpolicy import ResponderPolicy
from domain.security import SecurityPolicy


@define
class MailHost:
    """The engine's use cases, grouped by area, over one event log.

    Build it from the environment with ``infrastructure.bootstrap.open_mailhost()``, or
    with :meth:`assemble` from your own adapters (any object with the ports' methods).
    """

    log: MailHostLog
    organisations: Organisations
    accounts: Accounts
    alerts: SecurityAlerts
    activity: ActivityQueries
    services: MailServices
    addresses: Addresses
    sending: Sending
    directory: DirectoryQueries
    advisories: AdvisoryQueries
    responders: Responders
    imports: Imports
    background: Background | None = None
    orphans: OrphanSweep | None = None
    # Two-step verification (None: assembled without its adapters).
    twostep: TwoStepVerification | None = None
    notices: TwoStepNotices | None = None
    forgetting: Forgetting | None = None  # wired by the bootstrap, over its key ring

    @classmethod
    def assemble(
        cls,
        *,
        log: MailHostLog,
        credentials: CredentialStore,
        hasher: PasswordHasher,
        fingerprints: Fingerprints,
        geolocator: Geolocator,
        mail: MailSender,
        clock: Clock,
        activity: ActivityQueries,
        directory: DirectoryQueries,
        advisories: AdvisoryQueries,
        responder_views: ResponderQueries,
        store: MailStore,
        alert_sender: str,
        policy: SecurityPolicy | None = None,
        limits: SendingLimits | None = None,
        responder_policy: ResponderPolicy | None = None,
        imports: ImportAdapters | None = None,
        twostep: TwoStepAdapters | None = None,
        sealer: Sealer,
    ) -> MailHost:
        services = MailServices(log, clock)
        engine_mail = EngineMail(mail, alert_sender)
        parts = _two_step_parts(log, credentials, hasher, fingerprints, clock, twostep)
        # Positional wiring, kept compact (fmt: skip) so the whole assembly reads at once.
        accounts = Accounts(
            log, credentials, hasher, fingerprints, geolocator, clock,
            policy or SecurityPolicy(), second=parts.second,
            challenges=parts.challenges, apps=parts.apps, pending=parts.pending,
        )  # fmt: skip
        addresses = Addresses(
            log, services, credentials, hasher, fingerprints, store, engine_mail, clock,
            accounts, sealer,
        )  # fmt: skip
        responders = Responders(
            log, services, fingerprints, credentials, engine_mail, clock,
            responder_views, responder_policy or ResponderPolicy(),
        )  # fmt: skip
        imported = Imports(
            log, services, credentials, hasher, engine_mail, clock,
            imports or ImportAdapters(),
        )  # fmt: skip
        return cls(
            log=log,
            organisations=Organisations(log, clock),
            accounts=accounts,
            alerts=SecurityAlerts(log, engine_mail, clock),
            activity=activity,
            services=services,
            addresses=addresses,
            orphans=_orphan_sweep(log, credentials, clock),
            sending=Sending(log, services, mail, clock, limits or SendingLimits()),
            directory=directory,
            advisories=advisories,
            responders=responders,
            imports=imported,
            twostep=parts.verification(accounts),
            notices=TwoStepNotices(log, engine_mail, clock, parts.challenges),
        )

    def advise(self, domain: str) -> list[Advice]:
        """What the admin of ``domain`` should fix (ADV-1..ADV-4), as of the read model."""
        service = self.services.get(domain)
        found = self.advisories.advice(service.domain)
        if found is None:
            raise NotFound(f"mail service {domain} is not in the read model yet")
        return found

    def sweep_orphan_credentials(self, older_than: timedelta = DEFAULT_GRACE) -> int:
        """Delete the secrets no event came to name (a crash between the two writes).

        Run it periodically (the relay does); 0 where the credential store records no
        owners (an embedder's own store without ``OwnedSecrets``).
        """
        if self.orphans is None:
            return 0
        return self.orphans.sweep_orphan_credentials(older_than)

    def settle(self, timeout: float = 30.0) -> None:
        if self.background is not None:
            self.background.settle(timeout)

    def close(self) -> None:
        if self.background is not None:
            self.background.close()
        self.log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@frozen
class _TwoStepParts:
    second: SecondFactor | None = None
    challenges: Challenges | None = None
    apps: AppPasswords | None = None
    pending: PendingLogins | None = None
    enrolling: Enrolling | None = None

    def verification(self, accounts: Accounts) -> TwoStepVerification | None:
        if (
            self.second is None
            or self.challenges is None
            or self.enrolling is None
            or self.apps is None
            or self.pending is None
        ):
            return None
        return TwoStepVerification(
            accounts, self.second, self.challenges, self.enrolling, self.apps,
            self.pending,
        )  # fmt: skip


def _two_step_parts(  # noqa: PLR0917 - the ports two-step verification needs
    log: MailHostLog,
    credentials: CredentialStore,
    hasher: PasswordHasher,
    fingerprints: Fingerprints,
    clock: Clock,
    adapters: TwoStepAdapters | None,
) -> _TwoStepParts:
    apps = AppPasswords(log, credentials, hasher, fingerprints, clock)
    if adapters is None:
        return _TwoStepParts(apps=apps)
    sealer = adapters.sealer
    second = SecondFactor(log, credentials, sealer, adapters, clock)
    challenges = Challenges(log, credentials, sealer, adapters, clock)
    return _TwoStepParts(
        second,
        challenges,
        apps,
        PendingLogins(credentials, fingerprints),
        Enrolling(log, credentials, sealer, adapters, clock, second, challenges),
    )


def _orphan_sweep(
    log: MailHostLog, credentials: CredentialStore, clock: Clock
) -> OrphanSweep | None:
    """Only a credential store that records owners can have its orphans swept."""
    if isinstance(credentials, OwnedSecrets):
        return OrphanSweep(log, credentials, clock)
    return None
