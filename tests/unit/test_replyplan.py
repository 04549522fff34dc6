"""A decision's Message-ID and its JSON form (RSP-4)."""

from __future__ import annotations

import json
from datetime import timedelta

from domain.replymail import compose_reply
from tests.unit.autoreply_support import ADDRESS, ORDINARY, T0, deliver, raw


def test_the_message_id_is_derived_from_the_decision() -> None:
    # rule RSP-8: a re-send of the same decision is recognisable by its Message-ID
    text = raw(*ORDINARY, f"To: {ADDRESS}")
    one = deliver(text, sender="Bob@other.org").plan
    two = deliver(text, sender="bob@OTHER.org").plan
    later = deliver(text, at=T0 + timedelta(days=8)).plan
    assert one is not None
    assert two is not None
    assert later is not None
    assert one.message_id == two.message_id
    assert one.message_id != later.message_id
    assert one.message_id.endswith("@example.org>")
    assert "bob" not in one.message_id
    assert compose_reply(one, date=T0).message["Message-ID"] == one.message_id


def test_the_decision_prints_as_one_json_object() -> None:
    # The `mailhost deliver` contract of issue 4: {"reply": ..., "reason": ..., ...}
    yes = deliver(raw(*ORDINARY, f"To: {ADDRESS}"))
    no = deliver(raw(*ORDINARY, f"To: {ADDRESS}", "List-Id: <x>"))
    for decision in (yes, no):
        data = json.loads(json.dumps(decision.as_dict()))
        assert data["reply"] is decision.reply
        assert data["reason"] == decision.reason
        assert data["rule"] == decision.rule
    assert json.loads(json.dumps(yes.as_dict()))["to"] == "bob@other.org"
