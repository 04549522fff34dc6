"""``mailhost health`` as a container check, ``mailhost run PART`` as a service, metrics.

The commands run as real processes on a real engine home; the exit status is what a
container runtime or systemd reads.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.integration.faultsupport import MAILHOST
from tests.integration.support import LOGIN, PASSWORD, engine, process_env, with_user
from tests.integration.workerprocesses import REPO
from tests.servers import RunningRedis, SmtpSink
from tests.servers.process import free_port


def _mailhost(
    env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    import os  # noqa: PLC0415 - the child's environment only

    return subprocess.run(
        [*MAILHOST, *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_health_is_zero_when_caught_up_and_one_when_behind(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    env = process_env(tmp_path / "home", smtp)
    with engine(tmp_path / "home", env, background=False) as e:
        with_user(e)
        e.runner.catch_up()
        e.drain()
    healthy = _mailhost(env, "health", "--json")
    assert healthy.returncode == 0, healthy.stderr
    report = json.loads(healthy.stdout)
    assert report["healthy"]
    assert report["event_store"]["ok"]
    assert {lag["projection"] for lag in report["projections"]} >= {"job_schedule"}
    assert report["jobs"]["due"] == 0
    with engine(tmp_path / "home", env, background=False) as e:
        e.host.accounts.login(LOGIN, PASSWORD, ip="192.0.2.10")  # not projected yet
    behind = _mailhost(env, "health", "--max-lag-events", "0")
    assert behind.returncode == 1
    assert "UNHEALTHY" in behind.stdout
    assert "behind" in behind.stdout


def test_health_says_an_unreachable_broker_is_unhealthy(tmp_path: Path) -> None:
    env = {
        "MAILHOST_HOME": str(tmp_path / "home"),
        "MAILHOST_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0",
    }
    result = _mailhost(env, "health", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["broker"] == {
        "configured": True,
        "ok": False,
        "error": "ConnectionError",
    }


def _scrape(port: int, deadline: float) -> str:
    while True:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/metrics", timeout=5
            ) as r:
                return str(r.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_run_serves_metrics_and_stops_cleanly_on_sigterm(
    tmp_path: Path, smtp: SmtpSink, redis_server: RunningRedis
) -> None:
    import os  # noqa: PLC0415 - as above

    env = process_env(
        tmp_path / "home", smtp, {"MAILHOST_BROKER_URL": redis_server.url}
    )
    with engine(tmp_path / "home", env, background=False) as e:
        with_user(e)
    port = free_port()
    process = subprocess.Popen(
        [*MAILHOST, "run", "relay", "--metrics", str(port), "--log-format", "json"],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        metrics = _scrape(port, time.monotonic() + 30)
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert 'mailhost_projection_lag_events{projection="job_schedule"}' in metrics
    assert 'mailhost_jobs{state="due"}' in metrics
    assert "mailhost_jobs_oldest_due_seconds" in metrics
    logged = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any("following the log" in entry["message"] for entry in logged), err
    assert PASSWORD not in err
