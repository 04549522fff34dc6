"""The LMTP wire contract: listen addresses and MAILHOST_LMTP (pure parsing)."""

from __future__ import annotations

import json
import math
from email._header_value_parser import get_angle_addr
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infrastructure.lmtpwire import (
    ListenAddress,
    decided_reply,
    json_value,
    listen_parts,
    parse_decided,
    parse_listen,
    plain_path,
)
from infrastructure.settings import ConfigurationError, Settings


@pytest.mark.parametrize(
    ("text", "expected", "loopback"),
    [
        ("127.0.0.1:2424", ListenAddress(host="127.0.0.1", port=2424), True),
        ("[::1]:24", ListenAddress(host="::1", port=24), True),
        ("192.0.2.1:24", ListenAddress(host="192.0.2.1", port=24), False),
        ("unix:/run/mh.sock", ListenAddress(path=Path("/run/mh.sock")), True),
    ],
)
def test_listen_addresses(text: str, expected: ListenAddress, loopback: bool) -> None:
    assert parse_listen(text) == expected
    assert expected.is_loopback is loopback
    assert parse_listen(str(expected)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "localhost:24",
        "127.0.0.1",
        "127.0.0.1:0",
        "127.0.0.1:65536",
        "127.0.0.1:x",
        "unix:relative.sock",
        ":24",
        "127.0.0.1:\u0661\u0662",
    ],
)
def test_bad_listen_addresses_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        parse_listen(text)


def test_port_zero_only_for_a_listener() -> None:
    assert parse_listen("127.0.0.1:0", any_port=True).port == 0


def test_mailhost_lmtp_is_read_and_checked() -> None:
    assert Settings.from_env(
        {"MAILHOST_LMTP": "unix:/run/x.sock"}
    ).lmtp == ListenAddress(path=Path("/run/x.sock"))
    assert Settings.from_env({"MAILHOST_LMTP": ""}).lmtp is None
    with pytest.raises(ConfigurationError, match="MAILHOST_LMTP"):
        Settings.from_env({"MAILHOST_LMTP": "mail.example:24"})


@given(
    reason=st.text(max_size=600),
    to=st.text(st.characters(blacklist_characters=" "), min_size=1, max_size=256),
)
def test_any_decision_reply_fits_and_parses_back(reason: str, to: str) -> None:
    # RFC 5321 section 4.5.3.1.5: 512 octets a line; only the reason is shortened
    recipient = "info@example.org"
    decision = {
        "reply": True,
        "reason": reason,
        "rule": "RSP-4",
        "check": "reply",
        "to": to,
    }
    lines = decided_reply(recipient, decision)
    assert all(len(line.encode()) + 2 <= 512 for line in lines)
    text = "\n".join(line[4:].strip(" \t\r\n") for line in lines)  # as smtplib joins
    back = parse_decided(recipient, text)
    assert {k: v for k, v in back.items() if k != "reason"} == {
        k: v for k, v in decision.items() if k != "reason"
    }
    assert (
        reason.startswith(str(back["reason"]).removesuffix("...").rstrip())
        or back["reason"] == reason
    )


def test_a_listen_address_is_an_immutable_value() -> None:
    # not attrs (its import is most of a thin client's budget), still a value
    address = parse_listen("127.0.0.1:24")
    assert address == ListenAddress(host="127.0.0.1", port=24)
    assert hash(address) == hash(ListenAddress(host="127.0.0.1", port=24))
    assert address != ListenAddress(path=Path("/run/x.sock"))
    assert repr(address) == "ListenAddress(host='127.0.0.1', port=24, path=None)"
    with pytest.raises(AttributeError):
        address.port = 25  # the point: frozen


def test_a_client_reads_the_address_the_listener_reads() -> None:
    assert listen_parts(" 127.0.0.1:2424 ") == ("127.0.0.1", 2424)
    assert listen_parts("[::1]:24") == ("::1", 24)
    assert listen_parts("unix:/run/mh.sock") == "/run/mh.sock"
    for bad in ("127.0.0.1:0", "unix:rel.sock", ":24", "127.0.0.1:x"):
        with pytest.raises(ValueError, match=r"\S"):
            listen_parts(bad)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@given(value=JSON, blanks=st.sampled_from(["", " ", "\t\r\n "]))
def test_the_decision_scanner_reads_what_json_loads_reads(
    value: object, blanks: str
) -> None:
    # json_value is json.loads by its C scanner (no json import in a thin client)
    for text in (json.dumps(value), json.dumps(value, separators=(",", ":"))):
        assert _same(json_value(blanks + text + blanks), json.loads(text))


@given(text=st.text(max_size=40))
def test_the_decision_scanner_refuses_what_json_loads_refuses(text: str) -> None:
    try:
        expected: object = json.loads(text)
    except ValueError:
        with pytest.raises(ValueError):  # noqa: PT011 - json's own error types vary
            json_value(text)
    else:
        assert _same(json_value(text), expected)


_PATH_CHARS = st.sampled_from(list('ab.@<>  \t()"[]:\\,;!~+-=Z9é'))
_PATH_TEXT = st.one_of(
    st.text(alphabet=_PATH_CHARS, max_size=24),
    st.builds(
        "<{}@{}>{}".format,
        st.text(alphabet=_PATH_CHARS, max_size=8),
        st.text(alphabet=_PATH_CHARS, max_size=8),
        st.text(alphabet=_PATH_CHARS, max_size=8),
    ),
)


@given(_PATH_TEXT)
def test_the_plain_path_reading_is_the_parsers_where_it_reads(arg: str) -> None:
    """The listener's fast MAIL/RCPT path reading agrees with the RFC 5322 parser."""
    read = plain_path(arg)
    if read is None:
        return
    parsed, rest = get_angle_addr(arg)
    assert not parsed.all_defects
    assert read == (parsed.addr_spec, rest)


@pytest.mark.parametrize(
    ("arg", "read"),
    [
        ("<ann@example.org>", ("ann@example.org", "")),
        (
            "<a.b+c@mx.example> SIZE=12 BODY=8BITMIME",
            ("a.b+c@mx.example", "SIZE=12 BODY=8BITMIME"),
        ),
        ("<>", None),
        ("<a..b@c>", None),
        ('<"x y"@b>', None),
        ("<@relay:a@b>", None),
        ("<a@b> (comment)", None),
    ],
)
def test_plain_paths(arg: str, read: tuple[str, str] | None) -> None:
    assert plain_path(arg) == read
