"""Production shape: jobs through a real redis-server to real ``dramatiq`` processes."""

from __future__ import annotations

import time
from pathlib import Path

from tests.integration.support import LOGIN, PASSWORD, engine, event_count, with_user
from tests.integration.workerprocesses import DRAMATIQ_WORKERS, child
from tests.servers import RunningRedis, SmtpSink


def test_alerts_run_in_dramatiq_worker_processes_over_redis(
    tmp_path: Path, redis_server: RunningRedis, smtp: SmtpSink
) -> None:
    # rule SEC-1, rule SEC-4
    env = {
        "MAILHOST_HOME": str(tmp_path / "home"),
        "MAILHOST_BROKER_URL": redis_server.url,
        "MAILHOST_SMTP_URL": smtp.url,
    }
    with (
        child(DRAMATIQ_WORKERS, env, tmp_path / "workers.log") as workers,
        engine(tmp_path / "home", env) as e,
    ):
        with_user(e)
        e.host.accounts.login(LOGIN, PASSWORD, ip="192.0.2.10")
        e.host.accounts.change_password(LOGIN, PASSWORD, "another long passphrase")
        deadline = time.monotonic() + 60
        while len(smtp.messages) < 2 and time.monotonic() < deadline:
            assert workers.poll() is None, (tmp_path / "workers.log").read_text()
            time.sleep(0.1)
        e.host.settle(timeout=60)
        assert len(smtp.messages) == 2, (tmp_path / "workers.log").read_text()
        assert event_count(e, ".SecurityAlertSent") == 2
        assert e.jobs.unfinished(e.host.alerts.clock.now()) == 0
        assert {m.message["Subject"] for m in smtp.messages} == {
            "Security alert: new sign-in to your account",
            "Security alert: your account settings changed",
        }
