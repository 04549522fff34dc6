"""An invitation's mail is a job of its own (ADR-5): due when it is sent, mailed once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from application.jobs import AS_SOON_AS_POSSIBLE, SEND_INVITATION, jobs_for
from domain.errors import NotPermitted
from domain.invitation import VALIDITY, Invitation, LoginChoice

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def sent() -> Invitation:
    return Invitation.send(
        uuid4(),
        organisation_id=uuid4(),
        mailbox_id=uuid4(),
        address="erin@example.org",
        sent_to="erin@private.example",
        login_choice=LoginChoice.THE_ADDRESS,
        token_id=uuid4(),
        code_id=uuid4(),
        at=T0,
    )


def saved_before_codes_were_sealed() -> Invitation.Sent:
    """The event as an older log holds it: its state has no ``code_id``."""
    [event] = sent().collect_events()
    stored = object.__new__(Invitation.Sent)
    stored.__dict__.update({k: v for k, v in vars(event).items() if k != "code_id"})
    return stored


def test_a_sent_invitation_starts_its_mail_job_at_once() -> None:
    # rule ADR-5
    invitation = sent()
    [event] = invitation.collect_events()
    assert [(j.actor, j.args, j.due_at) for j in jobs_for(event)] == [
        (SEND_INVITATION, (str(invitation.id),), AS_SOON_AS_POSSIBLE)
    ]
    assert invitation.awaits_mail(at=T0)


def test_one_saved_without_a_sealed_code_was_mailed_by_its_request() -> None:
    # rule ADR-5: an older log's invitation starts no job and waits for no mail
    event = saved_before_codes_were_sealed()
    assert jobs_for(event) == []
    invitation = event.mutate(None)
    assert isinstance(invitation, Invitation)
    assert invitation.code_id is None
    assert invitation.mailed
    assert not invitation.awaits_mail(at=T0)


def test_it_is_mailed_once() -> None:
    # rule ADR-5
    invitation = sent()
    invitation.record_mailed(at=T0)
    assert not invitation.awaits_mail(at=T0)
    with pytest.raises(NotPermitted, match="mailed already"):
        invitation.record_mailed(at=T0)
    assert [type(e).__name__ for e in invitation.collect_events()] == [
        "Sent",
        "Mailed",
    ]


def test_an_accepted_or_expired_invitation_awaits_no_mail() -> None:
    # rule ADR-5: a repeat of the job after the code was used, or too late to use it
    accepted = sent()
    accepted.accept(uuid4(), at=T0 + timedelta(minutes=1))
    assert not accepted.awaits_mail(at=T0 + timedelta(minutes=2))
    expired = sent()
    assert expired.awaits_mail(at=T0 + VALIDITY - timedelta(seconds=1))
    assert not expired.awaits_mail(at=T0 + VALIDITY)
