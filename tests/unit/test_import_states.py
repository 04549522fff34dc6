"""The folder states a finished folder carries for the next import (the re-run shortcut).

``FolderFinished`` gained ``source_state`` and ``destination_state``: events stored
before them still read back (with None), and a folder that finished with failures
never offers its states (the next import must retry what failed, so it reads keys).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from uuid import UUID

from domain.importfacts import FolderTotal, SourceRef
from domain.importjob import ImportJob
from domain.importsource import ImportSource
from tests.strategies import MAPPER, replay, through_mapper

AT = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
LATER = AT + timedelta(minutes=3)
SOURCE = SourceRef.of(
    ImportSource.of("imap.example.net", 993, "tls", "ann"),
    UUID("00000000-0000-4000-8000-00000000c001"),
)


def running() -> ImportJob:
    job = ImportJob.request(
        UUID("00000000-0000-4000-8000-00000000d001"),
        destination="ann@host.example",
        mailbox_id=UUID("00000000-0000-4000-8000-00000000d0b0"),
        domain="host.example",
        requested_by=None,
        sources=(SOURCE,),
        at=AT,
    )
    job.start(at=AT)
    job.survey(0, (FolderTotal("INBOX", 3, 3000), FolderTotal("Sent", 1, 50)), at=AT)
    return job


def last_finished(job: ImportJob) -> ImportJob.FolderFinished:
    events = [
        e for e in job.collect_events() if isinstance(e, ImportJob.FolderFinished)
    ]
    return events[-1]


def test_states_are_kept_when_nothing_failed_and_read_back() -> None:
    job = running()
    job.finish_folder(
        0,
        "INBOX",
        "INBOX",
        copied=3,
        skipped=0,
        source_state="imap 7 4 3",
        destination_state="maildir 3 ab",
        at=LATER,
    )
    (back,) = through_mapper([last_finished(job)])
    assert (back.source_state, back.destination_state) == ("imap 7 4 3", "maildir 3 ab")


def test_a_folder_with_failures_offers_no_states() -> None:
    job = running()
    job.finish_folder(
        0,
        "INBOX",
        "INBOX",
        copied=2,
        skipped=0,
        failures=(("too_large", 1),),
        source_state="imap 7 4 3",
        destination_state="maildir 2 ab",
        at=LATER,
    )
    event = last_finished(job)
    assert (event.source_state, event.destination_state) == (None, None)


def test_one_state_alone_is_not_kept() -> None:
    job = running()
    job.finish_folder(
        0, "Sent", "Sent", copied=1, skipped=0, source_state="imap 1 2 1", at=LATER
    )
    event = last_finished(job)
    assert (event.source_state, event.destination_state) == (None, None)


def test_an_event_stored_before_the_states_replays_with_none() -> None:
    job = running()
    job.finish_folder(0, "INBOX", "INBOX", copied=3, skipped=0, at=LATER)
    events = job.collect_events()
    stored = [MAPPER.to_stored_event(e) for e in events]
    state = json.loads(stored[-1].state)
    state.pop("source_state")
    state.pop("destination_state")
    old = dataclasses.replace(stored[-1], state=json.dumps(state).encode())
    read = [MAPPER.to_domain_event(s) for s in [*stored[:-1], old]]
    assert (read[-1].source_state, read[-1].destination_state) == (None, None)
    replayed = replay(read)
    assert replayed is not None
    assert replayed.finished_folders(0) == frozenset({"INBOX"})
