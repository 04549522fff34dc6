"""ImportJob (IMP-1, IMP-2, IMP-4, IMP-7, IMP-9) and ImportLane (one import per destination)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from eventsourcing.domain import Snapshot

from domain.errors import AlreadyExists, InvalidInput, NotFound, NotPermitted
from domain.importjob import (
    FailureReason,
    FolderCounts,
    FolderTotal,
    ImportJob,
    ImportLane,
    JobState,
    SourceRef,
    lane_id,
)
from domain.importsource import ImportSource
from tests.strategies import MAPPER, replay, through_mapper
from tests.unit.eventsupport import fixed_ids

JOB, OTHER_JOB, THIRD_JOB = fixed_ids("d001", "d002", "d003")
BOX, USER = fixed_ids("d0b0", "d0c1")
SECRET_1, SECRET_2 = fixed_ids("d0f1", "d0f2")
AT = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
LATER = AT + timedelta(minutes=3)
DEST = "ann@host.example"

FIRST = SourceRef.of(
    ImportSource.of("imap.old.example", None, "tls", "ann@old.example"), SECRET_1
)
SECOND = SourceRef.of(
    ImportSource.of("imap.other.example", 993, "tls", "ann2"), SECRET_2
)
SURVEY = (FolderTotal("INBOX", 3, 3000), FolderTotal("Sent", 1, 500))


def requested(*sources: SourceRef, by: UUID | None = USER) -> ImportJob:
    return ImportJob.request(
        JOB,
        destination=DEST,
        mailbox_id=BOX,
        domain="host.example",
        requested_by=by,
        sources=sources or (FIRST,),
        at=AT,
    )


def running(*sources: SourceRef) -> ImportJob:
    job = requested(*sources)
    job.start(at=AT)
    for index in range(len(job.sources)):
        job.survey(index, SURVEY, at=AT)
    return job


def finish_all(job: ImportJob, index: int) -> None:
    for total in SURVEY:
        job.finish_folder(
            index, total.name, total.name, copied=total.messages, skipped=0, at=LATER
        )


def refused(
    job: ImportJob, error: type[Exception], command: Callable[[], object]
) -> None:
    version = job.version
    with pytest.raises(error):
        command()
    assert job.version == version


def replayed(job: ImportJob) -> ImportJob | None:
    return replay(through_mapper(job.collect_events()))


# -- request --------------------------------------------------------------------------


def test_a_request_holds_no_password_only_credential_ids() -> None:
    # rule IMP-9
    job = requested(FIRST, SECOND)
    assert job.state is JobState.REQUESTED
    assert [s.credential_id for s in job.sources] == [SECRET_1, SECRET_2]
    assert not job.is_started
    assert not job.is_over
    assert replayed(job) == job


def test_one_or_two_sources() -> None:
    # rule IMP-7: a second source at the same time, not a third
    with pytest.raises(InvalidInput, match="one or two sources"):
        ImportJob.request(
            JOB,
            destination=DEST,
            mailbox_id=BOX,
            domain="host.example",
            requested_by=USER,
            sources=(),
            at=AT,
        )
    third = SourceRef.of(ImportSource.of("imap.c.example", 993, "tls", "c"), SECRET_2)
    with pytest.raises(InvalidInput, match="one or two sources"):
        requested(FIRST, SECOND, third)


def test_the_same_mailbox_twice_is_refused() -> None:
    again = SourceRef.of(
        ImportSource.of("IMAP.OLD.EXAMPLE", 993, "tls", "ANN@old.example"), SECRET_2
    )
    with pytest.raises(InvalidInput, match="same mailbox"):
        requested(FIRST, again)


def test_a_hosted_source_is_not_the_destination() -> None:
    # rule IMP-5: an address of this provider may be a source, not the destination itself
    with pytest.raises(InvalidInput, match="destination itself"):
        requested(SourceRef.hosted_address("Ann@host.example", SECRET_1))
    job = requested(SourceRef.hosted_address("bob@host.example", SECRET_1))
    assert job.sources[0].hosted


def test_a_bad_destination_is_refused() -> None:
    with pytest.raises(InvalidInput, match="destination"):
        ImportJob.request(
            JOB,
            destination="not an address",
            mailbox_id=BOX,
            domain="host.example",
            requested_by=None,
            sources=(FIRST,),
            at=AT,
        )


def test_the_confirmation_goes_to_every_address_involved() -> None:
    # rule IMP-4: the destination and each source that is an address, once
    hosted = SourceRef.hosted_address("ANN@old.example", SECRET_2)
    assert requested(FIRST, SECOND).involved_addresses == (DEST, "ann@old.example")
    assert requested(FIRST, hosted).involved_addresses == (DEST, "ann@old.example")


def test_a_source_ref_gives_back_its_source() -> None:
    source = ImportSource.of("imap.x.example", 993, "tls", "u", ca_file="/ca.pem")
    assert SourceRef.of(source, SECRET_1).source == source
    assert SourceRef.of(source, SECRET_1).label == "u at imap.x.example"


# -- start and cancel (IMP-2) ---------------------------------------------------------


def test_cancel_before_the_start() -> None:
    job = requested()
    job.cancel(USER, at=LATER)
    assert job.state is JobState.CANCELLED
    assert job.reason is FailureReason.CANCELLED
    assert job.is_over
    assert job.cancelled_by == USER
    refused(job, NotPermitted, lambda: job.start(at=LATER))
    refused(job, NotPermitted, lambda: job.cancel(USER, at=LATER))
    assert replayed(job) == job


def test_once_started_it_cannot_be_interrupted() -> None:
    # rule IMP-2
    job = requested()
    job.start(at=AT)
    with pytest.raises(NotPermitted, match="cannot be interrupted once started"):
        job.cancel(USER, at=LATER)
    refused(job, NotPermitted, lambda: job.cancel(None, at=LATER))
    assert job.is_running


def test_a_resumed_worker_starting_again_changes_nothing() -> None:
    # rule IMP-2: the system resumes it
    job = requested()
    job.start(at=AT)
    version = job.version
    job.start(at=LATER)
    assert job.version == version
    assert job.started_at == AT


def test_nothing_is_recorded_before_the_start() -> None:
    job = requested()
    refused(job, NotPermitted, lambda: job.survey(0, SURVEY, at=AT))
    refused(
        job,
        NotPermitted,
        lambda: job.record_progress(
            0, "INBOX", copied=1, skipped=0, failed=0, size=1, at=AT
        ),
    )
    refused(job, NotPermitted, lambda: job.complete(at=AT))


# -- progress and checkpoints ---------------------------------------------------------


def test_progress_is_cumulative_per_folder() -> None:
    job = running()
    job.record_progress(0, "INBOX", copied=1, skipped=0, failed=0, size=900, at=AT)
    job.record_progress(0, "INBOX", copied=2, skipped=1, failed=0, size=2000, at=LATER)
    assert job.folder_counts(0, "INBOX") == FolderCounts(2, 1, 0, 2000)
    assert job.current_folder == (0, "INBOX")
    assert job.source_total(0) == FolderTotal(FIRST.label, 4, 3500)
    assert replayed(job) == job


def test_a_finished_folder_is_a_checkpoint_and_finishing_again_is_a_no_op() -> None:
    # rule IMP-2: a resumed job skips the folders finished already
    job = running()
    job.record_progress(0, "INBOX", copied=2, skipped=1, failed=0, size=2000, at=AT)
    job.finish_folder(
        0,
        "INBOX",
        "INBOX",
        copied=2,
        skipped=0,
        failures=[("too_large", 1), ("too_large", 0)],
        at=LATER,
    )
    assert job.finished_folders(0) == frozenset({"INBOX"})
    result = job.folder_result(0, "INBOX")
    assert result is not None
    assert result.failures == (("too_large", 1),)
    assert result.size == 2000
    assert job.folder_counts(0, "INBOX") == FolderCounts(2, 0, 1, 2000)
    assert job.current_folder is None
    version = job.version
    job.finish_folder(0, "INBOX", "INBOX", copied=9, skipped=9, at=LATER)
    assert job.version == version
    refused(
        job,
        NotPermitted,
        lambda: job.record_progress(
            0, "INBOX", copied=9, skipped=0, failed=0, size=1, at=LATER
        ),
    )
    assert replayed(job) == job


def test_a_finished_folder_without_progress_takes_the_survey_s_size() -> None:
    job = running()
    job.finish_folder(0, "Sent", "Sent", copied=1, skipped=0, at=AT)
    assert job.folder_counts(0, "Sent").size == 500


@pytest.mark.parametrize(
    "command",
    [
        lambda j: j.survey(2, SURVEY, at=AT),
        lambda j: j.survey(0, (FolderTotal("A", 1, 1), FolderTotal("A", 2, 2)), at=AT),
        lambda j: j.survey(0, (FolderTotal("A", -1, 1),), at=AT),
        lambda j: j.record_progress(
            0, "", copied=0, skipped=0, failed=0, size=0, at=AT
        ),
        lambda j: j.record_progress(
            0, "A", copied=-1, skipped=0, failed=0, size=0, at=AT
        ),
        lambda j: j.record_progress(
            source_index=True, folder="A", copied=0, skipped=0, failed=0, size=0, at=AT
        ),
        lambda j: j.finish_folder(
            0, "A", "A", copied=0, skipped=0, failures=[("no such", 1)], at=AT
        ),
        lambda j: j.finish_folder(
            0, "A", "A", copied=0, skipped=0, failures=[("too_large", -1)], at=AT
        ),
        lambda j: j.record_progress(
            0,
            "A",
            copied=0,
            skipped=0,
            failed=0,
            size=0,
            at=datetime(2025, 1, 1),  # noqa: DTZ001 - the naive time refused
        ),
    ],
)
def test_bad_counts_are_refused(command: Callable[[ImportJob], None]) -> None:
    job = running()
    refused(job, InvalidInput, lambda: command(job))


# -- the end ----------------------------------------------------------------------------


def test_complete_when_every_source_is_done() -> None:
    job = running(FIRST, SECOND)
    finish_all(job, 0)
    assert job.sources_done == frozenset({0})
    refused(job, NotPermitted, lambda: job.complete(at=LATER))
    job.fail_source(1, FailureReason.AUTHENTICATION_FAILED, at=LATER)
    assert job.sources_done == frozenset({0, 1})
    refused(
        job,
        NotPermitted,
        lambda: job.finish_folder(1, "INBOX", "INBOX", copied=0, skipped=0, at=LATER),
    )
    job.complete(at=LATER)
    assert job.state is JobState.COMPLETED
    assert job.counts == FolderCounts(copied=4, skipped=0, failed=0, size=3500)
    assert job.source_counts(1) == FolderCounts()
    assert job.ended_at == LATER
    assert replayed(job) == job


def test_a_source_surveyed_again_may_gain_a_folder() -> None:
    job = running()
    finish_all(job, 0)
    job.survey(0, (*SURVEY, FolderTotal("New", 1, 1)), at=LATER)
    assert not job.source_done(0)
    job.finish_folder(0, "New", "New", copied=1, skipped=0, at=LATER)
    assert job.source_done(0)


def test_every_source_failed_is_a_failed_job() -> None:
    job = running(FIRST, SECOND)
    job.fail_source(0, FailureReason.UNREACHABLE, at=LATER)
    job.fail_source(1, FailureReason.UNREACHABLE, at=LATER)
    refused(job, NotPermitted, lambda: job.complete(at=LATER))
    job.conclude(at=LATER)
    assert job.state is JobState.FAILED
    assert job.reason is FailureReason.UNREACHABLE


def test_two_sources_failed_for_different_reasons() -> None:
    job = running(FIRST, SECOND)
    job.fail_source(0, FailureReason.UNREACHABLE, at=LATER)
    job.fail_source(1, FailureReason.TLS_FAILED, at=LATER)
    job.conclude(at=LATER)
    assert job.reason is FailureReason.ALL_SOURCES_FAILED


def test_conclude_completes_when_one_source_finished() -> None:
    job = running(FIRST, SECOND)
    finish_all(job, 1)
    job.fail_source(0, FailureReason.OAUTH_REQUIRED, at=LATER)
    job.conclude(at=LATER)
    assert job.state is JobState.COMPLETED


def test_the_system_may_fail_a_job_before_or_after_its_start() -> None:
    waiting = requested()
    waiting.fail(FailureReason.CREDENTIALS_MISSING, at=LATER)
    assert waiting.state is JobState.FAILED
    job = running()
    job.fail(FailureReason.DESTINATION_FAILED, at=LATER)
    assert job.is_over
    refused(job, NotPermitted, lambda: job.fail(FailureReason.UNREACHABLE, at=LATER))
    refused(job, NotPermitted, lambda: job.survey(0, SURVEY, at=LATER))


def test_confirmation_and_forgetting_once_over_each_recorded_once() -> None:
    # rule IMP-4, IMP-9
    job = running()
    refused(job, NotPermitted, lambda: job.record_confirmation(at=LATER))
    refused(job, NotPermitted, lambda: job.forget_credentials(at=LATER))
    finish_all(job, 0)
    job.complete(at=LATER)
    job.record_confirmation(at=LATER)
    job.forget_credentials(at=LATER)
    version = job.version
    job.record_confirmation(at=LATER)
    job.forget_credentials(at=LATER)
    assert job.version == version
    assert job.confirmation_sent
    assert job.credentials_forgotten
    assert replayed(job) == job


def test_every_reason_has_a_sentence() -> None:
    assert all(reason.text for reason in FailureReason)


def test_a_snapshot_reads_back_equal() -> None:
    job = running(FIRST, SECOND)
    job.record_progress(1, "Sent", copied=1, skipped=0, failed=0, size=5, at=AT)
    finish_all(job, 0)
    job.fail_source(1, FailureReason.FOLDER_VANISHED, at=LATER)
    job.collect_events()
    snapshot = MAPPER.to_domain_event(MAPPER.to_stored_event(Snapshot.take(job)))
    assert snapshot.mutate(None) == job


# -- the lane ---------------------------------------------------------------------------


def test_the_lane_of_a_destination_whatever_its_case() -> None:
    assert lane_id("Ann@Host.Example") == lane_id(" ann@host.example")
    assert lane_id("ann@host.example") != lane_id("bob@host.example")
    assert ImportLane.open("Ann@host.example", at=AT).id == lane_id(DEST)


def test_one_job_runs_at_a_time_and_the_next_is_named_on_release() -> None:
    lane = ImportLane.open(DEST, at=AT)
    lane.enqueue(JOB, at=AT)
    lane.enqueue(OTHER_JOB, at=AT)
    lane.enqueue(THIRD_JOB, at=AT)
    assert lane.head == JOB
    assert lane.position(THIRD_JOB) == 2
    with pytest.raises(AlreadyExists):
        lane.enqueue(OTHER_JOB, at=AT)
    lane.release(OTHER_JOB, at=LATER)  # cancelled while waiting: the head runs on
    lane.release(JOB, at=LATER)
    events = lane.collect_events()
    assert [getattr(e, "became_head", None) for e in events[1:4]] == [
        True,
        False,
        False,
    ]
    released = [e for e in events if isinstance(e, ImportLane.Released)]
    assert [e.next_head for e in released] == [None, THIRD_JOB]
    assert lane.head == THIRD_JOB
    with pytest.raises(NotFound):
        lane.release(JOB, at=LATER)
    assert replay(through_mapper(events)) == lane


def test_the_last_job_released_leaves_no_head() -> None:
    lane = ImportLane.open(DEST, at=AT)
    lane.enqueue(JOB, at=AT)
    lane.release(JOB, at=LATER)
    (*_, released) = lane.collect_events()
    assert isinstance(released, ImportLane.Released)
    assert released.next_head is None
    assert lane.head is None
    lane.enqueue(JOB, at=LATER)  # a job released may be queued again (a new run)
    assert lane.is_head(JOB)
