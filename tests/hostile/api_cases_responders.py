"""Hostile cases for responders: a message's text and schedule, its edits and
lifecycle, alternative senders, templates, and delivery (see ``test_api_hostile``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime

from application.authorization import OPERATOR
from tests.hostile import seed
from tests.hostile.api_cases import (
    ANN,
    CORE_HOSTED,
    CORE_LINE,
    DOMAIN_NAME,
    LOOKUP,
    MESSAGE,
    OUTSIDE,
    Case,
    Entry,
    listed,
    pick,
)
from tests.hostile.support import (
    BLOCK,
    EXTERNAL,
    HOSTED,
    LINE,
    MB,
    NUMBER,
    TIME_ZONE,
)

EXTREME_DATES: Mapping[str, date | datetime] = {
    "datetime-year-1": datetime(1, 1, 1),  # noqa: DTZ001 - a wall-clock time of the mailbox
    "datetime-year-9999": datetime(9999, 12, 31, 23, 59),  # noqa: DTZ001 - a wall-clock time of the mailbox
    "date-year-1": date(1, 1, 1),
    "date-year-9999": date(9999, 12, 31),
}
EXTREME_RECEIVED: Mapping[str, datetime] = {
    "year-1": datetime(1, 1, 1, tzinfo=UTC),
    "1970": datetime(1970, 1, 1, tzinfo=UTC),
    "year-9999": datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
    "naive": datetime(2026, 1, 1, 10, 0),  # noqa: DTZ001 - the hostile value
}
CODE: Mapping[str, str] = {
    "nul": "1234\x005678",
    "esc": "\x1b[31m12345678",
    "arabic-indic": "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668",
    "surrogate": "1234\udcff5678",
    "huge": "1" * MB,
}


ADD = Entry("responders.add", address=ANN, name="Other", body="Away.", by=OPERATOR)
EDIT = Entry(
    "responders.edit", address=ANN, name=seed.MESSAGE, body="Away.", by=OPERATOR
)
HISTORY = Entry("responders.history", address=ANN)
VERIFY = Entry(
    "responders.request_sender_verification",
    address=ANN,
    alternative=OUTSIDE,
    by=OPERATOR,
)
CONFIRM = Entry(
    "responders.confirm_sender",
    address=ANN,
    alternative=seed.PENDING_SENDER,
    code="12345678",
    by=OPERATOR,
)
SAVE_TEMPLATE = Entry(
    "responders.save_template",
    domain=DOMAIN_NAME,
    name="Other",
    body="Closed.",
    by=OPERATOR,
)
DELIVER = Entry(
    "responders.deliver", recipient=ANN, envelope_sender=OUTSIDE, raw_message=MESSAGE
)


def cases() -> list[Case]:
    return [
        *_added(),
        *_edits(),
        *_lifecycle(),
        *_senders(),
        *_templates(),
        *_delivery(),
    ]


def _added() -> list[Case]:
    return [
        *ADD.vary("name", pick(LINE, *CORE_LINE, "u2028", "bidi"), ["name"]),
        *ADD.vary("body", BLOCK, ["body"]),
        *ADD.vary("subject", LINE, ["subject"]),
        *ADD.vary(
            "weekdays", listed(pick(LINE, "nul", "surrogate", "huge")), ["weekday"]
        ),
        *ADD.vary("start", EXTREME_DATES, ["start", "schedule"]),
        *ADD.vary("end", EXTREME_DATES, ["end", "schedule"]),
        *ADD.vary(
            "exclusions",
            listed(pick(EXTERNAL, "nul", "crlf", "esc", "huge")),
            ["exclu"],
        ),
        *ADD.vary("sender", pick(EXTERNAL, "nul", "crlf", "surrogate"), ["sender"]),
        *ADD.vary("time_zone", TIME_ZONE, ["time zone"]),
    ]


def _edits() -> list[Case]:
    return [
        *EDIT.vary("body", pick(BLOCK, "nul", "esc", "surrogate", "huge"), ["body"]),
        *EDIT.vary("subject", pick(LINE, "crlf", "vt", "u2028", "huge"), ["subject"]),
        *EDIT.vary(
            "start",
            pick(EXTREME_DATES, "datetime-year-1", "date-year-1"),
            ["start", "schedule"],
        ),
        *EDIT.vary(
            "end",
            pick(EXTREME_DATES, "datetime-year-9999", "date-year-9999"),
            ["end", "schedule"],
        ),
    ]


def _lifecycle() -> list[Case]:
    by_name: list[Case] = []
    for verb in ("activate", "reset", "delete"):
        by_name += Entry(f"responders.{verb}", address=ANN, by=OPERATOR).vary(
            "name",
            pick(LINE, "nul", "esc", "surrogate", "huge"),
            ["message", "name"],
            LOOKUP,
        )
    address = pick(HOSTED, "nul", "traversal", "surrogate")
    return [
        *by_name,
        *Entry("responders.deactivate", by=OPERATOR).vary(
            "address", address, ["address", "domain"], LOOKUP
        ),
        *Entry("responders.set_time_zone", address=ANN, by=OPERATOR).vary(
            "time_zone",
            pick(TIME_ZONE, "traversal", "absolute", "nul", "surrogate"),
            ["time zone"],
        ),
        *Entry("responders.status").vary(
            "address", address, ["address", "domain"], LOOKUP
        ),
        *HISTORY.vary("limit", {**NUMBER, "zero": 0}, ["limit"]),
    ]


def _senders() -> list[Case]:
    return [
        *VERIFY.vary("alternative", EXTERNAL, ["sender"]),
        *VERIFY.vary(
            "address",
            pick(HOSTED, "nul", "crlf", "traversal", "surrogate"),
            ["address", "domain"],
            LOOKUP,
        ),
        *CONFIRM.vary("code", CODE, ["code"]),
        *CONFIRM.vary(
            "alternative",
            pick(EXTERNAL, "nul", "crlf", "surrogate", "huge"),
            ["sender"],
        ),
    ]


def _templates() -> list[Case]:
    return [
        *SAVE_TEMPLATE.vary("name", pick(LINE, *CORE_LINE), ["template", "name"]),
        *SAVE_TEMPLATE.vary(
            "body",
            pick(BLOCK, "nul", "esc", "surrogate", "huge"),
            ["template", "body"],
        ),
        *SAVE_TEMPLATE.vary(
            "subject", pick(LINE, *CORE_LINE, "vt", "u2028"), ["subject"]
        ),
        *Entry("responders.apply_template", domain=DOMAIN_NAME, by=OPERATOR).vary(
            "name",
            pick(LINE, "nul", "esc", "surrogate", "huge"),
            ["template"],
            LOOKUP,
        ),
    ]


def _delivery() -> list[Case]:
    return [
        *DELIVER.vary(
            "recipient",
            pick(HOSTED, *CORE_HOSTED, "esc"),
            ["recipient", "address", "domain"],
            LOOKUP,
        ),
        *DELIVER.vary("received_at", EXTREME_RECEIVED, ["received"]),
        Case(
            "responders.deliver/raw_message[over-50-MB]",
            lambda w: w.host.responders.deliver(
                ANN, OUTSIDE, b"Subject: x\r\n\r\n" + b"x" * (50 * MB + 1)
            ),
            ("message", "bytes", "larger"),
        ),
    ]
