"""How ``mailhost audit`` shows what it found: one line per event, JSON beside it.

The text is for a person reading a terminal (``say`` neutralises it: event data can
quote anything a client sent); ``--json`` gives the same facts with stable names.
"""

from __future__ import annotations

import json
from typing import Any

from application.audit import AuditedEvent, PastState, Trace
from application.auditports import AuditEntry, Count, JobEntry
from infrastructure.cli.output import as_json
from projections.auditrebuild import Difference


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "position": entry.position,
        "originator_id": str(entry.aggregate_id),
        "version": entry.version,
        "kind": entry.kind,
        "timestamp": entry.at.isoformat(),
        "actor": entry.actor,
        "correlation": entry.correlation,
        "causation": entry.causation,
    }


def _context(actor: str, correlation: str | None, causation: int | None) -> str:
    caused = "" if causation is None else f" after #{causation}"
    return f"by {actor} [{correlation or '-'}]{caused}"


def entry_line(entry: AuditEntry) -> str:
    return (
        f"#{entry.position} {entry.at.isoformat()} {entry.kind}"
        f" {entry.aggregate_id} v{entry.version}"
        f" {_context(entry.actor, entry.correlation, entry.causation)}"
    )


def entries_text(entries: list[AuditEntry], empty: str) -> str:
    return "\n".join(entry_line(e) for e in entries) or empty


def event_text(event: AuditedEvent) -> str:
    position = "#?" if event.position is None else f"#{event.position}"
    head = (
        f"{position} {event.at.isoformat()} {event.kind} {event.aggregate_id}"
        f" v{event.version} {_context(event.actor, event.correlation, event.causation)}"
    )
    data = json.dumps(event.data, sort_keys=True, ensure_ascii=False)
    return f"{head}\n    {data}"


def history_text(events: list[AuditedEvent]) -> str:
    return "\n".join(event_text(e) for e in events)


def state_json(state: PastState) -> dict[str, Any]:
    return {
        "originator_id": str(state.aggregate_id),
        "kind": state.kind,
        "version": state.version,
        "as_of": state.as_of.isoformat(),
        "attributes": state.attributes,
    }


def state_text(state: PastState) -> str:
    lines = [
        (
            f"{state.kind} {state.aggregate_id} at version {state.version}"
            f" (its event of {state.as_of.isoformat()})"
        )
    ]
    lines += [
        f"  {name}: {json.dumps(value, sort_keys=True, ensure_ascii=False)}"
        for name, value in state.attributes.items()
    ]
    return "\n".join(lines)


def job_line(job: JobEntry) -> str:
    done = f"done {job.done_at}" if job.done_at else "not done"
    error = f"; last error: {job.last_error}" if job.last_error else ""
    return (
        f"job {job.kind} {job.job_id} from #{job.position}: {done},"
        f" {job.attempts} attempt(s){error}"
    )


def trace_json(trace: Trace) -> dict[str, Any]:
    return {
        "correlation": str(trace.correlation),
        "actor": trace.events[0].actor,
        "events": [entry_json(e) for e in trace.events],
        "jobs": [as_json(j) for j in trace.jobs],
    }


def trace_text(trace: Trace) -> str:
    first = trace.events[0]
    lines = [
        (
            f"correlation {trace.correlation}: a command by {first.actor}"
            f" at {first.at.isoformat()}, {len(trace.events)} event(s),"
            f" {len(trace.jobs)} job(s)"
        ),
        "events:",
        *(f"  {entry_line(e)}" for e in trace.events),
    ]
    if trace.jobs:
        lines += ["jobs:", *(f"  {job_line(j)}" for j in trace.jobs)]
    return "\n".join(lines)


def counts_text(counts: list[Count], by: str) -> str:
    width = max((len(c.key) for c in counts), default=0)
    lines = [f"{c.key:<{width}}  {c.events}" for c in counts]
    return "\n".join(lines) or f"no events to count by {by}"


def difference_json(difference: Difference) -> dict[str, Any]:
    return {
        "table": difference.table,
        "key": [str(k) for k in difference.key],
        "column": difference.column,
        "live": None if difference.live is None else str(difference.live),
        "rebuilt": None if difference.rebuilt is None else str(difference.rebuilt),
    }


def _cell(value: object, column: str) -> str:
    if column == "(row)":
        return "absent" if value is None else f"present {value!r}"
    return repr(value)


def difference_line(difference: Difference) -> str:
    key = ", ".join(str(k) for k in difference.key)
    column = difference.column
    return (
        f"{difference.table} [{key}] {column}:"
        f" live {_cell(difference.live, column)},"
        f" rebuilt {_cell(difference.rebuilt, column)}"
    )
