"""The engine's composition root: builds a ``MailHost`` from settings, wiring adapters to ports.

An embedding process (the CLI, a service, a test) opens its engine here; a ``dramatiq``
worker process is put together by ``infrastructure.workerprocess``, which opens its
engine here too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Literal, TypeVar

import dramatiq
from attrs import define

from application.host import MailHost
from application.importcopy import CopyPolicy
from application.imports import ImportAdapters
from application.log import MailHostLog
from application.ports import Clock, MailSender
from infrastructure.chain import ChainedRunner, chained_runner
from infrastructure.clock import SystemClock
from infrastructure.credentials import SqlCredentialStore
from infrastructure.files import secure_home
from infrastructure.forgetsetup import forgetting
from infrastructure.geolocation import RangeTableGeolocator
from infrastructure.hostedsource import hosted_source
from infrastructure.imapsource import ImapMailSource
from infrastructure.importdestination import import_destination
from infrastructure.mail import OutboxMailSender, SmtpMailSender
from infrastructure.maildir import MaildirMailStore
from infrastructure.mailstore import mail_store
from infrastructure.passwords import Argon2Hasher
from infrastructure.sealing import AesGcmSealer
from infrastructure.secrets import SecretKey
from infrastructure.settings import ConfigurationError, Settings
from infrastructure.sql import Database, PostgresDatabase, SqliteDatabase
from infrastructure.twostepsetup import two_step_adapters
from projections.activity import RecentActivity, SqlActivityQueries
from projections.advisories import Advisories, SqlAdvisoryQueries
from projections.audit import AuditTrail
from projections.auditsubjects import AuditSubjects
from projections.directory import AddressDirectory, SqlDirectoryQueries
from projections.imports import ImportViews, SqlImportQueries
from projections.jobs import JobSchedule, JobTable
from projections.responders import ResponderViews, SqlResponderQueries
from projections.runner import Projection, ProjectionRunner
from workers import broker, context
from workers.execution import Leases, Running, drain
from workers.relay import Relay

T = TypeVar("T")
# What an engine's background thread follows: everything, or one side of the split.
Follow = Literal["all", "projections", "relay"]


@define
class Engine:
    """Everything one process holds: the host and the machinery behind it."""

    settings: Settings
    host: MailHost
    runner: ProjectionRunner
    jobs: JobTable
    databases: tuple[Database, ...]
    leases: Leases
    relay: Relay | None = None

    def running(self) -> Running:
        """What the actors and a draining process run a job against."""
        return Running(self.host, self.jobs, self.leases)

    def drain(self, timeout: float = 30.0, *, exclude: Collection[str] = ()) -> int:
        """Run, in this process, the due jobs no other process holds; how many ran.

        For a short-lived process on the embedded engine (a command-line call): what its
        commands started (a mail-store write, a mail) happens before it exits. A job that
        fails stays scheduled for the next process that runs jobs; the ``exclude``
        kinds are left to the workers.
        """
        if self.settings.broker_url:
            return 0  # the workers of the Redis queue run them
        self.runner.catch_up()
        deadline = time.monotonic() + timeout
        return drain(self.running(), deadline=deadline, exclude=exclude)

    def close(self) -> None:
        if self.relay is not None:
            self.relay.close()
            context.release(self.host)
        if isinstance(self.runner, ChainedRunner):
            self.runner.seal()  # the tail linked and its head signed
        self.host.log.close()
        for database in self.databases:
            database.close()


def open_mailhost(
    home: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    clock: Clock | None = None,
    background: bool = True,
) -> MailHost:
    """The engine on the environment's configuration (embedded defaults when unset).

    With ``background`` (the default) a relay thread follows the log and, unless
    ``MAILHOST_BROKER_URL`` names Redis, runs the actors in-process. Close it (or use it
    as a context manager) to stop them.
    """
    return open_engine(home, env, clock=clock, background=background).host


def open_engine(
    home: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    clock: Clock | None = None,
    background: bool = True,
    cached: bool = False,
    follow: Follow = "all",
) -> Engine:
    """The engine and its machinery; ``cached``: aggregates kept between loads (a
    long-running decider), see ``Settings.log_env``; ``follow``: what the background
    thread does (``mailhost run projections`` / ``relay`` split it between processes)."""
    settings = Settings.from_env(env, home=home)
    # The home holds secrets (the key, the credential store, codes in the outbox).
    # Before the log opens: its file is made 0600 before eventsourcing creates it.
    _configured("MAILHOST_HOME", lambda: secure_home(settings))
    clock = clock or SystemClock()
    # What is opened before a refusal (CREATE_TABLE=n and a missing table, a bad
    # adapter setting) is closed again: a pool left to the garbage collector is
    # collected in one of its own threads.
    with ExitStack() as opened:
        log = MailHostLog(env=settings.log_env(cached=cached))
        opened.callback(log.close)
        views, secrets_db = _databases(settings)
        databases = (views,) if secrets_db is views else (views, secrets_db)
        for database in databases:
            opened.callback(database.close)
        engine = _assemble(
            settings,
            log=log,
            views=views,
            secrets_db=secrets_db,
            databases=databases,
            clock=clock,
        )
        opened.pop_all()
    if background:
        engine.relay = _start_relay(engine, clock, follow)
        engine.host.background = _Background(engine)
    return engine


def _assemble(
    settings: Settings,
    *,
    log: MailHostLog,
    views: Database,
    secrets_db: Database,
    databases: tuple[Database, ...],
    clock: Clock,
) -> Engine:
    # The tamper-evidence chain is extended wherever the projections catch up.
    runner = chained_runner(settings, log, views, _projections(), clock)
    jobs = JobTable(views)
    mail, fingerprints, geolocator = _adapters(settings)
    host = MailHost.assemble(
        log=log,
        credentials=SqlCredentialStore(secrets_db),
        hasher=Argon2Hasher(),
        fingerprints=fingerprints,
        geolocator=geolocator,
        mail=mail,
        clock=clock,
        activity=SqlActivityQueries(views),
        directory=SqlDirectoryQueries(views),
        advisories=SqlAdvisoryQueries(views),
        responder_views=SqlResponderQueries(views),
        store=mail_store(settings.home, settings.dovecot),
        alert_sender=settings.mail_from,
        policy=settings.policy,
        limits=settings.limits,
        responder_policy=settings.responder_policy,
        imports=_import_adapters(settings, fingerprints, views, runner),
        twostep=two_step_adapters(settings, fingerprints),
        sealer=AesGcmSealer.derived_from(fingerprints),
    )
    databases += runner.chain.owned
    host.forgetting = forgetting(
        log, runner, databases, secrets_db, fingerprints, clock
    )
    return Engine(settings, host, runner, jobs, databases, _leases(settings))


def _projections() -> list[Projection]:
    """Every read model the runner keeps, the job schedule (the outbox) among them."""
    return [
        RecentActivity(),
        JobSchedule(),
        AddressDirectory(),
        Advisories(),
        ResponderViews(),
        ImportViews(),
        AuditTrail(),
        AuditSubjects(),
    ]


def _import_adapters(
    settings: Settings,
    fingerprints: SecretKey,
    views: Database,
    runner: ProjectionRunner,
) -> ImportAdapters:
    """Any IMAP server as a source; the provider's own store (maildirs under the mail
    root, or Dovecot with the master login) as the destination; passwords sealed under
    a key derived from the engine's secret key. The folder states a re-run compares
    are read after catching up the import view (its other queries may lag)."""
    view = next(p for p in runner.projections if p.name == ImportViews.name)
    policy = CopyPolicy(max_attempts=settings.import_attempts)
    source = ImapMailSource(
        timeout=settings.import_timeout, max_message=policy.max_message_size
    )
    return ImportAdapters(
        sealer=AesGcmSealer.derived_from(fingerprints),
        source=source,
        destination=import_destination(settings.home, settings.dovecot),
        hosted=hosted_source(
            MaildirMailStore(settings.home / "mail"), settings.dovecot, source
        ),
        queries=SqlImportQueries(views, catch_up=lambda: runner.catch_up_one(view)),
        policy=policy,
    )


def _adapters(settings: Settings) -> tuple[MailSender, SecretKey, RangeTableGeolocator]:
    """The configured adapters, each refusal naming its variable (in this order)."""
    mail: MailSender = _configured(
        "MAILHOST_SMTP_URL",
        lambda: (
            SmtpMailSender(settings.smtp_url)
            if settings.smtp_url
            else OutboxMailSender(settings.outbox)
        ),
    )
    fingerprints = _configured(
        "MAILHOST_SECRET_KEY",
        lambda: SecretKey.load(settings.home / "secret.key", settings.secret_key_hex),
    )
    geolocator = _configured(
        "MAILHOST_GEOIP_CSV", lambda: RangeTableGeolocator(settings.geoip_csv)
    )
    return mail, fingerprints, geolocator


def _configured(variable: str, build: Callable[[], T]) -> T:
    """An adapter from configuration; what it cannot use is a configuration error."""
    try:
        return build()
    except (ValueError, OSError) as e:
        raise ConfigurationError(f"{variable}: {e}") from None


def _leases(settings: Settings) -> Leases:
    return Leases(claim=settings.job_claim_lease, handoff=settings.job_handoff_lease)


def _databases(settings: Settings) -> tuple[Database, Database]:
    if settings.uses_postgres:
        database = PostgresDatabase(settings.env)
        return database, database
    secrets_file = settings.home / "credentials.sqlite"
    if not secrets_file.exists():
        secrets_file.touch(mode=0o600)
    return SqliteDatabase(settings.home / "views.sqlite"), SqliteDatabase(secrets_file)


def _start_relay(engine: Engine, clock: Clock, follow: Follow = "all") -> Relay:
    runner = engine.runner
    if follow == "relay":  # the projections (the job schedule too) run elsewhere
        runner = ProjectionRunner(runner.log, runner.database, [])
    if follow == "projections":
        queue_broker: dramatiq.Broker = broker.make_broker(None)
    elif engine.settings.broker_url:
        queue_broker = broker.make_broker(engine.settings.broker_url)
    else:
        # Declared on the process's broker as they are imported, then moved onto ours.
        from workers.actors import ACTORS  # noqa: PLC0415 - only an embedded engine runs them

        queue_broker = broker.embedded_broker(ACTORS)
        context.use(engine.running())
    relay = Relay(
        runner,
        engine.jobs,
        queue_broker,
        clock,
        leases=engine.leases,
        sweep=engine.host.sweep_orphan_credentials,
        hands_over=follow != "projections",
    )
    relay.start()
    return relay


@define
class _Background:
    engine: Engine

    def settle(self, timeout: float = 30.0) -> None:
        if self.engine.relay is not None:
            self.engine.relay.settle(timeout)

    def close(self) -> None:
        self.engine.close()
