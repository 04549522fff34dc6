"""The LMTP listener's reply sender: the engine's relay and workers in a second process.

Apart from the decisions, the reply jobs cost as much CPU again (the schedule followed,
the reply composed, the SMTP dialogue, the reply marked sent). In the listener's own
process they would hold its interpreter lock while a decision waits for it; in a
process of their own they never do. Nothing changes in how a job runs: the sender
opens an engine with its relay, which follows the log, schedules the jobs and claims
each once (``projections.jobs``), exactly as the listener's own relay would have.

The sender (``infrastructure.cli.lmtp.run_sender``) stops when its standard input
closes: when the listener asks it to, or when the listener is gone (it never outlives
it). It says ``ready`` on standard output once its engine is open. A sender that
dies is started again after a pause; its jobs stay due meanwhile and nothing is lost,
as a claim it held expires and is taken again.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from pathlib import Path

log = logging.getLogger("mailhost.lmtp")

READY = b"ready\n"
CODE = "from infrastructure.cli.lmtp import run_sender; run_sender()"
START_TIMEOUT_S = 120.0
RESTART_PAUSE_S = (1.0, 30.0)  # first pause and the longest one between restarts


class SenderError(OSError):
    """The sender could not open its engine (the store, the configuration)."""


class Sender:
    """The sender process, started again whenever it dies until :meth:`stop`."""

    def __init__(self, home: Path | None, settle_s: float, exit_s: float) -> None:
        self.argv = [sys.executable, "-c", CODE, *([str(home)] if home else [])]
        self.settle_s = settle_s
        self.exit_s = exit_s
        self._stopping = threading.Event()
        self._proc = self._spawn()
        self._watch: threading.Thread | None = None

    def start(self) -> None:
        """Wait until the first sender has its engine open, then keep one running."""
        if not _ready(self._proc):
            code = self._proc.wait()
            msg = f"the reply sender could not start (exit {code})"
            raise SenderError(msg)
        self._watch = threading.Thread(
            target=self._keep_running, name="mailhost-sender", daemon=True
        )
        self._watch.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and code
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )

    def _keep_running(self) -> None:
        pause = RESTART_PAUSE_S[0]
        while True:
            code = self._proc.wait()
            if self._stopping.is_set():
                return
            log.warning("the reply sender exited %d: starting it again", code)
            if self._stopping.wait(pause):
                return
            pause = min(pause * 2, RESTART_PAUSE_S[1])
            self._proc = self._spawn()
            if _ready(self._proc):
                pause = RESTART_PAUSE_S[0]

    def stop(self) -> None:
        """Ask the sender to settle and exit; past its time it is killed (its pid)."""
        self._stopping.set()
        proc = self._proc
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            code = proc.wait(self.settle_s + self.exit_s)
        except subprocess.TimeoutExpired:
            log.warning(
                "the reply sender did not stop in time: killed, its jobs stay due"
            )
            proc.kill()
            proc.wait()
            return
        finally:
            if proc.stdout is not None:
                proc.stdout.close()
        if code != 0:
            log.warning("the reply sender exited %d; its jobs stay due", code)


def _ready(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the sender says it is ready before it exits (bounded by its own start)."""
    assert proc.stdout is not None  # noqa: S101 - spawned with a pipe
    timer = threading.Timer(START_TIMEOUT_S, proc.kill)
    timer.start()
    try:
        return proc.stdout.readline() == READY
    finally:
        timer.cancel()
