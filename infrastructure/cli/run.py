"""``mailhost run [projections|relay]``: the long-running processes that follow the log.

``mailhost run`` alone keeps the read models, hands jobs over and (embedded) runs them,
all in one process. Split, ``run projections`` keeps the read models and the job
schedule, and ``run relay`` keeps the job schedule too and hands due jobs to the
``dramatiq`` workers: any number of either, each resuming from the stored positions
(read models and their position commit in one transaction; a hand-over is a lease in
the job table), so a kill -9 loses or repeats nothing. On PostgreSQL each steps when
the log notifies a commit (``run projections`` 50 ms later, over the commits come
meanwhile) and every half second regardless, not on a poll. SIGTERM
stops a process cleanly: the step in progress finishes first.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from eventsourcing.postgres import PostgresApplicationRecorder

from infrastructure.bootstrap import Engine, Follow, open_engine
from infrastructure.cli.arguments import Command, Subcommands, argument
from infrastructure.cli.output import Parser, say
from infrastructure.jsonlog import configure
from infrastructure.metrics import listen_address, serve
from infrastructure.pgwakeup import PgWakeup
from infrastructure.settings import Settings
from workers.heap import freeze_startup

log = logging.getLogger(__name__)

# ``run projections`` steps this long after a commit's notification, over every commit
# come meanwhile: the read models a few tens of milliseconds later, one step per burst
# of commits rather than one each, and the job schedule (which it keeps too, a standby)
# left to the relay woken by the same notification. Measured in the scale benchmark, a
# job the projections process scheduled first took twice as long to start: the relay
# waited on its transaction, then handed the job over from the table.
PROJECTIONS_GATHER_S = 0.05

PARTS: dict[str, Follow] = {
    "all": "all",
    "projections": "projections",
    "relay": "relay",
}


def register(sub: Subcommands, common: Parser) -> None:
    Command(
        "run",
        "follow the log (projections, job relay; embedded: workers) until stopped",
        _run,
        (
            argument(
                "part",
                nargs="?",
                default="all",
                choices=tuple(PARTS),
                help="only the read models (projections) or only the job relay (relay)",
            ),
            argument(
                "--metrics",
                metavar="[HOST:]PORT",
                help="serve Prometheus metrics there (a bare port: 127.0.0.1)",
            ),
            argument(
                "--log-format",
                choices=("text", "json"),
                help="log lines as text or one JSON object each"
                " (default: $MAILHOST_LOG_FORMAT or text)",
            ),
        ),
        example="MAILHOST_BROKER_URL=redis://127.0.0.1:6379/0 mailhost run relay"
        " --metrics 9464",
    ).add_to(sub, common)


def _run(args: argparse.Namespace) -> int:
    """The engine's own thread does the work; this one waits for SIGTERM or Ctrl-C."""
    address = listen_address(args.metrics) if args.metrics else None
    settings = Settings.from_env(home=args.home)
    configure(args.log_format or settings.log_format)
    stopping = threading.Event()
    _on_signals(stopping.set)
    part = PARTS[args.part]
    engine = open_engine(args.home, follow=part)
    _wake_on_commits(engine)
    freeze_startup()  # no full collection walks the engine again (workers.heap)
    stop_metrics: Callable[[], None] | None = None
    try:
        if address is not None:
            stop_metrics = serve(engine, address)
        log.info("mailhost run %s: following the log", part)
        say(
            f"following the log in {engine.settings.home} ({part}; Ctrl-C to stop)",
            err=True,
        )
        stopping.wait()
        log.info("mailhost run %s: stopping", part)
    finally:
        if stop_metrics is not None:
            stop_metrics()
        engine.close()
    return 0


def _wake_on_commits(engine: Engine) -> None:
    """On PostgreSQL, the engine's thread steps on each commit to the log, not on a poll.

    eventsourcing's recorder notifies its channel in every insert; SQLite has no such
    thing, so there the thread polls.
    """
    recorder = engine.runner.log.recorder
    if engine.relay is not None and isinstance(recorder, PostgresApplicationRecorder):
        gather = PROJECTIONS_GATHER_S if not engine.relay.hands_over else 0.0
        engine.relay.wake_on(
            PgWakeup(recorder, (recorder.channel_name,), gather=gather)
        )


def _on_signals(stop: Callable[[], None]) -> None:
    """SIGTERM (systemd, a container runtime) and SIGINT end the wait, not the process."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
