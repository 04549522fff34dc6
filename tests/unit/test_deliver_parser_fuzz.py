"""``deliver``'s parser fed arbitrary bytes (issue 7): a decision every time, bounded work.

Whatever an MTA pipes in (binary junk, header-like lines in obsolete syntax, folded and
encoded values, bare CR or LF, NUL, 8-bit bytes, no blank line at all), reading the
header block and deciding never raises, a reply composed from it can be written, and
no byte beyond the header bound is ever looked at: that is the bound on the work, checked
on what is read, not on a clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.headerregistry import BaseHeader, HeaderRegistry

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import incoming
from domain.address import EmailAddress
from domain.autoreply import decide
from domain.incoming import Headers, header_block
from domain.responder import AutoResponder
from domain.respondermessage import MessageDraft, ResponderConfig
from domain.responderpolicy import ResponderPolicy
from tests.unit.autoreply_support import decided_and_composed

T0 = datetime(2024, 7, 3, 10, 0, tzinfo=UTC)
ADDRESS = "alice@example.org"
POLICY = ResponderPolicy()
LENIENT = ResponderPolicy(require_explicit_recipient=False)
REGISTRY = HeaderRegistry()


def _config() -> ResponderConfig:
    r = AutoResponder.provision(
        EmailAddress.parse(ADDRESS), time_zone="Europe/Zurich", at=T0 - timedelta(1)
    )
    r.save_message(MessageDraft(name="Away", body="Away."), at=T0 - timedelta(1))
    r.activate("Away", at=T0 - timedelta(1))
    return r.config()


CONFIG = _config()

# The fields the decision reads, spelled the ways senders spell them.
NAMES = st.sampled_from(
    [
        b"From",
        b"To",
        b"Cc",
        b"Resent-To",
        b"Subject",
        b"Message-ID",
        b"References",
        b"In-Reply-To",
        b"Auto-Submitted",
        b"auto-submitted",
        b"Precedence",
        b"List-Id",
        b"List-Unsubscribe",
        b"Mailing-List",
        b"X-Auto-Response-Suppress",
        b"X-Spam-Flag",
        b"X-Spam-Status",
        b"Received",
        b"Bcc",
        b"Content-Type",
    ]
) | st.binary(min_size=1, max_size=20)
VALUES = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"auto-generated",
            b"no",
            b"bulk",
            b"OOF, All",
            b"=?utf-8?q?auto-generated?=",
            b"=?utf-8?b?w6nDqQ==?=",
            b'"Alice" <alice@example.org>, undisclosed-recipients:;',
            b"alice@example.org (comment (nested))",
            b"<a@b> <c@d>" * 20,
            b"\xff\xfe\x00",
            b"(" * 50 + b")" * 50,
            b'"' * 30,
            b"=?" * 40,
        ]
    ),
)
COLONS = st.sampled_from([b":", b" :", b"\t:", b"  :\t", b"", b"::"])
ENDS = st.sampled_from([b"\r\n", b"\n", b"\r", b"\r\r\n", b""])
FOLDS = st.lists(
    st.tuples(st.sampled_from([b" ", b"\t", b"  "]), VALUES, ENDS), max_size=3
)
FIELDS = st.lists(st.tuples(NAMES, COLONS, VALUES, ENDS, FOLDS), max_size=25)


@st.composite
def header_ish(draw: st.DrawFn) -> bytes:
    lines = []
    for name, colon, value, end, folds in draw(FIELDS):
        lines.append(name + colon + b" " + value + end)
        lines += [blank + more + fend for blank, more, fend in folds]
    body = draw(st.sampled_from([b"\r\n\r\nHello.\r\n", b"\n\nHi", b"", b"\r\n"]))
    return b"".join(lines) + body


def _decides(raw: bytes, sender: str = "bob@other.org") -> None:
    headers = header_block(raw)
    for policy in (POLICY, LENIENT):
        decided_and_composed(headers, config=CONFIG, sender=sender, rules=policy)


@given(raw=st.binary(max_size=4096))
def test_arbitrary_bytes_give_a_decision(raw: bytes) -> None:
    _decides(raw)


@settings(max_examples=300)
@given(raw=header_ish(), sender=st.sampled_from(["bob@other.org", "<>", "x", ""]))
def test_header_like_bytes_give_a_decision(raw: bytes, sender: str) -> None:
    _decides(raw, sender)


def _same(a: Headers, b: Headers) -> bool:
    return (
        a.oversized == b.oversized
        and a.names == b.names
        and all(a.values(n) == b.values(n) for n in a.names)
    )


@given(
    raw=st.one_of(header_ish(), st.binary(max_size=600)),
    tail=st.binary(min_size=1, max_size=300),
    limit=st.integers(min_value=0, max_value=400),
)
def test_no_byte_beyond_the_bound_is_read(raw: bytes, tail: bytes, limit: int) -> None:
    # issue 7 item 12: past ``limit`` (+ the blank line's 4 bytes) nothing matters
    data = raw + tail
    seen = header_block(data, limit=limit)
    if len(data) > limit + 4:
        cut = data[: limit + 4]
        assert _same(seen, header_block(cut + b"\0" + tail, limit=limit))
        assert _same(seen, header_block(cut + b"\r\n\r\n" * 100, limit=limit))
    if seen.oversized is None:
        assert sum(map(len, seen.names)) <= limit
    else:
        assert seen.names == []


def test_a_huge_header_block_is_not_read() -> None:
    # issue 7 item 12: 23 MB of header took 24 s; now nothing past 256 KiB is parsed
    huge = b"X-Junk: " + b"a" * (23 * 1024 * 1024) + b"\r\n\r\nbody"
    headers = header_block(huge)
    assert headers.oversized is not None
    assert headers.names == []
    _decides(huge)


@pytest.mark.parametrize(
    "head",
    [
        b"To: " + b"bob@other.org, " * 15_000 + ADDRESS.encode(),
        b"To: x@other.org\r\n" * 12_000 + b"Cc: " + ADDRESS.encode(),
        b"From: " + b"g: a@b.c; " * 20_000,
    ],
    ids=["one-huge-to", "many-to-fields", "huge-from"],
)
def test_structured_parsing_is_bounded_and_addresses_still_found(
    head: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # issue 7 item 12: the stdlib's address parser is superlinear; it sees a bounded
    # share of the header, and an explicit recipient past it is still found by a scan
    parsed: list[int] = []

    def counting(name: str, value: str) -> BaseHeader:
        parsed.append(len(value))
        return REGISTRY(name, value)

    monkeypatch.setattr(incoming, "_REGISTRY", counting)
    headers = header_block(head + b"\r\n\r\nbody")
    assert headers.oversized is None
    decision = decide(
        CONFIG,
        recipient=ADDRESS,
        envelope_sender="bob@other.org",
        headers=headers,
        received_at=T0,
        window_last_sent=None,
        budget_used=0,
        policy=POLICY,
    )
    assert all(n <= incoming.MAX_PARSED_FIELD for n in parsed)
    overhead = incoming.PARSE_OVERHEAD
    assert sum(n + overhead for n in parsed) <= incoming.MAX_PARSED_TOTAL
    if b"From" not in head:
        assert decision.reply, decision
