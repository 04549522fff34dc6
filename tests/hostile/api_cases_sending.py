"""Hostile cases for sending mail from an address (see ``test_api_hostile``)."""

from __future__ import annotations

from application.authorization import OPERATOR
from tests.hostile.api_cases import ANN, LOOKUP, OUTSIDE, Case, each, pick
from tests.hostile.support import BLOCK, EXTERNAL, HOSTED, LINE


def cases() -> list[Case]:
    c: list[Case] = []
    c += each(
        "sending.send/sender",
        pick(HOSTED, "nul", "crlf", "traversal", "surrogate"),
        lambda w, v: w.host.sending.send(
            v, to=[OUTSIDE], subject="Hi", body="Hello", by=OPERATOR
        ),
        ["address", "from", "sender", "domain"],
        LOOKUP,
    )
    c += each(
        "sending.send/to",
        EXTERNAL,
        lambda w, v: w.host.sending.send(
            ANN, to=[v], subject="Hi", body="Hello", by=OPERATOR
        ),
        ["to"],
    )
    c += each(
        "sending.send/cc",
        pick(EXTERNAL, "nul", "crlf", "esc", "surrogate"),
        lambda w, v: w.host.sending.send(
            ANN, to=[OUTSIDE], cc=[v], subject="Hi", body="Hello", by=OPERATOR
        ),
        ["cc"],
    )
    c += each(
        "sending.send/bcc",
        pick(EXTERNAL, "nul", "crlf", "esc", "surrogate"),
        lambda w, v: w.host.sending.send(
            ANN, to=[OUTSIDE], bcc=[v], subject="Hi", body="Hello", by=OPERATOR
        ),
        ["bcc"],
    )
    c += each(
        "sending.send/subject",
        LINE,
        lambda w, v: w.host.sending.send(
            ANN, to=[OUTSIDE], subject=v, body="Hello", by=OPERATOR
        ),
        ["subject"],
    )
    c += each(
        "sending.send/body",
        pick(BLOCK, "nul", "surrogate"),
        lambda w, v: w.host.sending.send(
            ANN, to=[OUTSIDE], subject="Hi", body=v, by=OPERATOR
        ),
        ["body"],
    )
    return c
