"""The responder's derived ids and the operator's policy (RSP-4, RSP-9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import InvalidInput
from domain.replywindow import ReplyWindow
from domain.responderpolicy import (
    ResponderPolicy,
    hour_bucket,
    reply_budget_id,
    reply_window_id,
    responder_id,
)
from tests.unit.responder_support import ALICE, POLICY, T0, provision

# -- ids -----------------------------------------------------------------------------------


def test_one_responder_per_address_whatever_the_case() -> None:
    assert responder_id(ALICE) == responder_id("ALICE@Example.ORG")
    assert responder_id(ALICE) != responder_id("bob@example.org")
    assert provision().id == responder_id("Alice@example.org")


def test_window_and_budget_ids_ignore_case_and_separate_their_parts() -> None:
    # rule RSP-4: the window is per (message, sender), compared case-insensitively
    one = reply_window_id("alice@example.org", "away", "bob@x.org")
    assert one == reply_window_id("ALICE@example.org", "AWAY", "Bob@X.org")
    assert one != reply_window_id("alice@example.org", "away", "carol@x.org")
    assert one != reply_window_id("alice@example.org", "holidays", "bob@x.org")
    at = datetime(2024, 3, 1, 9, 59, 59, tzinfo=UTC)
    assert reply_budget_id(ALICE, at) == reply_budget_id(ALICE, at.replace(minute=0))
    assert reply_budget_id(ALICE, at) != reply_budget_id(
        ALICE, at + timedelta(seconds=1)
    )
    assert hour_bucket(at) == datetime(2024, 3, 1, 9, tzinfo=UTC)


def test_responder_and_window_ids_of_ascii_addresses_did_not_change() -> None:
    # rule RSP-4: the ids derived from ASCII keys are those of the case-folding keys,
    # so every responder and window recorded before is still found
    assert responder_id("Alice@Example.org") == responder_id("alice@example.org")
    folded = reply_window_id("alice@example.org", "away", "Bob@Other.ORG".casefold())
    assert reply_window_id("ALICE@example.org", "Away", "Bob@Other.ORG") == folded
    assert reply_window_id("alice@example.org", "away", "straße@x.org") != (
        reply_window_id("alice@example.org", "away", "strasse@x.org")
    )
    w = ReplyWindow.open("alice@example.org", "Away", "STRAßE@Other.org", at=T0)
    assert w.sender == "straße@other.org"


def test_the_default_policy() -> None:
    assert POLICY.hourly_cap == 20
    assert POLICY.max_received == 30
    assert POLICY.require_explicit_recipient
    with pytest.raises(InvalidInput):
        ResponderPolicy(hourly_cap=0)
    with pytest.raises(InvalidInput):
        ResponderPolicy(verification_validity=timedelta(0))
