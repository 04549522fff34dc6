"""How ``mailhost import`` shows imports: progress lines and bar, the status table, JSON,
the batch report.

Folder names and server texts came from the source server: each is neutralised
(``domain.text.neutralise``) before it is shown, so a folder named with an escape
sequence or a bidi override cannot reach the terminal. Source labels (user at host) were
checked when the import was requested (no control character) and are shown as typed;
``output.say`` is the last guard. No password is ever among the shown facts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from application.importbatch import BatchReport
from application.importports import ImportProgress
from domain.importfacts import FailureReason
from domain.text import neutralise
from infrastructure.cli.csvinput import problems_lines
from infrastructure.cli.output import as_json

MB = 1_000_000
BAR_WIDTH = 24
SHOWN_FOLDER = 40  # characters of a folder name on a progress line


def reason_text(reason: str | None) -> str:
    """A failure reason's sentence (its value when it is not one this version names)."""
    if reason is None:
        return "no reason recorded"
    try:
        return f"{FailureReason(reason).text} ({reason})"
    except ValueError:
        return neutralise(reason, max_length=200)


def folder_text(folder: str | None) -> str:
    return neutralise(folder, max_length=SHOWN_FOLDER) if folder else ""


def progress_line(row: ImportProgress, now: datetime) -> str:
    """One plain line: messages done/total, MB, msgs/s, ETA, the current folder."""
    parts = [
        f"{row.state}",
        f"{row.messages_done}/{row.messages_total} messages",
        f"{row.bytes_done / MB:.1f}/{row.bytes_total / MB:.1f} MB",
    ]
    rate = row.rate
    if rate is not None:
        parts.append(f"{rate:.0f} msgs/s")
    eta = row.eta(now)
    if eta is not None:
        parts.append(f"ETA {_duration(eta - now)}")
    if row.current_folder:
        parts.append(f"folder {folder_text(row.current_folder)}")
    return ", ".join(parts)


def progress_bar(row: ImportProgress, now: datetime) -> str:
    """The terminal's one-line bar (redrawn in place by the caller)."""
    total = row.messages_total
    share = min(row.messages_done / total, 1.0) if total else 0.0
    filled = round(share * BAR_WIDTH)
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    return f"[{bar}] {share:4.0%}  {progress_line(row, now)}"


def _duration(left: timedelta) -> str:
    seconds = max(int(left.total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def progress_json(row: ImportProgress, now: datetime) -> dict[str, object]:
    """For ``--json``: every fact of the row, its rate and ETA among them."""
    eta = row.eta(now)
    return {
        "job_id": str(row.job_id),
        "destination": row.destination,
        "state": row.state,
        "messages_done": row.messages_done,
        "messages_total": row.messages_total,
        "bytes_done": row.bytes_done,
        "bytes_total": row.bytes_total,
        "copied": row.copied,
        "skipped": row.skipped,
        "failed": row.failed,
        "current_folder": row.current_folder,
        "requested_at": _iso(row.requested_at),
        "started_at": _iso(row.started_at),
        "updated_at": _iso(row.updated_at),
        "finished_at": _iso(row.finished_at),
        "reason": row.reason,
        "rate": row.rate,
        "eta": _iso(eta),
        "sources": [as_json(s) for s in row.sources],
    }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def status_text(row: ImportProgress, now: datetime) -> str:
    """One import in full: its state, counts, sources and (ended) why."""
    when = [f"requested {_utc(row.requested_at)}"]
    if row.started_at is not None:
        when.append(f"started {_utc(row.started_at)}")
    if row.finished_at is not None:
        when.append(f"ended {_utc(row.finished_at)}")
    counts = (
        f"copied {row.copied}, skipped as present already {row.skipped}, "
        f"failed {row.failed}"
    )
    lines = [
        f"import {row.job_id} into {row.destination}: {row.state}",
        f"  {', '.join(when)}",
        f"  {progress_line(row, now)}",
        f"  {counts}",
    ]
    for source in row.sources:
        why = f" ({reason_text(source.reason)})" if source.reason else ""
        lines.append(
            f"  source {source.label}: copied "
            f"{source.copied}, skipped {source.skipped}, failed {source.failed}{why}"
        )
    if row.state in {"failed", "cancelled"}:
        lines.append(f"  reason: {reason_text(row.reason)}")
    return "\n".join(lines)


def _utc(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S} UTC"


def status_table(rows: Sequence[ImportProgress]) -> str:
    """Every import, newest first: one line each."""
    if not rows:
        return "no import yet"
    header = ("job", "destination", "state", "messages", "copied", "skipped", "failed")
    cells = [
        (
            str(r.job_id),
            r.destination,
            r.state,
            f"{r.messages_done}/{r.messages_total}",
            str(r.copied),
            str(r.skipped),
            str(r.failed),
        )
        for r in rows
    ]
    widths = [max(len(c[i]) for c in [header, *cells]) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *cells]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def batch_text(report: BatchReport) -> str:
    """For a person: the problems, or each row's job."""
    if report.errors:
        return "\n".join(problems_lines("imported", report.errors, report.rows))
    if not report.applied:
        return (
            f"{report.rows} row(s) checked, no problem: applying the file requests "
            f"{report.rows} import(s) (batch {report.batch_id})."
        )
    lines = [f"batch {report.batch_id}: {len(report.jobs)} import(s) requested:"]
    width = max((len(j.destination) for j in report.jobs), default=0)
    for job in report.jobs:
        earlier = (
            " (by an earlier run of this file, not done yet)" if job.existing else ""
        )
        lines.append(
            f"  line {job.line}: {job.destination:<{width}}  <- {job.source}  "
            f"import {job.job_id}{earlier}"
        )
    return "\n".join(lines)


def batch_json(report: BatchReport) -> dict[str, object]:
    return {
        "ok": report.ok,
        "rows": report.rows,
        "batch_id": str(report.batch_id),
        "applied": report.applied,
        "errors": [list(e) for e in report.errors],
        "jobs": [as_json(j) for j in report.jobs],
    }
