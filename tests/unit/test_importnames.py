"""The one rule turning source folder parts into names both destinations can hold."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from infrastructure.importnames import folder_part, store_path


def test_parts_dovecot_refuses_get_a_prefix_and_separators_are_replaced() -> None:
    assert folder_part("a/b", "/") == "a_b"
    assert folder_part("a.b", "/") == "a.b"
    assert folder_part("a.b", ".") == "a_b"
    assert folder_part("~home", "/") == "_~home"
    assert folder_part("a~b", "/") == "a~b"
    assert [folder_part(name, "/") for name in ("new", "cur", "tmp")] == [
        "_new",
        "_cur",
        "_tmp",
    ]
    assert folder_part("", "/") == "_"
    assert folder_part("..", "/") == "_.."
    assert store_path(("inbox",), "/") == ("INBOX",)
    assert store_path(("Inbox", "Sub"), "/") == ("INBOX", "Sub")


@given(st.text(min_size=0, max_size=20), st.sampled_from(["/", ".", ""]))
def test_a_part_never_holds_the_separator_nor_starts_with_a_tilde(
    part: str, separator: str
) -> None:
    cleaned = folder_part(part, separator)
    assert cleaned
    assert not separator or separator not in cleaned
    assert not cleaned.startswith("~")
    assert cleaned not in {"new", "cur", "tmp", ".", ".."}
