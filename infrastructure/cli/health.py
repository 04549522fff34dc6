"""``mailhost health [--json]``: is the engine healthy, as an exit status.

For a container's HEALTHCHECK or a systemd timer: 0 healthy, 1 unhealthy (a store
unreachable, a projection or the job backlog past its threshold). A store that does
not answer must not hang the check, so the readings run in a thread given
``--timeout`` seconds; what has not answered by then is unreachable.
"""

from __future__ import annotations

import argparse
import json
import threading
from typing import Any

import redis
from attrs import asdict, frozen

from infrastructure import health
from infrastructure.bootstrap import open_engine
from infrastructure.cli.arguments import JSON, Command, Subcommands, argument
from infrastructure.cli.output import Parser, say
from infrastructure.settings import Settings


@frozen
class Limits:
    lag_events: int
    lag_seconds: float
    job_age_seconds: float
    failed_jobs: int


def register(sub: Subcommands, common: Parser) -> None:
    Command(
        "health",
        "check the event store, the broker, projection lag and the job backlog",
        _health,
        (
            JSON,
            _limit("--max-lag-events", int, 1000, "events a projection may be behind"),
            _limit(
                "--max-lag-seconds", float, 60.0, "age of its oldest unapplied event"
            ),
            _limit(
                "--max-job-age", float, 600.0, "seconds the oldest due job may wait"
            ),
            _limit("--max-failed-jobs", int, 100, "jobs whose last attempt failed"),
            _limit("--timeout", float, 10.0, "seconds the stores have to answer"),
        ),
        example="mailhost health --json --max-lag-seconds 30",
    ).add_to(sub, common)


def _limit(name: str, kind: type, default: float, text: str) -> Any:  # noqa: ANN401 - argparse's argument
    return argument(
        name, type=kind, default=default, help=f"{text} (default {default})"
    )


def _health(args: argparse.Namespace) -> int:
    limits = Limits(
        args.max_lag_events,
        args.max_lag_seconds,
        args.max_job_age,
        args.max_failed_jobs,
    )
    report: dict[str, Any] = {}
    reader = threading.Thread(
        target=_read, args=(args.home, report), name="mailhost-health", daemon=True
    )
    reader.start()
    reader.join(args.timeout)
    if reader.is_alive():
        report.setdefault("event_store", {"ok": False, "error": "no answer in time"})
    problems = _problems(report, limits)
    report["healthy"] = not problems
    report["problems"] = problems
    if args.json:
        print(json.dumps(report, indent=2))  # noqa: T201 - the command's output
    else:
        say(_text(report))
    return 0 if not problems else 1


def _read(home: str | None, report: dict[str, Any]) -> None:
    """Fill ``report`` as the readings arrive (a timeout keeps what came)."""
    settings = Settings.from_env(home=home)
    report["broker"] = _broker(settings.broker_url)
    try:
        engine = open_engine(home, background=False)
    except Exception as e:  # noqa: BLE001 - unreachable is a reading, not a crash
        report["event_store"] = {"ok": False, "error": type(e).__name__}
        return
    try:
        report["projections"] = [asdict(lag) for lag in health.lags(engine.runner)]
        report["jobs"] = asdict(health.backlog(engine.jobs.database))
        report["event_store"] = {"ok": True, "position": engine.runner.log_position()}
    except Exception as e:  # noqa: BLE001 - as above
        report["event_store"] = {"ok": False, "error": type(e).__name__}
    finally:
        engine.close()


def _broker(url: str | None) -> dict[str, Any]:
    if url is None:
        return {"configured": False, "ok": True}
    try:
        client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
        client.ping()
        client.close()
    except redis.RedisError as e:
        return {"configured": True, "ok": False, "error": type(e).__name__}
    return {"configured": True, "ok": True}


def _problems(report: dict[str, Any], limits: Limits) -> list[str]:
    problems = [
        f"{name} unreachable ({report[name].get('error', '?')})"
        for name in ("event_store", "broker")
        if not report.get(name, {"ok": False}).get("ok")
    ]
    problems.extend(
        f"projection {lag['projection']} behind: {lag['events']} events,"
        f" {lag['seconds']:.0f} s"
        for lag in report.get("projections", ())
        if lag["events"] > limits.lag_events or lag["seconds"] > limits.lag_seconds
    )
    jobs = report.get("jobs")
    if jobs and jobs["oldest_seconds"] > limits.job_age_seconds:
        problems.append(f"oldest due job waiting {jobs['oldest_seconds']:.0f} s")
    if jobs and jobs["failed"] > limits.failed_jobs:
        problems.append(f"{jobs['failed']} jobs failing")
    return problems


def _text(report: dict[str, Any]) -> str:
    lines = ["healthy" if report["healthy"] else "UNHEALTHY"]
    lines += [f"  problem: {p}" for p in report["problems"]]
    store = report.get("event_store", {})
    if store.get("ok"):
        lines.append(f"  event store: ok (position {store['position']})")
    broker = report.get("broker", {})
    if broker.get("configured"):
        lines.append(f"  broker: {'ok' if broker.get('ok') else 'unreachable'}")
    for lag in report.get("projections", ()):
        lines.append(
            f"  {lag['projection']}: {lag['events']} events, {lag['seconds']:.1f} s behind"
        )
    jobs = report.get("jobs")
    if jobs:
        lines.append(
            f"  jobs: {jobs['due']} due, {jobs['in_flight']} in flight, {jobs['failed']}"
            f" failed, {jobs['retried']} retried, oldest {jobs['oldest_seconds']:.1f} s"
        )
    return "\n".join(lines)
