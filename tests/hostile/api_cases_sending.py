"""Hostile cases for sending mail from an address (see ``test_api_hostile``)."""

from __future__ import annotations

from application.authorization import OPERATOR
from tests.hostile.api_cases import ANN, LOOKUP, OUTSIDE, Case, Entry, listed, pick
from tests.hostile.support import BLOCK, EXTERNAL, HOSTED, LINE

SEND = Entry(
    "sending.send",
    sender=ANN,
    to=[OUTSIDE],
    subject="Hi",
    body="Hello",
    by=OPERATOR,
)


def cases() -> list[Case]:
    copied = listed(pick(EXTERNAL, "nul", "crlf", "esc", "surrogate"))
    return [
        *SEND.vary(
            "sender",
            pick(HOSTED, "nul", "crlf", "traversal", "surrogate"),
            ["address", "from", "sender", "domain"],
            LOOKUP,
        ),
        *SEND.vary("to", listed(EXTERNAL), ["to"]),
        *SEND.vary("cc", copied, ["cc"]),
        *SEND.vary("bcc", copied, ["bcc"]),
        *SEND.vary("subject", LINE, ["subject"]),
        *SEND.vary("body", pick(BLOCK, "nul", "surrogate"), ["body"]),
    ]
