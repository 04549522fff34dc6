"""Login commands per second, next to a raw eventsourcing command on the same machine.

A login is the engine's hottest command: it loads the account, checks the password
(argon2id, 19 MiB, t=2), stores a session digest and saves one event. The raw baseline
does get + one event + save with eventsourcing's defaults on a SQLite file; argon2id
verification is timed alone too, so the figures show what is hashing and what is not.
"""

from __future__ import annotations

import hmac
import math
import secrets
import statistics
import time
from dataclasses import dataclass, field
from uuid import uuid4

import attrs

from application.accounts import Accounts, LoginRefused
from application.authorization import OPERATOR
from application.host import MailHost
from application.ports import PasswordHasher
from benchmarks._core import (
    Options,
    Report,
    Sample,
    group,
    interleaved,
    ratio,
    scratch_engine,
)
from benchmarks._raw import RawCommands, RawLog, open_raw_log
from domain.account import UserAccount

ACCOUNTS = 20  # at least; more when a run is long, see GROWTH
DEVICES = 3  # per account: logins rotate over devices the account already knows
# A command replays the account's history (since its last snapshot, if the log takes
# any), so a login gets slower as the account grows. A long run spreads its commands
# over more accounts: each account (and each raw aggregate) gains about this many
# events in any run, so quick and full runs measure the same thing. It also keeps the
# failures per account (about half of it) far below the throttle (100 an hour), so
# every failed attempt takes the full path.
GROWTH = 30
# The cost of history itself: one account and one raw aggregate with this many events
# (the raw one on eventsourcing's defaults, so without snapshots).
LONG_HISTORY = 500
ORGANISATION = "Benchmark Org"
USER_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148",
    "Thunderbird/128.2.0",
)


class StubHasher:
    """argon2id taken out: one real hash handed out, and a constant-time compare.

    Used to set accounts up quickly, and to time a login without its hash directly.
    Every account gets the same real encoded hash, so the real hasher verifies it at
    full cost.
    """

    def __init__(self, real: PasswordHasher, password: str, encoded: str) -> None:
        self._real = real
        self._password = password.encode()
        self._encoded = encoded

    def hash(self, password: str) -> str:
        if not hmac.compare_digest(password.encode(), self._password):
            raise ValueError("the stub hasher knows one password")
        return self._encoded

    def hash_generated(self, password: str) -> str:
        return self._real.hash_generated(password)

    def verify(self, encoded: str, password: str) -> bool:
        return encoded == self._encoded and hmac.compare_digest(
            password.encode(), self._password
        )

    def verify_dummy(self, password: str) -> None:
        hmac.compare_digest(password.encode(), self._password)


@dataclass
class Laps:
    """Durations of single commands, each paired with the verification just before it.

    Pairing per command (rather than per round) keeps a burst of load on the machine
    from landing on one side of the subtraction only.
    """

    command: list[float] = field(default_factory=list)
    verify: list[float] = field(default_factory=list)

    def rounds(self, size: int, *, skip: int = 1) -> tuple[Sample, Sample]:
        """Per-round samples of the commands and of the verifications (warm-up skipped)."""

        def chunks(laps: list[float]) -> list[list[float]]:
            return [laps[i : i + size] for i in range(skip * size, len(laps), size)]

        return Sample.from_laps(chunks(self.command)), Sample.from_laps(
            chunks(self.verify)
        )

    def minus_hash_per_s(self, *, skip: int) -> float:
        """Commands per second with one verification taken out, median over commands."""
        rest = statistics.median(
            c - v for c, v in zip(self.command[skip:], self.verify[skip:], strict=True)
        )
        return 1 / rest if rest > 0 else math.nan


@dataclass
class Account:
    login: str
    device_tokens: list[str]

    @staticmethod
    def ip(index: int, device: int) -> str:
        # One network per device of each account (home, mobile, office).
        return f"81.{20 + device}.{index % 250}.{10 + index // 250}"


class LoginWorkload:
    """Accounts with known devices, and batches of login commands rotating over them."""

    def __init__(self, host: MailHost, accounts: int) -> None:
        self.host = host
        self.password = secrets.token_urlsafe(18)
        self.wrong_password = secrets.token_urlsafe(18)
        self.real = host.accounts
        self.encoded = self.real.hasher.hash(self.password)
        self.stub = attrs.evolve(
            self.real, hasher=StubHasher(self.real.hasher, self.password, self.encoded)
        )
        host.organisations.found(ORGANISATION, by=OPERATOR)
        self.accounts = [self.add(f"user{i}@bench.example", i) for i in range(accounts)]
        self._turns: dict[str, int] = {}

    def add(self, login: str, index: int) -> Account:
        self.stub.register(ORGANISATION, login, self.password, by=OPERATOR)
        account = Account(login, [])
        for device in range(DEVICES):
            # First login from each device: the device and its network become known.
            result = self.stub.login(
                login,
                self.password,
                ip=Account.ip(index, device),
                user_agent=USER_AGENTS[device],
            )
            account.device_tokens.append(result.device_token)
        return account

    def _turn(self, case: str) -> tuple[int, int]:
        """The next (account, device) of a case: every account, then the next device."""
        n = self._turns.get(case, 0)
        self._turns[case] = n + 1
        return n % len(self.accounts), (n // len(self.accounts)) % DEVICES

    def logins(self, size: int, *, accounts: Accounts, case: str) -> int:
        for _ in range(size):
            index, device = self._turn(case)
            self.login(accounts, index, device, self.password)
        return size

    def failures(self, size: int, *, accounts: Accounts, case: str) -> int:
        for _ in range(size):
            index, device = self._turn(case)
            try:
                self.login(accounts, index, device, self.wrong_password)
            except LoginRefused:
                continue
            raise RuntimeError("a login with the wrong password succeeded")
        return size

    def login(self, accounts: Accounts, index: int, device: int, password: str) -> None:
        self.login_to(accounts, self.accounts[index], index, device, password)

    @staticmethod
    def login_to(
        accounts: Accounts, account: Account, index: int, device: int, password: str
    ) -> None:
        accounts.login(
            account.login,
            password,
            ip=Account.ip(index, device),
            user_agent=USER_AGENTS[device],
            device_token=account.device_tokens[device],
        )

    def paired(self, size: int, *, password: str, laps: Laps, case: str) -> int:
        """Real logins, each timed next to an argon2id verification just before it."""
        hasher = self.real.hasher
        for _ in range(size):
            index, device = self._turn(case)
            start = time.perf_counter()
            verified = hasher.verify(self.encoded, self.password)
            middle = time.perf_counter()
            try:
                self.login(self.real, index, device, password)
            except LoginRefused:
                refused = True
            else:
                refused = False
            end = time.perf_counter()
            if not verified or refused != (password != self.password):
                raise RuntimeError(f"a {case} command had the wrong outcome")
            laps.verify.append(middle - start)
            laps.command.append(end - middle)
        return size

    def events_per_account(self) -> float:
        return statistics.mean(self.real.get(a.login).version for a in self.accounts)


class LongHistory:
    """One account and one raw aggregate with LONG_HISTORY events each.

    Its logins use the stub hasher: a history's cost is a few milliseconds, which
    argon2id's noise would hide.
    """

    def __init__(self, workload: LoginWorkload, raw_log: RawLog) -> None:
        self.workload = workload
        index = len(workload.accounts)
        self.account = workload.add("long-history@bench.example", index)
        self.index = index
        log = workload.host.log
        account_id = workload.real.get(self.account.login).id
        contexts = [
            e.context
            for e in log.repository.event_store.get(account_id)
            if isinstance(e, UserAccount.LoggedIn)
        ]
        account = log.load(account_id, UserAccount, "account")
        clock, policy = workload.real.clock, workload.real.policy
        while account.version < LONG_HISTORY:
            # Sessions opened and closed, from the devices the account knows.
            if account.active_sessions:
                account.log_out(min(account.active_sessions), at=clock.now())
            else:
                context = contexts[account.version % len(contexts)]
                account.log_in(uuid4(), context, at=clock.now(), policy=policy)
        log.save(account)
        self.raw = RawCommands(raw_log, 1)
        self.raw.seed(LONG_HISTORY - 1)
        self._turn = 0

    def logins(self, size: int) -> int:
        for _ in range(size):
            device = self._turn % DEVICES
            self._turn += 1
            self.workload.login_to(
                self.workload.stub,
                self.account,
                self.index,
                device,
                self.workload.password,
            )
        return size


@group("login", "login commands/s through host.accounts.login vs a raw event/s")
def run(options: Options, report: Report) -> None:
    rounds = options.pick_rounds(quick=5, full=9)
    per_round = 20 if options.quick else 60
    long_per_round = 10 if options.quick else 20
    # Cases that add an event to an account: login and failed, real and stub.
    mutating = 4
    added = (rounds + 1) * per_round * mutating  # the warm-up round included
    accounts = max(ACCOUNTS, math.ceil(added / GROWTH))
    with scratch_engine("login") as (root, engine):
        raw_log = open_raw_log(root / "raw.sqlite")
        try:
            workload = LoginWorkload(engine.host, accounts)
            long = LongHistory(workload, raw_log)
            raw = RawCommands(raw_log, accounts)
            raw.seed(round(workload.events_per_account()) - 1)
            before = workload.events_per_account()
            stub = workload.stub
            logins, failures = Laps(), Laps()
            samples = interleaved(
                {
                    "login": lambda: workload.paired(
                        per_round, password=workload.password, laps=logins, case="login"
                    ),
                    "failed": lambda: workload.paired(
                        per_round,
                        password=workload.wrong_password,
                        laps=failures,
                        case="failed",
                    ),
                    "stub_login": lambda: workload.logins(
                        per_round, accounts=stub, case="stub_login"
                    ),
                    "stub_failed": lambda: workload.failures(
                        per_round, accounts=stub, case="stub_failed"
                    ),
                    # As many events per raw aggregate as the accounts get per round.
                    "raw": lambda: raw.batch(per_round * mutating),
                    "long_login": lambda: long.logins(long_per_round),
                    "long_raw": lambda: long.raw.batch(long_per_round),
                },
                rounds=rounds,
            )
            after = workload.events_per_account()
        finally:
            raw_log.close()
    report.note(
        f"SQLite, embedded defaults; {accounts} accounts x {DEVICES} known devices, "
        f"{before:.0f} -> {after:.0f} events each (raw aggregates alike); {rounds} "
        f"interleaved rounds of {per_round} commands per case"
    )
    _report(report, samples, logins, failures, per_round)


def each(sample: Sample) -> str:
    return f"{sample.median_seconds * 1000:.2f} ms each, {sample.spread()}"


def _report(
    report: Report,
    samples: dict[str, Sample],
    logins: Laps,
    failures: Laps,
    per_round: int,
) -> None:
    # The paired cases time their commands themselves; their first round is warm-up.
    login, login_verify = logins.rounds(per_round)
    failed, failed_verify = failures.rounds(per_round)
    verify = Sample(
        login_verify.rates + failed_verify.rates,
        login_verify.seconds_per_op + failed_verify.seconds_per_op,
    )
    rest = logins.minus_hash_per_s(skip=per_round)
    failed_rest = failures.minus_hash_per_s(skip=per_round)
    raw = samples["raw"]
    report.figure("login_per_s", login.median, "/s", each(login))
    report.figure("failed_login_per_s", failed.median, "/s", each(failed))
    report.figure(
        "argon2_verify_per_s",
        verify.median,
        "/s",
        "each just before a login or failed login; " + each(verify),
    )
    report.figure("raw_event_per_s", raw.median, "/s", each(raw))
    report.figure("login_vs_raw_ratio", ratio(login.median, raw.median), "x")
    report.figure("failed_login_vs_raw_ratio", ratio(failed.median, raw.median), "x")
    report.figure(
        "login_minus_hash_per_s",
        rest,
        "/s",
        f"{1000 / rest:.2f} ms of a login is not argon2id (median over commands)",
    )
    report.figure("login_minus_hash_vs_raw_ratio", ratio(rest, raw.median), "x")
    report.figure("failed_login_minus_hash_per_s", failed_rest, "/s")
    report.figure(
        "failed_login_minus_hash_vs_raw_ratio", ratio(failed_rest, raw.median), "x"
    )
    _report_stubs(report, samples)


def _report_stubs(report: Report, samples: dict[str, Sample]) -> None:
    """The cases with argon2id replaced by a compare: what the engine itself costs."""
    raw = samples["raw"]
    stub_login, stub_failed = samples["stub_login"], samples["stub_failed"]
    report.figure(
        "login_stub_hash_per_s",
        stub_login.median,
        "/s",
        "argon2id replaced by a compare, timed directly; " + each(stub_login),
    )
    report.figure(
        "login_stub_hash_vs_raw_ratio", ratio(stub_login.median, raw.median), "x"
    )
    report.figure(
        "failed_login_stub_hash_per_s", stub_failed.median, "/s", each(stub_failed)
    )
    report.figure(
        "failed_login_stub_hash_vs_raw_ratio",
        ratio(stub_failed.median, raw.median),
        "x",
    )
    long_login, long_raw = samples["long_login"], samples["long_raw"]
    report.figure(
        "long_history_events", LONG_HISTORY, "events", "one account, one aggregate"
    )
    report.figure(
        "long_history_login_stub_hash_per_s", long_login.median, "/s", each(long_login)
    )
    report.figure("long_history_raw_event_per_s", long_raw.median, "/s", each(long_raw))
    report.figure(
        "long_history_login_stub_hash_vs_raw_ratio",
        ratio(long_login.median, long_raw.median),
        "x",
    )
