"""``mailhost audit ...``: the auditor's questions of the log (issue 11).

Every command reads; none writes to the log. Each catches the audit index up first
(the only write: the read models' own rows), so the answer covers the whole log.
Times (``--at``, ``--since``, ``--until``) are ISO 8601; one without an offset is UTC.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from uuid import UUID

from application.audit import Audit
from domain.address import shown
from domain.errors import InvalidInput
from domain.ids import organisation_key
from infrastructure.bootstrap import Engine, open_engine
from infrastructure.cli import auditrebuild, auditverify, auditview
from infrastructure.cli.arguments import (
    JSON,
    Command,
    OneOf,
    Subcommands,
    argument,
    bounded_int,
)
from infrastructure.cli.output import Parser, emit
from projections.auditqueries import SqlAuditQueries

MAX_POSITION = 2**63 - 1


def register(sub: Subcommands, common: Parser) -> None:
    group = sub.add_parser(
        "audit", help="the log as an audit record: history, state, trace, rebuild"
    ).add_subparsers(parser_class=Parser)
    for command in _commands():
        command.add_to(group, common)
    auditverify.register_verify(group, common)  # verify, checkpoint (helper F)


def instant(text: str) -> datetime:
    """An argparse type: an ISO 8601 time, UTC when it names no offset."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        msg = f"{shown(text)} is not an ISO 8601 time (e.g. 2026-12-02T10:30:00+01:00)"
        raise argparse.ArgumentTypeError(msg) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


instant.__name__ = "time"


@contextmanager
def auditing(args: argparse.Namespace) -> Iterator[tuple[Engine, Audit]]:
    """The engine, no background threads and no jobs run: an auditor only reads."""
    auditverify.existing_log(args.home)
    engine = open_engine(args.home, background=False)
    try:
        engine.runner.catch_up()
        yield engine, Audit(engine.host.log, SqlAuditQueries(engine.runner.database))
    finally:
        engine.close()


def _history(args: argparse.Namespace) -> int:
    with auditing(args) as (_, audit):
        events = audit.history(audit.resolve(args.aggregate))
    emit(
        args,
        [{**e.as_json(), "kind": e.kind} for e in events],
        auditview.history_text(events),
    )
    return 0


def _timeline(args: argparse.Namespace) -> int:
    if args.since and args.until and args.since > args.until:
        raise InvalidInput("--until: comes before --since")
    with auditing(args) as (_, audit):
        if args.user is not None:
            entries = audit.user_timeline(args.user, args.since, args.until)
        else:
            entries = audit.address_timeline(args.address, args.since, args.until)
    emit(
        args,
        [auditview.entry_json(e) for e in entries],
        auditview.entries_text(entries, "nothing in that period"),
    )
    return 0


def _state(args: argparse.Namespace) -> int:
    with auditing(args) as (_, audit):
        found = audit.resolve(args.aggregate)
        if len(found) > 1:
            listed = ", ".join(map(str, found))
            raise InvalidInput(
                f"AGGREGATE: {shown(args.aggregate)} names {len(found)} aggregates"
                f" ({listed}); give one id"
            )
        state = audit.state(found[0], args.at)
    emit(args, auditview.state_json(state), auditview.state_text(state))
    return 0


def _trace(args: argparse.Namespace) -> int:
    try:
        correlation = UUID(args.correlation)
    except ValueError:
        raise InvalidInput(
            f"CORRELATION_ID: {shown(args.correlation)} is not a UUID"
        ) from None
    with auditing(args) as (_, audit):
        trace = audit.trace(correlation)
    emit(args, auditview.trace_json(trace), auditview.trace_text(trace))
    return 0


def _export(args: argparse.Namespace) -> int:
    """JSON lines, ASCII only (``json.dumps`` escapes every control character)."""
    with auditing(args) as (_, audit):
        for event in audit.export(args.since):
            print(json.dumps(event.as_json(), sort_keys=True))  # noqa: T201 - the export itself
    return 0


def _counts(args: argparse.Namespace) -> int:
    with auditing(args) as (engine, _):
        counts = SqlAuditQueries(engine.runner.database).counts(args.by)
    emit(
        args,
        [{args.by: c.key, "events": c.events} for c in counts],
        auditview.counts_text(counts, args.by),
    )
    return 0


def _admin(args: argparse.Namespace) -> int:
    organisation = organisation_key(args.organisation)
    with auditing(args) as (engine, _):
        if not engine.host.log.exists(organisation):
            raise InvalidInput(
                f"ORGANISATION: there is no organisation {shown(args.organisation)}"
            )
        entries = SqlAuditQueries(engine.runner.database).admin_actions(
            organisation, args.limit
        )
    emit(
        args,
        [auditview.entry_json(e) for e in entries],
        auditview.entries_text(entries, "no admin action recorded"),
    )
    return 0


def _commands() -> tuple[Command, ...]:
    return (*_event_commands(), *_record_commands())


def _event_commands() -> tuple[Command, ...]:
    since = argument("--since", type=instant, help="from this time on")
    until = argument("--until", type=instant, help="up to this time")
    return (
        Command(
            "history",
            "every event of an aggregate, decoded, with time, actor and correlation",
            _history,
            (
                argument("aggregate", help="an id, a login, an address or a domain"),
                JSON,
            ),
            example="mailhost audit history ann@example.org --json",
        ),
        Command(
            "timeline",
            "everything that touched a user or an address, in log order",
            _timeline,
            (
                OneOf(
                    (
                        argument("--user", metavar="LOGIN"),
                        argument("--address", metavar="ADDR"),
                    ),
                    required=True,
                ),
                since,
                until,
                JSON,
            ),
            example="mailhost audit timeline --user ann@example.org --since 2026-12-01",
        ),
        Command(
            "state",
            "an aggregate as it was at a moment (replayed to its last event by then)",
            _state,
            (
                argument("aggregate", help="an id, a login, an address or a domain"),
                argument("--at", type=instant, required=True, metavar="DATETIME"),
                JSON,
            ),
            example="mailhost audit state ann@example.org --at 2026-12-02T10:00Z",
        ),
        Command(
            "trace",
            "a command's events, the jobs they started, and what the jobs did",
            _trace,
            (argument("correlation", metavar="CORRELATION_ID"), JSON),
            example="mailhost audit trace 1c6f0b8e-8d0a-4c53-9a43-3f1d2f0c9b7e",
        ),
    )


def _record_commands() -> tuple[Command, ...]:
    return (
        Command(
            "rebuild",
            "replay the read models into a fresh store and compare them row by row",
            auditrebuild.rebuild,
            (
                argument("projection", nargs="?", help="one read model (default: all)"),
                JSON,
            ),
            example="mailhost audit rebuild address_directory",
        ),
        Command(
            "export",
            "the log as JSON lines (stable field names, schema version)",
            _export,
            (
                argument(
                    "--since",
                    type=bounded_int(0, MAX_POSITION),
                    default=0,
                    metavar="N",
                    help="only events after log position N",
                ),
            ),
            example="mailhost audit export --since 1000 > log.jsonl",
        ),
        Command(
            "counts",
            "events per actor, per day or per kind",
            _counts,
            (
                argument("--by", choices=("actor", "day", "kind"), default="kind"),
                JSON,
            ),
            example="mailhost audit counts --by actor --json",
        ),
        Command(
            "admin",
            "recent actions of an organisation's admins and the operator, newest first",
            _admin,
            (
                argument("organisation", metavar="ORGANISATION", help="its name or id"),
                argument("--limit", type=bounded_int(1, 10_000), default=50),
                JSON,
            ),
            example='mailhost audit admin "Example Co" --limit 20',
        ),
    )
