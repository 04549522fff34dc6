"""Hostile cases for responders: a message's text and schedule, its edits and
lifecycle, alternative senders, templates, and delivery (see ``test_api_hostile``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

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
    each,
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

if TYPE_CHECKING:
    from tests.hostile.conftest import World

EXTREME_DATES: Mapping[str, date | datetime] = {
    "datetime-year-1": datetime(1, 1, 1),  # noqa: DTZ001 - a wall-clock time of the mailbox
    "datetime-year-9999": datetime(9999, 12, 31, 23, 59),  # noqa: DTZ001
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


def cases() -> list[Case]:
    return [
        *_added_text(),
        *_added_schedule(),
        *_edits(),
        *_lifecycle(),
        *_senders(),
        *_templates(),
        *_delivery(),
    ]


def _by_name(verb: str) -> Callable[[World, Any], object]:
    """``responders.<verb>(ANN, name)``: activate, reset and delete take the same arguments."""

    def call(w: World, name: object) -> object:
        method: Callable[..., object] = getattr(w.host.responders, verb)
        return method(ANN, name, by=OPERATOR)

    return call


def _added_text() -> list[Case]:
    c: list[Case] = []
    c += each(
        "responders.add/name",
        pick(LINE, *CORE_LINE, "u2028", "bidi"),
        lambda w, v: w.host.responders.add(ANN, v, body="Away.", by=OPERATOR),
        ["name"],
    )
    c += each(
        "responders.add/body",
        BLOCK,
        lambda w, v: w.host.responders.add(ANN, "Other", body=v, by=OPERATOR),
        ["body"],
    )
    c += each(
        "responders.add/subject",
        LINE,
        lambda w, v: w.host.responders.add(
            ANN, "Other", body="Away.", subject=v, by=OPERATOR
        ),
        ["subject"],
    )
    return c


def _added_schedule() -> list[Case]:
    c: list[Case] = []
    c += each(
        "responders.add/weekdays",
        pick(LINE, "nul", "surrogate", "huge"),
        lambda w, v: w.host.responders.add(
            ANN, "Other", body="Away.", weekdays=[v], by=OPERATOR
        ),
        ["weekday"],
    )
    c += each(
        "responders.add/start",
        EXTREME_DATES,
        lambda w, v: w.host.responders.add(
            ANN, "Other", body="Away.", start=v, by=OPERATOR
        ),
        ["start", "schedule"],
    )
    c += each(
        "responders.add/end",
        EXTREME_DATES,
        lambda w, v: w.host.responders.add(
            ANN, "Other", body="Away.", end=v, by=OPERATOR
        ),
        ["end", "schedule"],
    )
    c += each(
        "responders.add/exclusions",
        pick(EXTERNAL, "nul", "crlf", "esc", "huge"),
        lambda w, v: w.host.responders.add(
            ANN, "Other", body="Away.", exclusions=[v], by=OPERATOR
        ),
        ["exclu"],
    )
    c += each(
        "responders.add/sender",
        pick(EXTERNAL, "nul", "crlf", "surrogate"),
        lambda w, v: w.host.responders.add(
            ANN, "Other", body="Away.", sender=v, by=OPERATOR
        ),
        ["sender"],
    )
    c += each(
        "responders.add/time_zone",
        TIME_ZONE,
        lambda w, v: w.host.responders.add(
            ANN, "Other", body="Away.", time_zone=v, by=OPERATOR
        ),
        ["time zone"],
    )
    return c


def _edits() -> list[Case]:
    c: list[Case] = []
    c += each(
        "responders.edit/body",
        pick(BLOCK, "nul", "esc", "surrogate", "huge"),
        lambda w, v: w.host.responders.edit(ANN, seed.MESSAGE, body=v, by=OPERATOR),
        ["body"],
    )
    c += each(
        "responders.edit/subject",
        pick(LINE, "crlf", "vt", "u2028", "huge"),
        lambda w, v: w.host.responders.edit(
            ANN, seed.MESSAGE, body="Away.", subject=v, by=OPERATOR
        ),
        ["subject"],
    )
    c += each(
        "responders.edit/start",
        pick(EXTREME_DATES, "datetime-year-1", "date-year-1"),
        lambda w, v: w.host.responders.edit(
            ANN, seed.MESSAGE, body="Away.", start=v, by=OPERATOR
        ),
        ["start", "schedule"],
    )
    c += each(
        "responders.edit/end",
        pick(EXTREME_DATES, "datetime-year-9999", "date-year-9999"),
        lambda w, v: w.host.responders.edit(
            ANN, seed.MESSAGE, body="Away.", end=v, by=OPERATOR
        ),
        ["end", "schedule"],
    )
    return c


def _lifecycle() -> list[Case]:
    c: list[Case] = []
    for verb in ("activate", "reset", "delete"):
        c += each(
            f"responders.{verb}/name",
            pick(LINE, "nul", "esc", "surrogate", "huge"),
            _by_name(verb),
            ["message", "name"],
            LOOKUP,
        )
    c += each(
        "responders.deactivate/address",
        pick(HOSTED, "nul", "traversal", "surrogate"),
        lambda w, v: w.host.responders.deactivate(v, by=OPERATOR),
        ["address", "domain"],
        LOOKUP,
    )
    c += each(
        "responders.set_time_zone/time_zone",
        pick(TIME_ZONE, "traversal", "absolute", "nul", "surrogate"),
        lambda w, v: w.host.responders.set_time_zone(ANN, v, by=OPERATOR),
        ["time zone"],
    )
    c += each(
        "responders.status/address",
        pick(HOSTED, "nul", "traversal", "surrogate"),
        lambda w, v: w.host.responders.status(v),
        ["address", "domain"],
        LOOKUP,
    )
    c += each(
        "responders.history/limit",
        {**NUMBER, "zero": 0},
        lambda w, v: w.host.responders.history(ANN, v),
        ["limit"],
    )
    return c


def _senders() -> list[Case]:
    c: list[Case] = []
    c += each(
        "responders.request_sender_verification/alternative",
        EXTERNAL,
        lambda w, v: w.host.responders.request_sender_verification(ANN, v, by=OPERATOR),
        ["sender"],
    )
    c += each(
        "responders.request_sender_verification/address",
        pick(HOSTED, "nul", "crlf", "traversal", "surrogate"),
        lambda w, v: w.host.responders.request_sender_verification(
            v, OUTSIDE, by=OPERATOR
        ),
        ["address", "domain"],
        LOOKUP,
    )
    c += each(
        "responders.confirm_sender/code",
        CODE,
        lambda w, v: w.host.responders.confirm_sender(
            ANN, seed.PENDING_SENDER, v, by=OPERATOR
        ),
        ["code"],
    )
    c += each(
        "responders.confirm_sender/alternative",
        pick(EXTERNAL, "nul", "crlf", "surrogate", "huge"),
        lambda w, v: w.host.responders.confirm_sender(ANN, v, "12345678", by=OPERATOR),
        ["sender"],
    )
    return c


def _templates() -> list[Case]:
    c: list[Case] = []
    c += each(
        "responders.save_template/name",
        pick(LINE, *CORE_LINE),
        lambda w, v: w.host.responders.save_template(
            DOMAIN_NAME, v, body="Closed.", by=OPERATOR
        ),
        ["template", "name"],
    )
    c += each(
        "responders.save_template/body",
        pick(BLOCK, "nul", "esc", "surrogate", "huge"),
        lambda w, v: w.host.responders.save_template(
            DOMAIN_NAME, "Other", body=v, by=OPERATOR
        ),
        ["template", "body"],
    )
    c += each(
        "responders.save_template/subject",
        pick(LINE, *CORE_LINE, "vt", "u2028"),
        lambda w, v: w.host.responders.save_template(
            DOMAIN_NAME, "Other", body="Closed.", subject=v, by=OPERATOR
        ),
        ["subject"],
    )
    c += each(
        "responders.apply_template/name",
        pick(LINE, "nul", "esc", "surrogate", "huge"),
        lambda w, v: w.host.responders.apply_template(DOMAIN_NAME, v, by=OPERATOR),
        ["template"],
        LOOKUP,
    )
    return c


def _delivery() -> list[Case]:
    c: list[Case] = []
    c += each(
        "responders.deliver/recipient",
        pick(HOSTED, *CORE_HOSTED, "esc"),
        lambda w, v: w.host.responders.deliver(v, OUTSIDE, MESSAGE),
        ["recipient", "address", "domain"],
        LOOKUP,
    )
    c += each(
        "responders.deliver/received_at",
        EXTREME_RECEIVED,
        lambda w, v: w.host.responders.deliver(ANN, OUTSIDE, MESSAGE, v),
        ["received"],
    )
    c += [
        Case(
            "responders.deliver/raw_message[over-50-MB]",
            lambda w: w.host.responders.deliver(
                ANN, OUTSIDE, b"Subject: x\r\n\r\n" + b"x" * (50 * MB + 1)
            ),
            ("message", "bytes", "larger"),
        )
    ]
    return c
