"""Several engine processes writing at once on PostgreSQL, on the same aggregates.

Four writer processes start at the same instant and run the same commands on the same
mail service, responder, mailbox and account; afterwards every invariant is checked
against the log itself (not the read models, not what the writers reported):

- an address is claimed once (ADR-1), and never more than the quota (ADR-2);
- one message is active at a time: each activation names as deactivated the one
  active before it, so none was decided on a stale aggregate (RSP-1);
- one auto-reply per sender and window, however many deliveries race (RSP-4, RSP-9);
- one failed-login alert per account and window, with every failure counted (SEC-2).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from application.authorization import OPERATOR
from domain.account import UserAccount
from domain.autoreply import AutoReply
from domain.mailservice import MailService
from domain.replywindow import ReplyWindow
from domain.responder import AutoResponder
from infrastructure.bootstrap import Engine
from tests.integration import concurrentwriter as writer
from tests.integration.support import ORG, engine, with_user
from tests.integration.workerprocesses import REPO

WRITERS = 4
QUOTA = 6
KEY = "ab" * 32  # one secret key for every writer (a shared home would race to make it)


def _setup(e: Engine) -> None:
    with_user(e, writer.TARGET)
    e.host.services.create(ORG, writer.DOMAIN, quota=QUOTA, by=OPERATOR)
    e.host.addresses.create_unassigned(writer.INFO, by=OPERATOR)
    for message in writer.MESSAGES:
        e.host.responders.add(writer.INFO, message, body="Away.", by=OPERATOR)
    e.host.responders.activate(writer.INFO, writer.MESSAGES[0], by=OPERATOR)


def _events(e: Engine) -> list[object]:
    notifications = e.host.log.recorder.select_notifications(start=1, limit=1_000_000)
    return [e.host.log.mapper.to_domain_event(n) for n in notifications]


def _run_writers(env: dict[str, str], folder: Path) -> list[dict[str, int]]:
    start_at = time.time() + 4  # after every interpreter has imported the engine
    argv = [sys.executable, "-m", "tests.integration.concurrentwriter"]
    procs = [
        subprocess.Popen(
            [*argv, str(n), str(start_at)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=(folder / f"writer{n}.log").open("wb"),
        )
        for n in range(WRITERS)
    ]
    results = []
    for n, proc in enumerate(procs):
        out, _ = proc.communicate(timeout=240)
        log = (folder / f"writer{n}.log").read_text(errors="replace")
        assert proc.returncode == 0, log
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    return results


def test_concurrent_writers_on_postgres_keep_every_invariant(
    tmp_path: Path, postgres_env: dict[str, str]
) -> None:
    # rule ADR-1, rule ADR-2, rule RSP-1, rule RSP-4, rule RSP-9, rule SEC-2
    import os  # noqa: PLC0415 - only the writers' environment needs it

    env = {
        **os.environ,
        **postgres_env,
        "MAILHOST_HOME": str(tmp_path / "home"),
        "MAILHOST_SECRET_KEY": KEY,
    }
    with engine(tmp_path / "home", env, background=False) as e:
        _setup(e)
        results = _run_writers(env, tmp_path)
        events = _events(e)
    outcomes = sum((Counter(r) for r in results), Counter())

    claimed = [
        entry.key
        for event in events
        if isinstance(event, MailService.AddressesClaimed)
        for entry in event.entries
    ]
    assert len(claimed) == len(set(claimed)), Counter(claimed)
    assert len(claimed) == QUOTA  # the writers asked for more; the quota filled exactly
    assert outcomes["create:ok"] == QUOTA - 1  # INFO was the first

    active = None
    activations = [e for e in events if isinstance(e, AutoResponder.MessageActivated)]
    for activation in activations:
        assert activation.deactivated == active
        active = activation.name_key
    assert len(activations) == 1 + outcomes["activate:ok"]

    # The window is per message and sender: one reply for each message that was
    # active while the deliveries raced, never two in one window.
    windows = Counter(
        (ev.originator_id, ev.generation)
        for ev in events
        if isinstance(ev, ReplyWindow.ReplySent)
    )
    assert set(windows.values()) == {1}, windows
    decided = sum(isinstance(ev, AutoReply.Decided) for ev in events)
    assert decided == len(windows) == outcomes["reply:True"] <= len(writer.MESSAGES)

    failures = [ev for ev in events if isinstance(ev, UserAccount.LoginFailed)]
    assert len(failures) == WRITERS * writer.ROUNDS == outcomes["login:LoginRefused"]
    assert len({f.alert_key for f in failures if f.alert_key}) == 1
