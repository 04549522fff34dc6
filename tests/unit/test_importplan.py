"""The multiset rule (IMP-3), message keys, and where a source folder goes (IMP-1)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.importplan import (
    INBOX,
    MessageKey,
    SourceFolder,
    SpecialUse,
    copies_needed,
    destination_path,
    message_key,
    special_use_of,
    split_name,
)
from tests.strategies import (
    IMPORT_KEY_POOL,
    folder_contents,
    source_and_destination,
    source_folders,
)

A, B, C = IMPORT_KEY_POOL[:3]


def copied(source: list[MessageKey], present: list[MessageKey]) -> list[MessageKey]:
    return [source[i] for i in copies_needed(source, present)]


# -- message keys -------------------------------------------------------------------


def test_a_key_is_the_same_whatever_line_endings_the_side_gives() -> None:
    # rule IMP-3: source and destination compute one key for one message
    crlf = b"From: a@example.com\r\nSubject: x\r\n\r\n"
    lf = b"From: a@example.com\nSubject: x\n\n"
    assert message_key(crlf, 10) == message_key(lf, 10)


def test_messages_sharing_a_message_id_have_distinct_keys() -> None:
    # rule IMP-3: Message-ID alone dropped distinct messages (engineering notes)
    one = b"Message-ID: <same@x>\r\nSubject: one\r\n\r\n"
    two = b"Message-ID: <same@x>\r\nSubject: two\r\n\r\n"
    assert message_key(one, 10) != message_key(two, 10)


def test_the_size_is_part_of_the_key() -> None:
    header = b"Subject: no message id\r\n\r\n"
    assert message_key(header, 10) != message_key(header, 11)


# -- the multiset rule -------------------------------------------------------------


def test_twins_in_the_source_arrive_as_twins() -> None:
    # rule IMP-3: imapsync's defaults lost byte-identical twins
    assert copied([A, A, B], []) == [A, A, B]
    assert copied([A, A, B], [A]) == [A, B]


def test_the_last_occurrences_are_chosen() -> None:
    assert copies_needed([A, B, A, A], [A]) == [1, 2, 3]
    assert copies_needed([A, B, A, A], [A, A]) == [1, 3]
    assert copies_needed([A, B, A, A], [A, A, A, A]) == [1]


def test_a_message_only_in_the_destination_is_left_alone() -> None:
    assert copies_needed([A], [A, B, B]) == []


@given(source_and_destination())
def test_the_destination_ends_with_the_larger_count_of_each_key(
    contents: tuple[list[MessageKey], list[MessageKey]],
) -> None:
    # rule IMP-3: after the copy each key occurs max(source, destination) times
    source, present = contents
    after = Counter(present) + Counter(copied(source, present))
    assert after == Counter(present) + (Counter(source) - Counter(present))
    for key in set(source) | set(present):
        assert after[key] == max(Counter(source)[key], Counter(present)[key])


@given(source_and_destination())
def test_the_indexes_are_ascending_distinct_and_the_last_of_each_key(
    contents: tuple[list[MessageKey], list[MessageKey]],
) -> None:
    source, present = contents
    chosen = copies_needed(source, present)
    assert chosen == sorted(set(chosen))
    assert all(0 <= i < len(source) for i in chosen)
    for key in set(source):
        where = [i for i, k in enumerate(source) if k == key]
        needed = max(0, len(where) - Counter(present)[key])
        assert [i for i in chosen if source[i] == key] == where[len(where) - needed :]


@given(source_and_destination())
def test_a_second_run_copies_nothing(
    contents: tuple[list[MessageKey], list[MessageKey]],
) -> None:
    # rule IMP-3: importing the same source twice adds nothing the second time
    source, present = contents
    after = present + copied(source, present)
    assert copies_needed(source, after) == []


@given(folder_contents())
def test_into_an_empty_folder_everything_is_copied(source: list[MessageKey]) -> None:
    # rule IMP-3: twins arrive as twins
    assert copied(source, []) == source


@given(source_and_destination(), st.data())
def test_an_interrupted_copy_resumed_ends_with_the_same_multiset(
    contents: tuple[list[MessageKey], list[MessageKey]], data: st.DataObject
) -> None:
    # rule IMP-2, IMP-3: killed after any prefix of the chosen messages, a recompute
    # against the destination copies exactly the rest
    source, present = contents
    chosen = copied(source, present)
    done = data.draw(st.integers(0, len(chosen)), label="copied before the kill")
    interrupted = present + chosen[:done]
    rest = copied(source, interrupted)
    assert rest == chosen[done:]
    assert Counter(interrupted + rest) == Counter(present + chosen)


@given(source_and_destination(), st.data())
def test_messages_arriving_meanwhile_are_not_copied_twice(
    contents: tuple[list[MessageKey], list[MessageKey]], data: st.DataObject
) -> None:
    # rule IMP-3: a recompute after any partial copy never exceeds the source's counts
    source, present = contents
    partial = data.draw(st.lists(st.sampled_from(source))) if source else []
    final = present + partial + copied(source, present + partial)
    for key in set(source):
        assert Counter(final)[key] >= Counter(source)[key]
        assert Counter(final)[key] == max(
            Counter(source)[key], Counter(present + partial)[key]
        )


# -- folders ------------------------------------------------------------------------

SPECIAL = {
    SpecialUse.SENT: ("Sent",),
    SpecialUse.TRASH: ("Trash",),
    SpecialUse.JUNK: ("Junk",),
    SpecialUse.DRAFTS: ("Drafts",),
    SpecialUse.ARCHIVE: ("Archive",),
    SpecialUse.ALL: ("Virtual", "All"),
}


def folder(*path: str, use: SpecialUse | None = None) -> SourceFolder:
    return SourceFolder(name="/".join(path), path=path, special_use=use)


@pytest.mark.parametrize("name", ["INBOX", "inbox", "Inbox", "iNbOx"])
def test_inbox_in_any_case_is_the_inbox(name: str) -> None:
    assert destination_path(folder(name), SPECIAL) == (INBOX,)
    assert destination_path(folder(name, "Work"), SPECIAL) == (INBOX, "Work")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("Sent Items",), ("Sent",)),
        (("Sent Messages",), ("Sent",)),
        (("Deleted Items",), ("Trash",)),
        (("Deleted Messages",), ("Trash",)),
        (("Spam",), ("Junk",)),
        (("Bulk Mail",), ("Junk",)),
        (("junk e-mail",), ("Junk",)),
        (("INBOX", "Sent"), ("Sent",)),
        (("[Gmail]", "Sent Mail"), ("Sent",)),
        (("Entwürfe",), ("Drafts",)),
        (("Archives",), ("Archive",)),
    ],
)
def test_well_known_names_map_onto_the_destination_s_own(
    path: tuple[str, ...], expected: tuple[str, ...]
) -> None:
    # rule IMP-1: special-use folders mapped onto the destination's own
    assert destination_path(folder(*path), SPECIAL) == expected


def test_a_flag_wins_over_the_name() -> None:
    assert destination_path(folder("Outbox", use=SpecialUse.SENT), SPECIAL) == ("Sent",)


def test_a_nested_well_known_name_is_a_user_folder() -> None:
    assert destination_path(folder("Work", "Sent"), SPECIAL) == ("Work", "Sent")
    assert special_use_of(folder("Work", "Spam")) is None


def test_without_guessing_only_flags_count() -> None:
    # a source with SPECIAL-USE: a user's folder named "Spam" stays theirs
    assert destination_path(folder("Spam"), SPECIAL, guess=False) == ("Spam",)


def test_a_destination_without_that_folder_keeps_the_source_path() -> None:
    assert destination_path(folder("Sent Items"), {}) == ("Sent Items",)


@pytest.mark.parametrize("use", [SpecialUse.ALL, SpecialUse.FLAGGED])
def test_views_are_never_mapped_onto_a_view(use: SpecialUse) -> None:
    assert destination_path(folder("All Mail", use=use), SPECIAL) == ("All Mail",)


@given(source_folders(separator="."))
def test_a_user_folder_keeps_its_parts_whatever_the_separator(f: SourceFolder) -> None:
    # rule IMP-1: the parts are kept, the destination joins them with its separator
    path = destination_path(f, {})
    if f.path[0].casefold() == "inbox":
        assert path == (INBOX, *f.path[1:])
    else:
        assert path == f.path


def test_split_name_on_the_source_separator() -> None:
    assert split_name("a.b.c", ".") == ("a", "b", "c")
    assert split_name("a.b", None) == ("a.b",)
    assert split_name("Données/日本語", "/") == ("Données", "日本語")
