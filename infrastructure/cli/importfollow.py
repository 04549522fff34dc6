"""``--wait``: follow imports to their end, a bar on a terminal, plain lines otherwise.

The engine is opened with its background relay: on the embedded default that relay's
in-process worker runs the copy (with Redis, the ``dramatiq`` workers do), and this
loop only reads. The read model gives the progress; the log says when a job is over
and how (it is the truth, the read model may lag a step). Progress goes to stderr, so
stdout keeps the job id and the final counts for a script.

Ctrl-C stops the following, not the import (IMP-2): on the embedded default the copy
stops with this process and resumes, where its last checkpoint says, the next time
jobs run (``mailhost run``, or any later command).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from application.importports import ImportProgress
from domain.importfacts import JobState
from domain.text import printable
from infrastructure.bootstrap import Engine
from infrastructure.cli.importview import progress_bar, progress_line, reason_text
from infrastructure.cli.output import say

POLL_S = 0.25
PLAIN_EVERY_S = 1.0  # at most one plain line a second per job (and one per change)
SETTLE_S = 60.0  # the confirmation mail and the forgetting of the passwords


def follow(engine: Engine, job_id: UUID) -> int:
    """One job: 0 when it completed, 1 when it failed or was cancelled."""
    return follow_all(engine, [job_id])


def follow_all(engine: Engine, job_ids: Sequence[UUID]) -> int:
    """Every job to its end: 0 when all completed, 1 when any did not."""
    display = _Display(sys.stderr.isatty(), several=len(job_ids) > 1)
    left = list(dict.fromkeys(job_ids))
    try:
        while left:
            for job_id in list(left):
                row = engine.host.imports.progress(job_id)
                if row is not None:
                    display.show(row, engine.host.alerts.clock.now())
                if engine.host.imports.get(job_id).is_over:
                    left.remove(job_id)
            if left:
                time.sleep(POLL_S)
    except KeyboardInterrupt:
        display.end()
        say(
            "mailhost: stopped following; the import goes on where it stopped the "
            "next time jobs run (`mailhost run`); see `mailhost import status`",
            err=True,
        )
        return 130
    _settle(engine)
    for job_id in job_ids:  # the last word of each, from a read model now current
        row = engine.host.imports.progress(job_id)
        if row is not None:
            display.show(row, engine.host.alerts.clock.now())
    display.end()
    return max((_outcome(engine, job_id) for job_id in job_ids), default=0)


def _settle(engine: Engine) -> None:
    """Let the jobs that follow the end run here (the mail, the forgetting)."""
    try:
        engine.host.settle(SETTLE_S)
    except TimeoutError:
        say(
            "mailhost: the jobs after the import (confirmation mail, forgetting the "
            "passwords) are not done yet; `mailhost run` finishes them",
            err=True,
        )


def _outcome(engine: Engine, job_id: UUID) -> int:
    """The final counts on stdout; a failure's reason on stderr."""
    job = engine.host.imports.get(job_id)
    counts = job.counts
    say(
        f"import {job_id} into {job.destination}: {job.state.value}: copied "
        f"{counts.copied}, skipped as present already {counts.skipped}, failed "
        f"{counts.failed}"
    )
    if job.state is JobState.COMPLETED:
        return 0
    reason = job.reason.value if job.reason is not None else None
    say(f"mailhost: import {job_id} {job.state.value}: {reason_text(reason)}", err=True)
    return 1


class _Display:
    """A bar redrawn in place (terminal), or a plain line per change at most each second."""

    def __init__(self, terminal: bool, *, several: bool) -> None:
        self.terminal = terminal
        self.several = several
        self._shown: dict[UUID, tuple[object, ...]] = {}
        self._at: dict[UUID, float] = {}
        self._width = 0

    def show(self, row: ImportProgress, now: datetime) -> None:
        state = (row.state, row.messages_done, row.bytes_done, row.current_folder)
        if self._shown.get(row.job_id) == state:
            return
        prefix = f"{row.destination}: " if self.several else ""
        if self.terminal:
            self._shown[row.job_id] = state
            self._draw(prefix + progress_bar(row, now))
            return
        over = row.state not in {JobState.REQUESTED, JobState.RUNNING}
        last = self._at.get(row.job_id)
        if not over and last is not None and time.monotonic() - last < PLAIN_EVERY_S:
            return
        self._shown[row.job_id] = state
        self._at[row.job_id] = time.monotonic()
        say(prefix + progress_line(row, now), err=True)

    def _draw(self, text: str) -> None:
        line = printable(text)
        pad = max(self._width - len(line), 0)
        self._width = len(line)
        sys.stderr.write("\r" + line + " " * pad)
        sys.stderr.flush()

    def end(self) -> None:
        if self.terminal and self._width:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._width = 0
