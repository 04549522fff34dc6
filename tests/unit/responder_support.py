"""What the tests of the responder's modules share: a provisioned responder, wall times."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from domain.address import EmailAddress
from domain.responder import AutoResponder
from domain.respondermessage import MessageDraft
from domain.responderpolicy import ResponderPolicy

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
ALICE = EmailAddress.parse("alice@example.org")
ZURICH = ZoneInfo("Europe/Zurich")
POLICY = ResponderPolicy()
CODE = UUID("00000000-0000-4000-8000-00000000c0de")


def wall(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A wall-clock time of the mailbox zone: naive on purpose (RSP-6)."""
    return datetime(year, month, day, hour, minute)  # noqa: DTZ001 - a wall-clock time


def provision(zone: str = "Europe/Zurich") -> AutoResponder:
    return AutoResponder.provision(ALICE, time_zone=zone, at=T0)


def with_messages(*names: str) -> AutoResponder:
    responder = provision()
    for name in names:
        responder.save_message(MessageDraft(name=name, body=f"{name} body"), at=T0)
    return responder


def refused(
    responder: Any,  # noqa: ANN401 - any aggregate
    command: Callable[[], object],
    error: type[Exception],
) -> None:
    """The command raises ``error`` and leaves the aggregate exactly as it was."""
    before = copy.deepcopy(responder)
    with pytest.raises(error):
        command()
    assert responder == before


ALT = EmailAddress.parse("team@example.org")

DST_ZONES = (
    "Europe/Zurich",
    "America/New_York",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
)
