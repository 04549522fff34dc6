"""Projection catch-up events/s, next to a raw read and decode of the same log.

A log of logins, failures, log-outs, alerts and security changes over many accounts is
written straight through the aggregates (in batches, without hashing), then a fresh
``ProjectionRunner`` catches each view up from position 0 in a fresh view database. The
baseline pages through the same log, with the same topics and page size, and decodes
every event with the engine's mapper: what catch-up costs beyond that is the
projection's (describing the event, the insert, the tracking row, the commit).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

from application.log import MailHostLog
from benchmarks._core import (
    Options,
    Report,
    Sample,
    group,
    interleaved,
    ratio,
    scratch_engine,
)
from domain.account import UserAccount
from domain.address import EmailAddress
from domain.organisation import Organisation, Role
from domain.security import LoginContext, NotificationPreferences, SecurityPolicy
from infrastructure.sql import SqliteDatabase
from projections.activity import RecentActivity
from projections.jobs import JobSchedule
from projections.runner import BATCH, Projection, ProjectionRunner

SEED = 20240611
START = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)
STEP = timedelta(seconds=9)
SAVE_EVERY = 500  # commands per write transaction while seeding
USER_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148",
    "Thunderbird/128.2.0",
    "K-9 Mail/6.800",
)


class LogSeeder:
    """Drives the aggregates with a seeded random mix of commands and saves in batches."""

    def __init__(self, log: MailHostLog, accounts: int) -> None:
        self.log = log
        self.rng = random.Random(SEED)
        self.policy = SecurityPolicy()
        self.step = 0
        organisation = Organisation.found("Projection Org", at=START)
        self.accounts: list[UserAccount] = []
        for i in range(accounts):
            account = UserAccount.register(
                organisation.id,
                EmailAddress.parse(f"user{i}@projection.example"),
                credential_id=uuid4(),
                display_name=f"User {i}",
                at=START,
            )
            organisation.admit(
                account.id, role=Role.ADMIN if i == 0 else Role.MEMBER, at=START
            )
            self.accounts.append(account)
        self.log.save(organisation, *self.accounts)
        self.devices: dict[UUID, list[LoginContext]] = {
            a.id: [self._new_context(i)] for i, a in enumerate(self.accounts)
        }

    def _new_context(self, index: int) -> LoginContext:
        rng = self.rng
        return LoginContext(
            device=f"{rng.getrandbits(256):064x}",
            network=f"81.{rng.randrange(20, 40)}.{index % 250}.0/24",
            place=rng.choice(("", "Berlin, DE", "Lyon, FR", "Porto, PT")),
            user_agent=rng.choice(USER_AGENTS),
        )

    def write(self, events: int) -> int:
        """Write about ``events`` events; return how many were written."""
        written = 0
        while written < events:
            touched: dict[UUID, UserAccount] = {}
            for _ in range(min(SAVE_EVERY, events - written)):
                account = self.rng.choice(self.accounts)
                self._command(account)
                touched[account.id] = account
            written += len(self.log.save(*touched.values()))
        return written

    def _command(self, account: UserAccount) -> None:
        self.step += 1
        at = START + self.step * STEP
        rng = self.rng
        roll = rng.random()
        devices = self.devices[account.id]
        if account.is_throttled(at, self.policy, devices[0]):
            # The throttle is per source: refused attempts are recorded once per episode.
            account.record_throttled(devices[0], at=at, policy=self.policy)
        elif roll < 0.25:  # noqa: PLR2004 - the share of wrong passwords
            context = rng.choice(devices)
            if account.is_throttled(at, self.policy, context):
                account.record_throttled(context, at=at, policy=self.policy)
            else:
                account.fail_login(context, at=at, policy=self.policy)
        elif roll < 0.30 and account.active_sessions:  # noqa: PLR2004 - the share of sign-outs
            session = min(account.active_sessions)
            account.log_out(session, at=at)
        elif roll < 0.36 and account.pending_alerts:  # noqa: PLR2004 - the share of alerts sent
            account.record_alert_sent(min(account.pending_alerts), at=at)
        elif roll < 0.375:  # noqa: PLR2004 - the share of password changes
            account.change_password(uuid4(), keep_session=None, at=at)
        elif roll < 0.38:  # noqa: PLR2004 - the share of preference changes
            preferences = NotificationPreferences(failed_login=rng.random() < 0.8)  # noqa: PLR2004 - most keep the alert
            account.choose_notifications(preferences, at=at)
        else:
            if rng.random() < 0.05:  # noqa: PLR2004 - a new browser now and then
                index = self.accounts.index(account)
                devices.append(self._new_context(index))
            self._login(account, rng.choice(devices), at)

    def _login(self, account: UserAccount, context: LoginContext, at: datetime) -> None:
        # A throttled source is refused unchecked, as the login use case refuses it.
        if account.is_throttled(at, self.policy, context):
            account.record_throttled(context, at=at, policy=self.policy)
        else:
            account.log_in(uuid4(), context, at=at, policy=self.policy)


class FreshView:
    """A new view database (and runner) per timed catch-up, made outside the timing."""

    def __init__(
        self,
        root: Path,
        label: str,
        log: MailHostLog,
        make: Callable[[], Sequence[Projection]] | None,
    ) -> None:
        """``make``: the projections a runner catches up; None, an empty store alone."""
        self.root = root
        self.label = label
        self.log = log
        self.make = make
        self.count = 0
        self.database: SqliteDatabase | None = None
        self.runner: ProjectionRunner | None = None

    def prepare(self) -> None:
        self.drop()
        self.count += 1
        self.database = SqliteDatabase(self.root / f"{self.label}-{self.count}.sqlite")
        if self.make is not None:
            self.runner = ProjectionRunner(self.log, self.database, self.make())

    def catch_up(self) -> int:
        if self.runner is None:
            raise RuntimeError("prepare() first")
        return self.runner.catch_up()

    def drop(self) -> None:
        if self.database is not None:
            self.database.close()
            for path in self.root.glob(f"{self.label}-{self.count}.sqlite*"):
                path.unlink()
        self.database = None
        self.runner = None


def read_log(log: MailHostLog, topics: Sequence[str], *, decode: bool = True) -> int:
    """Page through the log as the runner does, decoding each event; return the count."""
    position = 0
    count = 0
    while True:
        notifications = log.recorder.select_notifications(
            start=position, limit=BATCH, topics=topics, inclusive_of_start=False
        )
        if not notifications:
            return count
        if decode:
            for notification in notifications:
                log.mapper.to_domain_event(notification)
        position = notifications[-1].id
        count += len(notifications)


@group("projection", "projection catch-up events/s vs a raw read of the same log")
def run(options: Options, report: Report) -> None:
    samples, activity_events, job_events = _measure(options, report)
    _report(report, samples, activity_events, job_events)


def _measure(options: Options, report: Report) -> tuple[dict[str, Sample], int, int]:
    """Seed one log, then time each catch-up against its raw read, interleaved."""
    rounds = options.pick_rounds(quick=5, full=7)
    events = 3_000 if options.quick else 20_000
    accounts = 100 if options.quick else 400
    activity, jobs = RecentActivity(), JobSchedule()
    with scratch_engine("projection") as (root, engine):
        log = engine.host.log
        seeder = LogSeeder(log, accounts)
        samples = interleaved(
            {"write": lambda: seeder.write(events)}, rounds=1, warmup=0
        )
        written = log.recorder.max_notification_id() or 0
        report.note(
            f"{written} events over {accounts} accounts (SQLite); {rounds} rounds "
            f"per case, interleaved, a fresh view database for each catch-up"
        )
        activity_view = FreshView(root, "activity", log, lambda: [RecentActivity()])
        jobs_view = FreshView(root, "jobs", log, lambda: [JobSchedule()])
        prepare = {
            "activity": activity_view.prepare,
            "jobs": jobs_view.prepare,
        }
        samples |= interleaved(
            {
                "activity": activity_view.catch_up,
                "raw": lambda: read_log(log, activity.topics),
                "select": lambda: read_log(log, activity.topics, decode=False),
                "jobs": jobs_view.catch_up,
                "jobs_raw": lambda: read_log(log, jobs.topics),
            },
            rounds=rounds,
            before=prepare,
        )
        activity_view.drop()
        jobs_view.drop()
        activity_events = read_log(log, activity.topics, decode=False)
        job_events = read_log(log, jobs.topics, decode=False)
    return samples, activity_events, job_events


def _report(
    report: Report, samples: dict[str, Sample], activity_events: int, job_events: int
) -> None:
    def spread(name: str) -> str:
        sample = samples[name]
        return f"{sample.median_seconds * 1e6:.1f} us each, {sample.spread()}"

    report.figure(
        "projection_events", activity_events, "events", "RecentActivity topics"
    )
    report.figure(
        "batched_write_per_s",
        samples["write"].median,
        "/s",
        f"seeding through the aggregates, {SAVE_EVERY} commands per transaction",
    )
    report.figure(
        "projection_catchup_per_s", samples["activity"].median, "/s", spread("activity")
    )
    report.figure("raw_log_read_per_s", samples["raw"].median, "/s", spread("raw"))
    report.figure(
        "raw_log_select_per_s",
        samples["select"].median,
        "/s",
        "select only, no decoding; " + spread("select"),
    )
    report.figure(
        "projection_vs_raw_ratio",
        ratio(samples["activity"].median, samples["raw"].median),
        "x",
    )
    report.figure("jobs_events", job_events, "events", "JobSchedule topics")
    report.figure("jobs_catchup_per_s", samples["jobs"].median, "/s", spread("jobs"))
    report.figure(
        "jobs_raw_read_per_s", samples["jobs_raw"].median, "/s", spread("jobs_raw")
    )
    report.figure(
        "jobs_vs_raw_ratio",
        ratio(samples["jobs"].median, samples["jobs_raw"].median),
        "x",
    )
