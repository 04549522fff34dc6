"""domain.text: a user's own text is checked, outside text is neutralised (ADV-5)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from domain.errors import InvalidInput
from domain.text import (
    clean_block,
    clean_line,
    forbidden_character,
    neutralise,
    printable,
)

FORBIDDEN = {"Cc", "Cf", "Zl", "Zp", "Co", "Cn", "Cs"}
HOSTILE_AGENT = "restore now at https://evil.example/restore \x1b[31m\x07"
# Text with the pieces a link, a terminal escape or a separator is made of.
PIECES = st.lists(
    st.sampled_from(
        [":", "/", "//", "://", ".", "www", "http", "evil", "com", "mailto", " ", "é"]
    )
    | st.characters()
).map("".join)


def forbidden_in(text: str) -> list[str]:
    return [c for c in text if unicodedata.category(c) in FORBIDDEN]


# -- neutralise: outside text -----------------------------------------------------------


def test_the_hostile_user_agent_loses_its_link_and_escape_bytes() -> None:
    # rule ADV-5: no link and no control character from a User-Agent in an alert
    text = neutralise(HOSTILE_AGENT)
    assert "https://" not in text
    assert "evil.example" not in text
    assert forbidden_in(text) == []
    assert text == "restore now at [link removed] [31m"


@pytest.mark.parametrize(
    "link",
    [
        "http://x.example",
        "HTTPS://EVIL.EXAMPLE/a?b",
        "www.evil.example",
        "mailto:ann@evil.example",
        "evil.example/restore",
        "evil.com",
        "login.evil.co.uk:8443",
        "://evil",
        "é://evil",
        "javascript://x",
    ],
)
def test_link_like_text_is_removed(link: str) -> None:
    # rule ADV-5
    text = neutralise(f"go to {link} now")
    assert text == "go to [link removed] now"


@pytest.mark.parametrize(
    "agent",
    [
        "Firefox 133",
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "curl/8.4.0",
        "Geneva, CH",
    ],
)
def test_ordinary_user_agents_and_places_are_kept(agent: str) -> None:
    assert neutralise(agent) == agent


def test_a_long_value_is_cut_with_an_ellipsis() -> None:
    text = neutralise("a" * 500, max_length=20)
    assert text == "a" * 19 + "\u2026"


def test_a_bound_below_one_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="max_length"):
        neutralise("x", max_length=0)


@given(value=st.text() | PIECES, max_length=st.integers(1, 300))
@example(value="://", max_length=3)  # once left whole: no scheme before it
@example(value="a\x00://b", max_length=120)
@example(value=HOSTILE_AGENT, max_length=10)
def test_neutralised_text_has_no_control_no_link_and_is_bounded(
    value: str, max_length: int
) -> None:
    # rule ADV-5
    text = neutralise(value, max_length=max_length)
    assert forbidden_in(text) == []
    assert "://" not in text
    assert len(text) <= max_length


# -- clean_line / clean_block: a user's own text ----------------------------------------


@pytest.mark.parametrize("bad", ["\x00", "\x1b", "\x07", "\u2028", "\u202e", "\ud800"])
def test_a_line_with_a_control_character_is_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(InvalidInput, match="subject contains a control character"):
        clean_line(f"Hello{bad}", field="subject", max_length=200)


def test_a_line_is_collapsed_and_bounded() -> None:
    assert clean_line("  Out   of office ", field="subject", max_length=13) == (
        "Out of office"
    )
    with pytest.raises(InvalidInput, match="subject is longer than 12 characters"):
        clean_line("Out of office", field="subject", max_length=12)


@given(value=st.text() | PIECES, max_length=st.integers(0, 300))
def test_clean_line_refuses_or_returns_a_printable_bounded_line(
    value: str, max_length: int
) -> None:
    try:
        text = clean_line(value, field="the name", max_length=max_length)
    except InvalidInput as refused:
        message = str(refused)
    else:
        message = ""
    if message:
        assert message.startswith("the name ")
        return
    assert forbidden_in(text) == []
    assert len(text) <= max_length
    assert text == " ".join(text.split())


def test_a_block_keeps_lines_and_tabs_and_normalises_line_ends() -> None:
    assert clean_block("a\r\nb\rc\td", field="signature", max_length=20) == "a\nb\nc\td"


@pytest.mark.parametrize("bad", ["\x00", "\x1b", "\x0b", "\u2029", "\udcff"])
def test_a_block_with_a_control_character_is_refused(bad: str) -> None:
    with pytest.raises(InvalidInput, match="signature contains a control character"):
        clean_block(f"Ann\n{bad}", field="signature", max_length=100)


@given(value=st.text() | PIECES)
def test_clean_block_refuses_or_returns_text_with_lines_and_tabs_only(
    value: str,
) -> None:
    try:
        text = clean_block(value, field="body", max_length=1000)
    except InvalidInput:
        return
    assert set(forbidden_in(text)) <= {"\n", "\t"}
    assert forbidden_character(text, multiline=True) is None


# -- printable: the last step before a terminal -----------------------------------------


def test_printable_shows_control_characters_as_codes_and_keeps_the_layout() -> None:
    assert printable("a\tb\nc\x1b[31m\x07 \u202e\ud800") == (
        "a\tb\nc\\x1b[31m\\x07 \\u202e\\ud800"
    )
    assert printable("plain https://x.example/ text") == "plain https://x.example/ text"


@given(value=st.text())
def test_printable_text_holds_only_lines_tabs_and_printable_characters(
    value: str,
) -> None:
    assert set(forbidden_in(printable(value))) <= {"\n", "\t"}
