"""Tamper evidence: how fast a log verifies, and what linking it costs the write path.

``verify_events_per_s``: a seeded log (the projection group's mix of logins, failures
and security changes) is linked, then verified from position 0 again and again, as an
auditor's ``mailhost audit verify`` reads it: stored bytes, page by page.

``chain_write_overhead``: commands saved one per transaction, each case on its own
fresh log; the chained case also runs the follower inline every few commands (as the
relay thread would between them), so its work is inside the timing. The ratio is the
plain case's rate over the chained case's (goal <= 1.1).

``rebuild_vs_raw_ratio`` comes from ``benchmarks._auditrebuild`` (read models rebuilt
against a raw read and decode of the same log), printed here when that module exists.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

from benchmarks._core import Options, Report, group, interleaved, ratio, scratch_engine
from benchmarks.projection import START, LogSeeder
from domain.account import UserAccount
from domain.security import LoginContext, SecurityPolicy
from infrastructure.bootstrap import Engine
from infrastructure.chain import ChainedRunner, EventTable, HashChain
from infrastructure.chainverify import verify

LINK_EVERY = 10  # commands between the follower's runs in the chained case
STEP = timedelta(seconds=7)


def _chain(engine: Engine) -> HashChain:
    if not isinstance(engine.runner, ChainedRunner):
        raise TypeError("the engine keeps no hash chain")
    return engine.runner.chain


class Commands:
    """Single-command transactions on a few accounts: the write path a user drives."""

    def __init__(self, engine: Engine, accounts: int, *, chained: bool) -> None:
        self.log = engine.host.log
        self.chain = _chain(engine) if chained else None
        self.rng = random.Random(7)
        self.policy = SecurityPolicy()
        self.step = 0
        self.accounts: list[UserAccount] = LogSeeder(self.log, accounts).accounts
        if self.chain is not None:
            self.chain.catch_up()

    def run(self, count: int) -> int:
        for i in range(count):
            account = self.rng.choice(self.accounts)
            self.step += 1
            context = LoginContext(
                device=f"{self.rng.getrandbits(64):016x}",
                network="81.20.1.0/24",
                place="Lyon, FR",
                user_agent="Thunderbird/128.2.0",
            )
            at = START + self.step * STEP
            if self.step % 4:
                account.fail_login(context, at=at, policy=self.policy)
            else:
                account.log_in(uuid4(), context, at=at, policy=self.policy)
            self.log.save(account)
            if self.chain is not None and i % LINK_EVERY == LINK_EVERY - 1:
                self.chain.catch_up()
        if self.chain is not None:
            self.chain.catch_up()
        return count


def _verify_figures(options: Options, report: Report, rounds: int) -> None:
    events = 3_000 if options.quick else 20_000
    with scratch_engine("audit-verify") as (_, engine):
        LogSeeder(engine.host.log, 100 if options.quick else 400).write(events)
        chain = _chain(engine)
        chain.catch_up()
        table = EventTable.of(engine.host.log.recorder)
        public = chain.checkpoints.key.public() if chain.checkpoints else None

        def check() -> int:
            verdict = verify(chain.database, table, public)
            if not verdict.intact:
                raise RuntimeError(
                    f"the benchmark's log does not verify: {verdict.first}"
                )
            return verdict.events

        samples = interleaved({"verify": check}, rounds=rounds)
        linked = chain.position()
    report.note(f"{linked} linked events (SQLite), {rounds} rounds")
    sample = samples["verify"]
    report.figure("verify_events_per_s", sample.median, "/s", sample.spread())


def _overhead_figures(options: Options, report: Report, rounds: int) -> None:
    count = 300 if options.quick else 1_000
    with (
        scratch_engine("audit-plain") as (_, plain_engine),
        scratch_engine("audit-chained") as (_, chained_engine),
    ):
        plain = Commands(plain_engine, 50, chained=False)
        chained = Commands(chained_engine, 50, chained=True)
        samples = interleaved(
            {"plain": lambda: plain.run(count), "chained": lambda: chained.run(count)},
            rounds=rounds,
        )
    report.figure(
        "command_plain_per_s", samples["plain"].median, "/s", samples["plain"].spread()
    )
    report.figure(
        "command_chained_per_s",
        samples["chained"].median,
        "/s",
        f"follower every {LINK_EVERY} commands; " + samples["chained"].spread(),
    )
    report.figure(
        "chain_write_overhead",
        ratio(samples["plain"].median, samples["chained"].median),
        "x",
        "plain rate over chained rate (goal <= 1.1)",
    )


def _rebuild_figures(options: Options, report: Report) -> None:
    """Helper H's figures; a failure there fails the group, naming the module."""
    try:
        module = importlib.import_module("benchmarks._auditrebuild")
    except ModuleNotFoundError as e:
        if e.name != "benchmarks._auditrebuild":
            raise
        report.note("benchmarks._auditrebuild is not there: no rebuild_vs_raw_ratio")
        return
    rebuild: Callable[[Options], list[tuple[str, float, str]]] = module.rebuild_figures
    try:
        figures = rebuild(options)
    except Exception as e:
        raise RuntimeError(
            f"benchmarks._auditrebuild.rebuild_figures failed: {e!r}"
        ) from e
    for name, value, unit in figures:
        report.figure(name, value, unit)


@group("audit", "tamper evidence: verify events/s, chain write overhead, rebuild")
def run(options: Options, report: Report) -> None:
    rounds = options.pick_rounds(quick=3, full=7)
    _verify_figures(options, report, rounds)
    _overhead_figures(options, report, rounds)
    _rebuild_figures(options, report)
