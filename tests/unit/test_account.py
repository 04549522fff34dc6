"""UserAccount and Organisation: the security rules (SEC-1..SEC-6) and replay.

Commands are driven the way application.accounts drives them: a throttled account gets
``record_throttled`` instead of a password check, and time only moves forward.
"""

from __future__ import annotations

import copy
import functools
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address, IPv6Address
from itertools import pairwise
from typing import Any, cast
from uuid import UUID, uuid4

import pytest
from attrs import evolve
from eventsourcing.domain import Aggregate
from hypothesis import event, given
from hypothesis import strategies as st

from application.accounts import Accounts, LoginRefused
from application.authorization import OPERATOR
from application.jobs import SEND_SECURITY_ALERT, jobs_for
from application.log import MailHostLog
from application.organisations import Organisations
from domain import ids
from domain.account import UserAccount
from domain.address import EmailAddress
from domain.errors import (
    AlreadyExists,
    DomainError,
    InvalidInput,
    NotFound,
    NotPermitted,
)
from domain.organisation import Organisation, Role
from domain.phone import PhoneNumber
from domain.security import (
    AlertKind,
    LoginContext,
    NotificationPreferences,
    PasswordPolicy,
    SecurityPolicy,
    alert_key,
)
from infrastructure.passwords import Argon2Hasher
from infrastructure.secrets import SecretKey
from projections.activity import EVENTS as ACTIVITY_EVENTS
from projections.activity import describe
from tests.strategies import (
    PHONE_POOL,
    event_classes_of,
    gaps,
    increasing_times,
    login_contexts,
    minutes,
    notification_preferences,
    replay,
    security_policies,
    stored_bytes,
    through_mapper,
    utc_datetimes,
)
from tests.unit.fakes import Clock, MemoryCredentials

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
ORG = UUID("00000000-0000-4000-8000-000000000001")
HOME = LoginContext(device="a" * 64, network="192.0.2.0/24", place="Zürich, CH")
# Generous limits, for tests about something other than the throttle.
LAX = SecurityPolicy(
    failed_login_window=timedelta(minutes=15),
    throttle_limit=1000,
    throttle_period=timedelta(minutes=1),
)
STRICT = SecurityPolicy(
    failed_login_window=timedelta(minutes=10),
    throttle_limit=3,
    throttle_period=timedelta(minutes=5),
)


def register(at: datetime = T0, login: str = "alice@example.org") -> UserAccount:
    return UserAccount.register(
        ORG,
        EmailAddress.parse(login),
        credential_id=uuid4(),
        display_name="Alice",
        at=at,
    )


def of_type(events: Iterable[Any], cls: type[Any]) -> list[Any]:
    return [e for e in events if type(e) is cls]


def pending_of(account: UserAccount, kind: AlertKind) -> dict[str, Any]:
    return {k: p for k, p in account.pending_alerts.items() if p.kind is kind}


def attempt(
    account: UserAccount,
    context: LoginContext,
    *,
    success: bool,
    at: datetime,
    policy: SecurityPolicy,
) -> str:
    """One login attempt as the application makes it; what happened, by name."""
    if account.is_throttled(at, policy, context):
        recorded = account.record_throttled(context, at=at, policy=policy)
        return "throttled-recorded" if recorded else "throttled"
    if success:
        account.log_in(uuid4(), context, at=at, policy=policy)
        return "logged-in"
    account.fail_login(context, at=at, policy=policy)
    return "failed"


# -- SEC-1: new device or location --------------------------------------------------


@given(
    times=increasing_times(min_size=1, max_size=40),
    steps=st.lists(
        st.tuples(login_contexts(), st.none() | notification_preferences()),
        min_size=40,
        max_size=40,
    ),
)
def test_a_login_alerts_exactly_when_device_or_location_is_new(
    times: list[datetime],
    steps: list[tuple[LoginContext, NotificationPreferences | None]],
) -> None:
    # rule SEC-1 (and SEC-3: the new_location preference switches the mail off)
    account = register()
    devices: set[str] = set()
    locations: set[str] = set()
    wanted = True
    alerted: list[tuple[str, str]] = []
    for at, (context, preferences) in zip(times, steps, strict=False):
        if preferences is not None:
            account.choose_notifications(preferences, at=at)
            wanted = preferences.new_location
        new = context.device not in devices or context.location not in locations
        got = account.log_in(uuid4(), context, at=at, policy=LAX)
        assert got is (new and wanted), (context, devices, locations, wanted)
        if got:
            alerted.append((context.device, context.location))
        devices.add(context.device)
        locations.add(context.location)
    events = account.collect_events()
    logins = of_type(events, UserAccount.LoggedIn)
    assert [e.alert for e in logins].count(True) == len(alerted)
    assert len(set(alerted)) == len(alerted), "the same device and place alerted twice"
    assert len(pending_of(account, AlertKind.NEW_LOCATION)) == len(alerted)
    assert account.known_devices == devices
    assert account.known_locations == locations


def test_first_login_alerts_then_the_same_place_and_device_do_not() -> None:
    # rule SEC-1
    account = register()
    assert account.log_in(uuid4(), HOME, at=T0, policy=LAX) is True
    assert (
        account.log_in(uuid4(), HOME, at=T0 + timedelta(minutes=1), policy=LAX) is False
    )
    # A new prefix in the same city is the same location: no mail for every hop.
    roaming = LoginContext(
        device=HOME.device, network="198.51.100.0/24", place=HOME.place
    )
    assert (
        account.log_in(uuid4(), roaming, at=T0 + timedelta(minutes=2), policy=LAX)
        is False
    )
    # Private browsing: a new device token from the same place alerts.
    private = LoginContext(device="b" * 64, network=HOME.network, place=HOME.place)
    assert (
        account.log_in(uuid4(), private, at=T0 + timedelta(minutes=3), policy=LAX)
        is True
    )
    # Without a known place the network is the location.
    unknown = LoginContext(device=HOME.device, network="203.0.113.0/24")
    assert unknown.location == "203.0.113.0/24"
    assert (
        account.log_in(uuid4(), unknown, at=T0 + timedelta(minutes=4), policy=LAX)
        is True
    )
    logins = of_type(account.collect_events(), UserAccount.LoggedIn)
    assert [(e.new_device, e.new_location) for e in logins] == [
        (True, True),
        (False, False),
        (False, False),
        (True, False),
        (False, True),
    ]


def test_a_new_location_alert_is_a_job_due_at_once() -> None:
    # rule SEC-1
    account = register()
    account.log_in(uuid4(), HOME, at=T0, policy=LAX)
    jobs = [j for e in account.collect_events() for j in jobs_for(e)]
    key = alert_key(AlertKind.NEW_LOCATION, 2)
    assert [(j.actor, j.args, j.due_at) for j in jobs] == [
        (SEND_SECURITY_ALERT, (str(account.id), key), T0)
    ]
    assert set(account.pending_alerts) == {key}


# -- SEC-2: failed logins are aggregated per window ---------------------------------


@given(
    policy=security_policies(limit=st.just(1000)),
    times=increasing_times(min_size=1, max_size=50, max_gap_seconds=900, strict=False),
    context=login_contexts(),
)
def test_failed_login_alerts_open_at_most_one_per_window(
    policy: SecurityPolicy, times: list[datetime], context: LoginContext
) -> None:
    # rule SEC-2
    window = policy.failed_login_window
    account = register()
    account.collect_events()
    due: datetime | None = None
    for at in times:
        account.fail_login(context, at=at, policy=policy)
        (event,) = cast("list[Any]", account.collect_events())
        opens = due is None or at >= due
        assert (event.alert_due is not None) is opens, (at, due)
        if opens:
            due = at + window
            assert event.alert_due == due
            assert event.alert_key == alert_key(
                AlertKind.FAILED_LOGIN, event.originator_version
            )
        # Every wrong password is counted in some mail.
        assert event.alert_key is not None
        assert account.failure_window is not None
        assert account.failure_window[0] == due


@given(
    policy=security_policies(limit=st.just(1000)),
    times=increasing_times(min_size=5, max_size=50, max_gap_seconds=600, strict=False),
    contexts=st.lists(login_contexts(), min_size=50, max_size=50),
    preferences=st.lists(
        st.none() | notification_preferences(), min_size=50, max_size=50
    ),
)
def test_failed_login_counts_add_up_and_one_job_per_window(
    policy: SecurityPolicy,
    times: list[datetime],
    contexts: list[LoginContext],
    preferences: list[NotificationPreferences | None],
) -> None:
    # rule SEC-2
    window = policy.failed_login_window
    account = register()
    events: list[Any] = list(account.collect_events())
    for at, context, chosen in zip(times, contexts, preferences, strict=False):
        if chosen is not None:
            account.choose_notifications(chosen, at=at)
        account.fail_login(context, at=at, policy=policy)
    events += account.collect_events()
    failures = of_type(events, UserAccount.LoginFailed)
    openings = [e for e in failures if e.alert_due is not None]
    # No two alert-opening failures closer than the window.
    for first, second in pairwise(openings):
        assert second.timestamp - first.timestamp >= window
    span = times[-1] - times[0]
    assert len(openings) <= span // window + 1
    # Each pending alert counts the failures folded into it, and nothing else.
    folded = Counter(e.alert_key for e in failures if e.alert_key is not None)
    pending = pending_of(account, AlertKind.FAILED_LOGIN)
    assert set(pending) == {e.alert_key for e in openings} == set(folded)
    for key, alert in pending.items():
        assert alert.count == folded[key]
        opening = next(e for e in openings if e.alert_key == key)
        assert alert.first_at == opening.timestamp
        assert alert.last_at < opening.alert_due
    assert sum(a.count for a in pending.values()) == sum(folded.values())
    # One send_security_alert job per window, due when the window closes.
    jobs = [j for e in events for j in jobs_for(e)]
    assert all(j.actor == SEND_SECURITY_ALERT for j in jobs)
    assert [j.args for j in jobs] == [(str(account.id), e.alert_key) for e in openings]
    assert [j.due_at for j in jobs] == [e.timestamp + window for e in openings]
    assert len({j.job_id for j in jobs}) == len(jobs)
    event(f"windows: {min(len(openings), 3)}")
    event(f"folded: {min(len(failures) - len(openings), 3)}")


def test_failures_in_one_window_make_one_mail_with_the_count() -> None:
    # rule SEC-2
    account = register()
    for minute in (0, 1, 2, 9):
        account.fail_login(HOME, at=T0 + timedelta(minutes=minute), policy=LAX)
    (key,) = account.pending_alerts
    assert account.pending_alerts[key].count == 4
    assert account.pending_alerts[key].last_at == T0 + timedelta(minutes=9)
    # The window closes 15 minutes after the first failure; the next opens a new one.
    account.fail_login(HOME, at=T0 + timedelta(minutes=15), policy=LAX)
    assert len(account.pending_alerts) == 2
    account.record_alert_sent(key, at=T0 + timedelta(minutes=15, seconds=1))
    sent = of_type(list(account.collect_events()), UserAccount.SecurityAlertSent)
    assert [(e.key, e.kind, e.count) for e in sent] == [
        (key, AlertKind.FAILED_LOGIN, 4)
    ]
    entry = describe(sent[0])
    assert entry is not None
    assert "4 attempts" in entry.detail


def test_sending_the_window_alert_lets_the_next_failure_open_a_new_one() -> None:
    # rule SEC-2
    account = register()
    account.fail_login(HOME, at=T0, policy=LAX)
    (first,) = account.pending_alerts
    account.record_alert_sent(first, at=T0 + LAX.failed_login_window)
    assert account.failure_window is None
    account.fail_login(HOME, at=T0 + LAX.failed_login_window, policy=LAX)
    (second,) = account.pending_alerts
    assert second != first
    assert account.pending_alerts[second].count == 1


def test_failed_login_mails_can_be_switched_off() -> None:
    # rule SEC-2, SEC-3
    account = register()
    account.choose_notifications(NotificationPreferences(failed_login=False), at=T0)
    account.fail_login(HOME, at=T0, policy=LAX)
    (event,) = of_type(list(account.collect_events()), UserAccount.LoginFailed)
    assert (event.alert_key, event.alert_due) == (None, None)
    assert jobs_for(event) == []
    assert account.pending_alerts == {}


# -- SEC-2 / ASVS: the throttle -----------------------------------------------------


@given(
    policy=security_policies(limit=st.integers(3, 10), period=minutes(1, 10)),
    start=utc_datetimes(),
    attempts=st.lists(
        st.tuples(
            gaps(max_seconds=150, strict=False),
            st.sampled_from((False, False, False, True)),  # mostly wrong passwords
            login_contexts(),
        ),
        min_size=30,
        max_size=100,
    ),
)
def test_the_throttle_bounds_failures_and_records_each_episode_once(
    policy: SecurityPolicy,
    start: datetime,
    attempts: list[tuple[timedelta, bool, LoginContext]],
) -> None:
    # rule SEC-2 (OWASP ASVS 6.3: at most throttle_limit checks per throttle_period per
    # source, at most account_limit from all sources together)
    account = register(at=start)
    at = start
    outcomes = []
    sources: list[tuple[str, datetime]] = []
    for gap, success, context in attempts:
        at += gap
        source = account.throttle_source(context)
        outcome = attempt(account, context, success=success, at=at, policy=policy)
        outcomes.append(outcome)
        if outcome == "failed":
            sources.append((source, at))
        if outcome == "throttled-recorded":
            recorded = account.pending_events[-1]
            assert isinstance(recorded, UserAccount.LoginThrottled)
            until = recorded.until
            assert account.throttled_until is not None
            assert account.throttled_until >= until > at
            # The episode ends exactly at `until`, not before, not after.
            assert account.is_throttled(
                until - timedelta(microseconds=1), policy, context
            )
            assert not account.is_throttled(until, policy, context)
    events = list(account.collect_events())
    failed = [e.timestamp for e in of_type(events, UserAccount.LoginFailed)]
    assert failed == [t for _, t in sources]
    period = policy.throttle_period

    def inside(times: list[datetime], t: datetime) -> int:
        return bisect_right(times, t) - bisect_right(times, t - period)

    # At most `account_limit` failures in any interval (t - period, t] ...
    for t in failed:
        assert inside(failed, t) <= policy.account_limit
    # ... and at most `throttle_limit` from any one source.
    per_source: dict[str, list[datetime]] = {}
    for source, t in sources:
        per_source.setdefault(source, []).append(t)
    for times in per_source.values():
        for t in times:
            assert inside(times, t) <= policy.throttle_limit
    # Each episode needs failures of its own: the log grows with the failures only.
    throttled = of_type(events, UserAccount.LoginThrottled)
    bound = max(0, len(failed) - policy.account_limit + 1) + sum(
        max(0, len(times) - policy.throttle_limit + 1) for times in per_source.values()
    )
    assert len(throttled) <= bound
    assert len(throttled) == outcomes.count("throttled-recorded")
    event(f"throttle episodes: {min(len(throttled), 3)}")
    event(f"refused unrecorded: {min(outcomes.count('throttled'), 1)}")


def test_a_throttled_account_refuses_and_records_once() -> None:
    # rule SEC-2
    account = register()
    for second in range(3):
        account.fail_login(HOME, at=T0 + timedelta(seconds=second), policy=STRICT)
    at = T0 + timedelta(seconds=10)
    assert account.is_throttled(at, STRICT, HOME)
    # ASVS 6.3.1: the failures throttle their network, not the account everywhere.
    assert not account.is_throttled(at, STRICT)
    assert not account.is_throttled(at, STRICT, evolve(HOME, network="198.51.100.0/24"))
    assert account.record_throttled(HOME, at=at, policy=STRICT) is True
    assert account.throttled_until == T0 + STRICT.throttle_period
    assert (
        account.record_throttled(HOME, at=at + timedelta(minutes=1), policy=STRICT)
        is False
    )
    assert not account.is_throttled(T0 + STRICT.throttle_period, STRICT, HOME)
    account.fail_login(HOME, at=T0 + STRICT.throttle_period, policy=STRICT)
    assert (
        account.record_throttled(HOME, at=T0 + STRICT.throttle_period, policy=STRICT)
        is True
    )
    assert account.throttled_until == T0 + timedelta(seconds=1) + STRICT.throttle_period


def test_a_throttle_period_over_a_day_is_refused_or_honoured() -> None:
    # rule SEC-2
    try:
        policy = SecurityPolicy(throttle_limit=2, throttle_period=timedelta(days=2))
    except InvalidInput:
        return
    account = register()
    account.fail_login(HOME, at=T0, policy=policy)
    account.fail_login(HOME, at=T0 + timedelta(days=1, seconds=1), policy=policy)
    # Two failures within the last two days: the third check must be refused.
    assert account.is_throttled(T0 + timedelta(days=1, seconds=2), policy, HOME)


# -- SEC-4: a password change ends the other sessions -------------------------------


def test_a_password_change_ends_every_other_session() -> None:
    # rule SEC-4
    account = register()
    sessions = [uuid4() for _ in range(3)]
    for i, session in enumerate(sessions):
        account.log_in(session, HOME, at=T0 + timedelta(minutes=i), policy=LAX)
    new_credential = uuid4()
    ended = account.change_password(
        new_credential, keep_session=sessions[1], at=T0 + timedelta(hours=1)
    )
    assert set(ended) == {sessions[0], sessions[2]}
    assert account.active_sessions == {sessions[1]}
    assert account.credential_id == new_credential
    with pytest.raises(NotFound):
        account.log_out(sessions[0], at=T0 + timedelta(hours=2))
    (changed,) = of_type(list(account.collect_events()), UserAccount.PasswordChanged)
    assert changed.alert is True
    assert [j.args[1] for j in jobs_for(changed)] == [
        alert_key(AlertKind.SECURITY_CHANGE, changed.originator_version)
    ]


def test_a_password_change_without_a_kept_session_ends_them_all() -> None:
    # rule SEC-4
    account = register()
    account.log_in(uuid4(), HOME, at=T0, policy=LAX)
    account.change_password(uuid4(), keep_session=None, at=T0)
    assert account.active_sessions == set()


# -- SEC-6: no secret in any event --------------------------------------------------

CANARY_PASSWORD = "canary-Pa55word-7f3a9c1e"
CANARY_TOKEN = "canary-device-token-4b8e2d"


def test_domain_events_hold_no_password_or_device_token() -> None:
    # rule SEC-6
    key = SecretKey(b"k" * 32)
    device = key.digest(f"device:{CANARY_TOKEN}")
    context = LoginContext(device=device, network="192.0.2.0/24", place="Roma, IT")
    account = register()
    account.log_in(uuid4(), context, at=T0, policy=STRICT)
    for second in range(5):
        attempt(
            account,
            context,
            success=False,
            at=T0 + timedelta(seconds=second),
            policy=STRICT,
        )
    account.change_password(uuid4(), keep_session=None, at=T0 + timedelta(hours=1))
    account.change_recovery_phone(PHONE_POOL[0], at=T0 + timedelta(hours=1))
    for pending in list(account.pending_alerts):
        account.record_alert_sent(pending, at=T0 + timedelta(hours=2))
    events = list(account.collect_events())
    assert {type(e) for e in events} >= {
        UserAccount.Registered,
        UserAccount.LoggedIn,
        UserAccount.LoginFailed,
        UserAccount.LoginThrottled,
        UserAccount.PasswordChanged,
    }
    blob = b"\n".join(stored_bytes(events))
    assert device.encode() in blob  # we are looking at the right bytes
    for secret in (CANARY_PASSWORD, CANARY_TOKEN):
        assert secret.encode() not in blob
        assert secret.encode("utf-16-le") not in blob


class _Places:
    def locate(self, ip: IPv4Address | IPv6Address) -> str:
        return "Roma, IT" if ip.version == 4 else ""


def test_the_stored_log_holds_no_password_hash_or_token() -> None:
    # rule SEC-6: the use cases see the secrets; the stored events must not.
    credentials = MemoryCredentials()
    accounts, log = _accounts_in_memory("Canary Org", credentials)
    result = accounts.login(
        "carol@example.org", CANARY_PASSWORD, ip="192.0.2.7", device_token=CANARY_TOKEN
    )
    with pytest.raises(LoginRefused):
        accounts.login("carol@example.org", CANARY_PASSWORD + "x", ip="192.0.2.7")
    new_password = CANARY_PASSWORD[::-1]
    accounts.change_password(
        "carol@example.org",
        CANARY_PASSWORD,
        new_password,
        keep_session_token=result.session_token,
    )
    accounts.change_recovery_phone(
        "carol@example.org", "+41", "079 123 45 67", password=new_password
    )
    blob = b"\n".join(
        n.topic.encode() + b"\0" + n.state
        for n in log.recorder.select_notifications(start=1, limit=1000)
    )
    assert b"UserAccount.LoggedIn" in blob
    assert b"UserAccount.PasswordChanged" in blob
    hashes = list(credentials.secrets.values())
    assert hashes  # the new hash is in the credential store ...
    for secret in (
        CANARY_PASSWORD,
        new_password,
        CANARY_TOKEN,
        result.session_token,
        result.device_token,
        *hashes,
    ):
        assert secret.encode() not in blob  # ... and never in the log


def _accounts_in_memory(
    org: str = "Zone Org", credentials: MemoryCredentials | None = None
) -> tuple[Accounts, MailHostLog]:
    """Carol, registered in ``org``, on an in-memory log with the stored-event mapper."""
    log = MailHostLog(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.popo",
            "MAPPER_TOPIC": "infrastructure.mapper:CattrsMapper",
        }
    )
    clock = Clock(T0)
    accounts = Accounts(
        log=log,
        credentials=MemoryCredentials() if credentials is None else credentials,
        hasher=Argon2Hasher(),
        fingerprints=SecretKey(b"s" * 32),
        geolocator=_Places(),
        clock=clock,
        policy=STRICT,
    )
    Organisations(log, clock).found(org, by=OPERATOR)
    accounts.register(org, "carol@example.org", CANARY_PASSWORD, by=OPERATOR)
    return accounts, log


@pytest.mark.parametrize(
    "ip", ["fe80::1%\x1b[31m", "fe80::1%eth0", "192.0.2.10\x00", "2001:db8::1\u202e"]
)
def test_a_login_from_an_ip_with_a_zone_id_or_control_is_refused(ip: str) -> None:
    # rule SEC-1: the network is stored and shown in the activity list; a zone id is
    # the receiving host's interface, any text, escape sequences included
    accounts, log = _accounts_in_memory()
    head = log.recorder.max_notification_id()
    with pytest.raises(InvalidInput, match="IP address"):
        accounts.login("carol@example.org", CANARY_PASSWORD, ip=ip)
    assert log.recorder.max_notification_id() == head
    accounts.login("carol@example.org", CANARY_PASSWORD, ip="2001:db8::1")


# -- commands refuse without changing anything -----------------------------------------


def assert_refused(
    account: Aggregate, error: type[DomainError], command: Callable[[], object]
) -> None:
    """The command raises ``error`` and leaves the aggregate exactly as it was."""
    before = copy.deepcopy(account)
    with pytest.raises(error):
        command()
    assert account == before  # also compares the pending events
    assert len(account.pending_events) == len(before.pending_events)


def throttled_account() -> UserAccount:
    account = register()
    for second in range(STRICT.throttle_limit):
        account.fail_login(HOME, at=T0 + timedelta(seconds=second), policy=STRICT)
    account.collect_events()
    return account


def test_a_throttled_account_refuses_password_checks_and_logins() -> None:
    # rule SEC-2
    account = throttled_account()
    at = T0 + timedelta(minutes=1)
    assert_refused(
        account, NotPermitted, lambda: account.fail_login(HOME, at=at, policy=STRICT)
    )
    assert_refused(
        account,
        NotPermitted,
        lambda: account.log_in(uuid4(), HOME, at=at, policy=STRICT),
    )


def test_record_throttled_is_refused_when_not_throttled() -> None:
    # rule SEC-2
    account = register()
    assert_refused(
        account,
        InvalidInput,
        lambda: account.record_throttled(HOME, at=T0, policy=STRICT),
    )


def test_the_same_recovery_number_again_is_refused() -> None:
    # rule SEC-5
    account = register()
    account.change_recovery_phone(PhoneNumber.parse("+41", "079 123 45 67"), at=T0)
    assert account.recovery_phone == "+41791234567"
    same = PhoneNumber.parse("0041", "79 123 45 67")
    assert_refused(
        account, InvalidInput, lambda: account.change_recovery_phone(same, at=T0)
    )


def test_unknown_sessions_and_alerts_are_not_found() -> None:
    account = register()
    session = uuid4()
    account.log_in(session, HOME, at=T0, policy=LAX)
    assert_refused(account, NotFound, lambda: account.log_out(uuid4(), at=T0))
    account.log_out(session, at=T0)
    assert_refused(account, NotFound, lambda: account.log_out(session, at=T0))
    (key,) = account.pending_alerts
    assert_refused(account, NotFound, lambda: account.record_alert_sent("nope", at=T0))
    account.record_alert_sent(key, at=T0)
    assert_refused(account, NotFound, lambda: account.record_alert_sent(key, at=T0))


@pytest.mark.parametrize(
    "command",
    [
        "log_in",
        "fail_login",
        "log_out",
        "change_password",
        "change_recovery_phone",
        "choose_notifications",
        "record_alert_sent",
    ],
)
def test_a_naive_time_is_refused_by_every_command(command: str) -> None:
    account = register()
    session = uuid4()
    account.log_in(session, HOME, at=T0, policy=LAX)
    naive = datetime(2024, 3, 1, 10, 0)  # noqa: DTZ001 - the point of the test
    (key,) = account.pending_alerts
    calls: dict[str, Callable[[], object]] = {
        "log_in": lambda: account.log_in(uuid4(), HOME, at=naive, policy=LAX),
        "fail_login": lambda: account.fail_login(HOME, at=naive, policy=LAX),
        "log_out": lambda: account.log_out(session, at=naive),
        "change_password": lambda: account.change_password(
            uuid4(), keep_session=None, at=naive
        ),
        "change_recovery_phone": lambda: account.change_recovery_phone(
            PHONE_POOL[0], at=naive
        ),
        "choose_notifications": lambda: account.choose_notifications(
            NotificationPreferences(), at=naive
        ),
        "record_alert_sent": lambda: account.record_alert_sent(key, at=naive),
    }
    assert_refused(account, InvalidInput, calls[command])


# A line break in a name is a header injection once the name is in a mail; a tab, a
# vertical tab, a form feed or a line separator is a control to refuse, not to fold.
LINE_BREAKS = [
    "Ann\r\nBcc: evil@example.net",
    "Ann\nX-Evil: 1",
    "Ann\x0bEvil",
    "Ann\x0cEvil",
    "Ann\u2028Evil",
    "Alice\tSmith",
]


@pytest.mark.parametrize(
    "name", ["x" * 201, "tab\there\x00", "bell\x07", "Ann\u202eliveE", *LINE_BREAKS]
)
def test_bad_display_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput, match="display name"):
        UserAccount.register(
            ORG,
            EmailAddress.parse("a@example.org"),
            credential_id=uuid4(),
            display_name=name,
            at=T0,
        )


def test_display_names_are_normalised() -> None:
    account = UserAccount.register(
        ORG,
        EmailAddress.parse("a@example.org"),
        credential_id=uuid4(),
        display_name="  Alice \u00a0  Smith ",
        at=T0,
    )
    assert account.display_name == "Alice Smith"


@pytest.mark.parametrize(
    "name", ["", "   ", "x" * 201, "Acme\x00", "Acme\udcff", *LINE_BREAKS]
)
def test_bad_organisation_names_are_refused(name: str) -> None:
    # rule ORG-1
    with pytest.raises(InvalidInput, match="organisation"):
        Organisation.found(name, at=T0)


@pytest.mark.parametrize("name", ["Acme\udcff", "Acme\r\nCo", "Acme\x00", "A" * 201])
def test_an_organisation_looked_up_by_an_impossible_name_is_refused(name: str) -> None:
    # rule ORG-1: a lone surrogate cannot even be encoded into the derived id
    with pytest.raises(InvalidInput, match="organisation"):
        ids.organisation_key(name)


def test_an_organisation_is_found_by_its_name_as_typed() -> None:
    # rule ORG-1
    org = Organisation.found("Acme  Mail", at=T0)
    assert ids.organisation_key(" Acme \u00a0Mail ") == org.id
    assert ids.organisation_key(org.id) == org.id


@pytest.mark.parametrize(
    "password",
    ["a long\x00passphrase", "a long\tpassphrase", "a long passphrase\r\n", "\x7f" * 9],
)
def test_a_new_password_with_a_control_character_is_refused(password: str) -> None:
    # rule SEC-6: NUL separates SASL PLAIN's fields; no IMAP or SMTP login could use it
    with pytest.raises(InvalidInput, match="password") as refused:
        PasswordPolicy().check(password)
    assert password not in str(refused.value)


@pytest.mark.parametrize(
    "password",
    ["family \U0001f468\u200d\U0001f469\u200d\U0001f467 trip", "\ue000 private use ok"],
)
def test_a_new_password_may_hold_any_printable_character(password: str) -> None:
    # rule SEC-6 (OWASP ASVS: every printable character, emoji sequences included)
    PasswordPolicy().check(password)


def test_an_account_joins_an_organisation_once() -> None:
    # rule ORG-1
    org = Organisation.found("  Acme   Mail ", at=T0)
    assert org.name == "Acme Mail"
    member = uuid4()
    org.admit(member, role=Role.ADMIN, at=T0)
    assert org.is_admin(member)
    assert_refused(
        org, AlreadyExists, lambda: org.admit(member, role=Role.MEMBER, at=T0)
    )


def test_ids_are_derived_case_insensitively() -> None:
    # rule ADR-2 (logins compare case-insensitively), ORG-1
    assert (
        register(login="Alice@Example.org").id == register(login="alice@example.ORG").id
    )
    assert Organisation.found("ACME", at=T0).id == Organisation.found("acme", at=T0).id


# -- replay equals live (any command sequence) ----------------------------------------

ACTIONS = ("ok", "wrong", "wrong", "logout", "password", "phone", "prefs", "send")


@dataclass(frozen=True)
class Step:
    """One command with everything it may need; ``pick`` chooses among what exists."""

    action: str
    gap: timedelta
    context: LoginContext
    pick: int
    phone: PhoneNumber
    preferences: NotificationPreferences
    ident: UUID


account_steps = st.builds(
    Step,
    action=st.sampled_from(ACTIONS),
    gap=gaps(max_seconds=600, strict=False),
    context=login_contexts(),
    pick=st.integers(0, 4),
    phone=st.sampled_from(PHONE_POOL),
    preferences=notification_preferences(),
    ident=st.uuids(),
)


def run(account: UserAccount, step: Step, at: datetime, policy: SecurityPolicy) -> None:
    sessions = sorted(account.active_sessions)
    keys = sorted(account.pending_alerts)
    chosen_session = sessions[step.pick] if step.pick < len(sessions) else step.ident
    match step.action:
        case "ok" | "wrong":
            attempt(
                account, step.context, success=step.action == "ok", at=at, policy=policy
            )
        case "logout":
            account.log_out(chosen_session, at=at)
        case "password":
            keep = sessions[step.pick] if step.pick < len(sessions) else None
            account.change_password(step.ident, keep_session=keep, at=at)
        case "phone":
            account.change_recovery_phone(step.phone, at=at)
        case "prefs":
            account.choose_notifications(step.preferences, at=at)
        case "send":
            key = keys[step.pick] if step.pick < len(keys) else "missing:0"
            account.record_alert_sent(key, at=at)


def drive(
    account: UserAccount, plan: list[Step], policy: SecurityPolicy
) -> Iterator[str]:
    """Run the plan; every refusal must leave the account untouched."""
    at = account.modified_on
    for step in plan:
        at += step.gap
        before = copy.deepcopy(account)
        refused: DomainError | None = None
        try:
            run(account, step, at, policy)
        except DomainError as e:
            refused = e
        if refused is None:
            yield step.action
        else:
            assert account == before, (step, refused)
            yield f"refused:{type(refused).__name__}"


Test = Callable[..., None]


def given_account_plans(max_steps: int) -> Callable[[Test], Test]:
    """Hypothesis draws a policy, a start and a plan of at most ``max_steps`` steps."""
    return given(
        policy=security_policies(),
        start=utc_datetimes(),
        plan=st.lists(account_steps, max_size=max_steps),
    )


def driven(
    policy: SecurityPolicy, start: datetime, plan: list[Step]
) -> tuple[UserAccount, list[str]]:
    """An account registered at ``start`` and driven through ``plan``, and the outcomes."""
    account = register(at=start)
    return account, list(drive(account, plan, policy))


@given_account_plans(60)
def test_replaying_the_stored_account_events_gives_the_live_account(
    policy: SecurityPolicy, start: datetime, plan: list[Step]
) -> None:
    account, outcomes = driven(policy, start, plan)
    event(f"refusals: {min(sum(o.startswith('refused') for o in outcomes), 3)}")
    events = list(account.collect_events())
    event(f"throttled: {any(type(e) is UserAccount.LoginThrottled for e in events)}")
    assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
    replayed = replay(through_mapper(events))
    assert isinstance(replayed, UserAccount)
    assert replayed == account
    assert replayed.pending_alerts == account.pending_alerts
    assert replayed.failure_window == account.failure_window
    assert replayed.recent_failures == account.recent_failures
    # Replay in two parts (as after a snapshot or a partial load) gives the same.
    half = len(events) // 2
    first = replay(through_mapper(events[:half]))
    assert replay(through_mapper(events[half:]), first) == account


@given(
    name=st.text(min_size=1, max_size=40).filter(
        lambda s: s.strip().isprintable() and bool(s.strip())
    ),
    start=utc_datetimes(),
    joins=st.lists(
        st.tuples(st.integers(0, 5), st.sampled_from(Role), gaps(strict=False)),
        max_size=20,
    ),
)
def test_replaying_the_stored_organisation_events_gives_the_live_one(
    name: str, start: datetime, joins: list[tuple[int, Role, timedelta]]
) -> None:
    # rule ORG-1
    try:
        org = Organisation.found(name, at=start)
    except InvalidInput:
        return
    members = [UUID(int=i + 1) for i in range(6)]
    at = start
    for index, role, gap in joins:
        at += gap
        admit = functools.partial(org.admit, members[index], role=role, at=at)
        if members[index] in org.members:
            assert_refused(org, AlreadyExists, admit)
        else:
            admit()
    events = list(org.collect_events())
    replayed = replay(through_mapper(events))
    assert replayed == org
    assert isinstance(replayed, Organisation)
    assert replayed.members == org.members


# -- SEC-3: every account event shows in the recent-activity list -----------------------


def test_every_account_event_class_is_in_the_activity_list() -> None:
    # rule SEC-3
    assert set(event_classes_of(UserAccount)) == set(ACTIVITY_EVENTS)


@given_account_plans(40)
def test_every_account_event_is_described(
    policy: SecurityPolicy, start: datetime, plan: list[Step]
) -> None:
    # rule SEC-3, ADV-5 (no link in what the user is shown)
    account, _ = driven(policy, start, plan)
    for stored in through_mapper(account.collect_events()):
        entry = describe(stored)
        assert entry is not None, stored
        assert entry.at == stored.timestamp
        assert "http" not in entry.detail
