"""The log is the outbox: jobs survive a crash before hand-off; duplicates act once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dramatiq

from application.jobs import SEND_SECURITY_ALERT
from infrastructure.bootstrap import Engine
from tests.integration.support import LOGIN, PASSWORD, engine, event_count, with_user
from tests.servers import SmtpSink
from workers.broker import QUEUE

CRASHING_LOGIN = textwrap.dedent(
    """
    import os, sys
    from infrastructure.bootstrap import open_engine
    from tests.integration.support import with_user, LOGIN, PASSWORD
    e = open_engine(sys.argv[1], {"MAILHOST_SMTP_URL": sys.argv[2]}, background=False)
    with_user(e)
    e.host.accounts.login(LOGIN, PASSWORD, ip="192.0.2.10", user_agent="Firefox")
    os._exit(9)  # dies right after the commit: no projection, no relay, no clean-up
    """
)


def test_job_is_sent_after_a_crash_between_commit_and_enqueue(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    # rule SEC-1 (the alert is not lost to a crash)
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHING_LOGIN, str(tmp_path), smtp.url],
        check=False,
        capture_output=True,
        timeout=120,
    )
    assert crashed.returncode == 9, crashed.stderr.decode()
    assert smtp.messages == []
    with engine(tmp_path, {"MAILHOST_SMTP_URL": smtp.url}) as e:
        e.host.settle()
        assert len(smtp.wait_for(1)) == 1
        assert event_count(e, ".SecurityAlertSent") == 1


def test_job_recorded_but_not_handed_over_is_handed_over_after_restart(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    env = {"MAILHOST_SMTP_URL": smtp.url}
    with engine(tmp_path, env, background=False) as e:
        with_user(e)
        e.host.accounts.login(LOGIN, PASSWORD, ip="192.0.2.10")
        e.runner.catch_up()
        now = e.host.alerts.clock.now()
        # As if handed to the in-memory broker of a process that then died.
        [job] = e.jobs.hand_over(now, wall=time.time(), lease=1.0)
        assert job.actor == SEND_SECURITY_ALERT
        # Another relay leaves a job that is handed over alone while the lease stands.
        assert e.jobs.hand_over(now, wall=time.time(), lease=1.0) == []
    with engine(tmp_path, env) as e:
        e.host.settle()
    assert len(smtp.wait_for(1)) == 1


def test_a_message_delivered_twice_has_its_effect_once(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    with engine(tmp_path, {"MAILHOST_SMTP_URL": smtp.url}) as e:
        with_user(e)
        e.host.accounts.login(LOGIN, PASSWORD, ip="192.0.2.10")
        e.host.settle()
        assert len(smtp.wait_for(1)) == 1
        [row] = _job_rows(e)
        assert e.relay is not None
        for _ in range(2):  # the broker redelivers, twice
            e.relay.broker.enqueue(
                dramatiq.Message(
                    queue_name=QUEUE,
                    actor_name=row[1],
                    args=tuple(row[2]),
                    kwargs={},
                    options={},
                    message_id=row[0],
                )
            )
        e.host.settle()
        account = e.host.accounts.get(LOGIN)
        assert e.host.alerts.send(account.id, row[2][1]) is False
    assert len(smtp.messages) == 1
    assert account.pending_alerts == {}


def _job_rows(e: Engine) -> list[tuple[str, str, list[str]]]:
    with e.jobs.database.transaction() as cursor:
        cursor.execute(
            "SELECT job_id, actor, args FROM mh_jobs WHERE done_at IS NOT NULL"
        )
        return [(r[0], r[1], json.loads(r[2])) for r in cursor.fetchall()]
