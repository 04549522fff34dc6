"""Alternative senders: verified by a code, bounded tries and mails (RSP-2)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.address import EmailAddress
from domain.errors import InvalidInput, NotFound, NotPermitted
from domain.respondermessage import MessageDraft
from domain.responderpolicy import ResponderPolicy
from tests.strategies import replay, through_mapper
from tests.unit.responder_support import (
    ALICE,
    ALT,
    CODE,
    POLICY,
    T0,
    provision,
    refused,
)


def test_an_alternative_sender_must_be_verified_before_use() -> None:
    # rule RSP-2: the alternative sender address must have been verified beforehand
    responder = provision()
    refused(
        responder,
        lambda: responder.save_message(
            MessageDraft(name="Away", body="x", sender=ALT), at=T0
        ),
        NotPermitted,
    )
    responder.request_sender_verification(ALT, CODE, at=T0, policy=POLICY)
    refused(
        responder,
        lambda: responder.save_message(
            MessageDraft(name="Away", body="x", sender=ALT), at=T0
        ),
        NotPermitted,
    )
    assert responder.confirm_sender(ALT, code_matches=True, at=T0 + timedelta(hours=1))
    message = responder.save_message(
        MessageDraft(name="Away", body="x", sender="TEAM@example.org"), at=T0
    )
    assert message.sender == "TEAM@example.org"
    assert "team@example.org" in responder.verified_senders
    assert not responder.pending_senders


def test_the_address_itself_needs_no_verification_and_is_stored_as_none() -> None:
    responder = provision()
    assert (
        responder.save_message(
            MessageDraft(name="Away", body="x", sender="Alice@Example.org"), at=T0
        ).sender
        is None
    )
    refused(
        responder,
        lambda: responder.request_sender_verification(
            ALICE, CODE, at=T0, policy=POLICY
        ),
        InvalidInput,
    )


def test_wrong_codes_are_counted_and_the_last_one_drops_the_request() -> None:
    # rule RSP-2; the bound on attempts holds across workers because failures are events
    responder = provision()
    policy = ResponderPolicy(verification_attempts=3)
    responder.request_sender_verification(ALT, CODE, at=T0, policy=policy)
    assert not responder.confirm_sender(ALT, code_matches=False, at=T0)
    assert responder.pending_senders["team@example.org"].attempts_left == 2
    assert not responder.confirm_sender(ALT, code_matches=False, at=T0)
    assert not responder.confirm_sender(ALT, code_matches=False, at=T0)
    assert not responder.pending_senders
    refused(
        responder,
        lambda: responder.confirm_sender(ALT, code_matches=True, at=T0),
        NotFound,
    )
    assert "team@example.org" not in responder.verified_senders


def test_a_code_expires() -> None:
    # rule RSP-2
    responder = provision()
    expires = responder.request_sender_verification(ALT, CODE, at=T0, policy=POLICY)
    assert expires == T0 + POLICY.verification_validity
    refused(
        responder,
        lambda: responder.confirm_sender(ALT, code_matches=True, at=expires),
        NotPermitted,
    )
    assert responder.confirm_sender(
        ALT, code_matches=True, at=expires - timedelta(microseconds=1)
    )


def test_alternative_senders_are_told_apart_by_identity_not_case_folding() -> None:
    # rule RSP-2: verifying straße@ does not verify strasse@ (folding made them one);
    # ASCII keys are what they were, so senders verified before stay verified
    responder = provision()
    eszett = EmailAddress.parse("Straße@example.net")
    responder.request_sender_verification(eszett, CODE, at=T0, policy=POLICY)
    assert list(responder.pending_senders) == ["straße@example.net"]
    refused(
        responder,
        lambda: responder.confirm_sender(
            EmailAddress.parse("strasse@example.net"), code_matches=True, at=T0
        ),
        NotFound,
    )
    assert responder.confirm_sender(eszett, code_matches=True, at=T0)
    assert responder.verified_senders == {"straße@example.net"}
    saved = responder.save_message(
        MessageDraft(name="Away", body="x", sender="STRAßE@example.net"), at=T0
    )
    assert saved.sender == "STRAßE@example.net"
    refused(
        responder,
        lambda: responder.save_message(
            MessageDraft(name="Other", body="x", sender="strasse@example.net"), at=T0
        ),
        NotPermitted,
    )
    # The state a replay rebuilds keys them the same way.
    again = replay(through_mapper(responder.collect_events()))
    assert again == responder
    assert again is not None
    assert again.verified_senders == {"straße@example.net"}


def test_verification_mails_are_limited_per_address_per_hour_and_day() -> None:
    # rule RSP-2: issue 7 item 9; counted from the recorded requests
    responder = provision()
    at = T0
    for _ in range(3):
        responder.request_sender_verification(ALT, CODE, at=at, policy=POLICY)
        at += timedelta(minutes=10)
    refused(
        responder,
        lambda: responder.request_sender_verification(ALT, CODE, at=at, policy=POLICY),
        NotPermitted,
    )
    with pytest.raises(NotPermitted, match="ask again after 2024-03-01 10:00 UTC"):
        responder.request_sender_verification(ALT, CODE, at=at, policy=POLICY)
    at = T0 + timedelta(hours=1)  # the first of the three is an hour old
    responder.request_sender_verification(ALT, CODE, at=at, policy=POLICY)
    for _ in range(6):
        at += timedelta(hours=1)
        responder.request_sender_verification(ALT, CODE, at=at, policy=POLICY)
    at += timedelta(hours=1)
    with pytest.raises(NotPermitted, match="last day \\(at most 10\\)"):
        responder.request_sender_verification(ALT, CODE, at=at, policy=POLICY)
    at = T0 + timedelta(days=1, minutes=1)
    responder.request_sender_verification(ALT, CODE, at=at, policy=POLICY)
    # what the limit counts survives replay and snapshots
    events = responder.collect_events()
    assert replay(through_mapper(events)) == responder
    assert sum(map(len, responder.mails_since(at - timedelta(days=1)).values())) == 10


def test_verification_mails_of_one_address_to_all_alternatives_are_limited() -> None:
    # rule RSP-2: issue 7 item 9; fresh alternatives are no way around the limit
    responder = provision()
    policy = ResponderPolicy(verification_mails_per_hour_all=4)
    for i in range(4):
        other = EmailAddress.parse(f"alt{i}@example.net")
        responder.request_sender_verification(other, CODE, at=T0, policy=policy)
    fifth = EmailAddress.parse("alt5@example.net")
    with pytest.raises(NotPermitted, match=r"alice@example\.org had 4 verification"):
        responder.request_sender_verification(fifth, CODE, at=T0, policy=policy)
    responder.request_sender_verification(
        fifth, CODE, at=T0 + timedelta(hours=1), policy=policy
    )
