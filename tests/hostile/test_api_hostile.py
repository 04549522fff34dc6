"""Every entry point of ``MailHost`` fed hostile input (issue 7, "What to reach").

Each case names one entry point, one argument and one kind of hostile value. The answer
must be ``InvalidInput`` (or the use case's documented refusal: ``LoginRefused`` for a
login, ``NotPermitted`` for a token, ``NotFound`` for a lookup of what cannot exist), its
message must name the argument, no secret may be in it, and no store may have changed:
event log, credential store, read models, mail store, outbox. The cases are listed by
area of the API, one module each (``api_cases_<area>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from domain.errors import InvalidInput
from domain.replymail import compose_reply
from domain.replyplan import Decision
from tests.hostile import (
    api_cases_accounts,
    api_cases_addresses,
    api_cases_configuration,
    api_cases_responders,
    api_cases_sending,
    api_cases_services,
    seed,
)
from tests.hostile.api_cases import (
    ANN,
    GOOD_PASSWORD,
    MESSAGE,
    OUTSIDE,
    Call,
    Case,
)
from tests.hostile.api_cases_accounts import RECOVERY_PHONE, REGISTER
from tests.hostile.api_cases_addresses import (
    ACCEPT,
    ADD_ALIAS,
    CREATE_FOR_USERS,
    INVITE,
    UNASSIGNED,
    USAGE,
)
from tests.hostile.api_cases_responders import ADD, CONFIRM, DELIVER, HISTORY
from tests.hostile.api_cases_sending import SEND
from tests.hostile.api_cases_services import CREATE, RECORD_DMARC
from tests.hostile.support import (
    MB,
    assert_unchanged,
    changes,
    names_field,
    raw_controls,
    snapshot,
)

if TYPE_CHECKING:
    from tests.hostile.conftest import World


def _cases() -> list[Case]:
    return [
        *api_cases_accounts.cases(),
        *api_cases_services.cases(),
        *api_cases_addresses.cases(),
        *api_cases_sending.cases(),
        *api_cases_responders.cases(),
        *api_cases_configuration.cases(),
    ]


API_CASES = _cases()


@pytest.mark.parametrize("case", API_CASES, ids=[c.id for c in API_CASES])
def test_entry_point_refuses_hostile_input(case: Case, world: World) -> None:
    before = world.pristine
    outcome = _outcome(case, world)
    after = snapshot(world.root)
    world.after.append(after)
    written = changes(before, after)
    wanted = " or ".join(t.__name__ for t in case.refusal)
    if not isinstance(outcome, case.refusal):
        pytest.fail(
            f"expected {wanted}, got {_describe(outcome)}"
            + (f"; and it wrote: {' | '.join(written)}" if written else ""),
            pytrace=False,
        )
    message = str(outcome)
    problems = []
    if not names_field(message, case.words):
        problems.append(f"the message does not name {' or '.join(case.words)}")
    if case.secret is not None and (
        case.secret[:64] in message or repr(case.secret)[1:65] in message
    ):
        problems.append("the message holds the secret")
    if written:
        problems.append("it wrote: " + " | ".join(written))
    if problems:
        pytest.fail(
            f"{type(outcome).__name__} {message[:300]!r}: " + "; ".join(problems),
            pytrace=False,
        )


def _outcome(case: Case, world: World) -> object:
    try:
        return ("accepted", case.call(world))
    except Exception as error:  # noqa: BLE001 - the kind of error is what is checked
        return error


def _describe(outcome: object) -> str:
    if isinstance(outcome, BaseException):
        return f"{type(outcome).__name__}: {str(outcome)[:300]!r}"
    return f"no error (returned {str(outcome)[:200]!r})"


# -- deliver: the MTA's input is never refused for its content ---------------------------

RAW: Mapping[str, bytes] = {
    "invalid-utf8": b"From: \xff\xfe bob@example.net\r\nSubject: \xc3\x28\xa0\xa1\r\n\r\n\xff",
    "nul": b"From: bob@example.net\x00\r\nSubject: a\x00b\r\n\r\nbody\x00",
    "esc-subject": b"From: bob@example.net\r\n"
    b"Subject: \x1b[31mrestore at https://evil.example/ \x07\r\n\r\nx",
    "encoded-crlf-subject": b"From: bob@example.net\r\n"
    b"Subject: =?utf-8?q?Hi=0D=0ABcc:_evil@example.net?=\r\n\r\nx",
    "encoded-esc-subject": b"From: bob@example.net\r\n"
    b"Subject: =?utf-8?b?G1szMW0Hcm91Z2U=?=\r\n\r\nx",
    "huge-header": b"From: bob@example.net\r\nSubject: "
    + b"x" * (2 * MB)
    + b"\r\n\r\nx",
    "many-headers": b"".join(b"X-H%d: v\r\n" % i for i in range(100_000)) + b"\r\nx",
    "folded-forever": b"Subject: a\r\n" + b" b\r\n" * 200_000 + b"\r\nx",
    "no-separator": b"\xff" * 10_000,
    "empty": b"",
    "bad-message-id": b"From: bob@example.net\r\nMessage-ID: <\x1b[31m\r\n evil>\r\nReferences: "
    + b"<a@b> " * 10_000
    + b"\r\n\r\nx",
}
SENDER: Mapping[str, str] = {
    "crlf": "bob@example.net\r\nRCPT TO:<evil@example.net>",
    "nul": "bob\x00@example.net",
    "esc": "\x1b[31mbob@example.net",
    "surrogate": "bob\udcff@example.net",
    "huge": "b" * 100_000 + "@example.net",
}


@pytest.mark.parametrize("raw", RAW.values(), ids=list(RAW))
def test_deliver_decides_on_any_message(raw: bytes, world: World) -> None:
    """A message is data from outside: a decision (or InvalidInput), never a crash, and a
    reply, if decided, carries none of the attacker's control characters or headers."""
    before = snapshot(world.root)
    try:
        decision = world.host.responders.deliver(ANN, "bob@example.net", raw)
    except InvalidInput:
        assert_unchanged(before, snapshot(world.root))
        return
    assert isinstance(decision, Decision)
    if not decision.reply:
        assert_unchanged(before, snapshot(world.root))
        return
    assert decision.plan is not None
    composed = compose_reply(
        decision.plan, date=datetime.now(UTC) + timedelta(seconds=1)
    )
    text = composed.message.as_bytes().decode("utf-8", "backslashreplace")
    headers = text.split("\r\n\r\n", 1)[0].split("\n\n", 1)[0]
    assert not raw_controls(headers.replace("\r\n", "\n")), raw_controls(headers)
    names = {
        line.split(":", 1)[0].casefold()
        for line in headers.splitlines()
        if line and not line[0].isspace()
    }
    assert "bcc" not in names
    assert len(str(composed.message["Subject"])) <= 998


@pytest.mark.parametrize("sender", SENDER.values(), ids=list(SENDER))
def test_deliver_never_answers_a_hostile_envelope_sender(
    sender: str, world: World
) -> None:
    before = snapshot(world.root)
    try:
        decision = world.host.responders.deliver(ANN, sender, MESSAGE)
    except InvalidInput as refused:
        message = str(refused)
        replied = False
    else:
        message, replied = "sender", decision.reply
    assert names_field(message, ["sender"]), message
    assert not replied
    assert_unchanged(before, snapshot(world.root))


# -- controls: the same calls with ordinary values succeed --------------------------------
# Without them a case could pass because its call was refused for another reason.

CONTROLS: Mapping[str, Call] = {
    "accounts.register": lambda w: REGISTER.call(w, display_name="Carol"),
    "accounts.change_recovery_phone": RECOVERY_PHONE.call,
    "services.create": CREATE.call,
    "services.record_dmarc": lambda w: RECORD_DMARC.call(
        w, record="v=DMARC1; p=reject"
    ),
    "addresses.create_for_users": lambda w: CREATE_FOR_USERS.call(
        w, signature=seed.SIGNATURE_TEMPLATE
    ),
    "addresses.create_unassigned": lambda w: UNASSIGNED.call(w, password=GOOD_PASSWORD),
    "addresses.add_alias": lambda w: ADD_ALIAS.call(w, alias="anna"),
    "addresses.invite": INVITE.call,
    "addresses.accept_invitation": lambda w: ACCEPT.call(w, display_name="Carol"),
    "addresses.record_usage": USAGE.call,
    "sending.send": lambda w: SEND.call(w, cc=[OUTSIDE], bcc=[OUTSIDE]),
    "responders.add": lambda w: ADD.call(
        w,
        subject="Away",
        weekdays=["mon"],
        start=datetime(2026, 12, 20, 8, 0),  # noqa: DTZ001 - the mailbox's wall clock
        end=date(2027, 1, 3),
        exclusions=["@example.net"],
        time_zone="Europe/Zurich",
    ),
    "responders.history": lambda w: HISTORY.call(w, limit=10),
    "responders.confirm_sender": CONFIRM.call,
    "responders.deliver": lambda w: DELIVER.call(w, received_at=datetime.now(UTC)),
}


@pytest.mark.parametrize("call", CONTROLS.values(), ids=list(CONTROLS))
def test_ordinary_values_are_accepted(call: Call, world: World) -> None:
    call(world)
