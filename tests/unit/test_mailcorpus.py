"""The corpus generator: deterministic, every trap of the engineering notes present.

A corpus missing a trap would let an import that loses those messages pass (rule IMP-3).
"""

from __future__ import annotations

import hashlib
import pickle
import re
from collections import Counter
from email.parser import BytesHeaderParser

import pytest

from tests import mailcorpus as mc

SEED = 7
MESSAGES = 600
TOTAL_MB = 24


@pytest.fixture(scope="module")
def corpus() -> mc.Corpus:
    return mc.generate(SEED, MESSAGES, TOTAL_MB)


@pytest.fixture(scope="module")
def messages(corpus: mc.Corpus) -> list[tuple[mc.Path, mc.CorpusMessage]]:
    return [(f.path, m) for f in corpus.folders for m in f]


def digest(corpus: mc.Corpus) -> str:
    h = hashlib.sha256()
    for folder in corpus.folders:
        h.update("/".join(folder.path).encode() + b"\0")
        for m in folder:
            h.update(m.raw + repr((m.flags, m.internal_date)).encode())
    return h.hexdigest()


def header_of(raw: bytes) -> dict[str, str]:
    return dict(BytesHeaderParser().parsebytes(mc.header_block(raw)).items())


def test_the_same_seed_gives_the_same_bytes_and_another_seed_others(
    corpus: mc.Corpus,
) -> None:
    assert digest(mc.generate(SEED, MESSAGES, TOTAL_MB)) == digest(corpus)
    assert digest(corpus) == digest(corpus)  # a folder yields the same bytes again
    assert digest(mc.generate(SEED + 1, MESSAGES, TOTAL_MB)) != digest(corpus)


def test_it_has_the_asked_count_and_about_the_asked_size(
    messages: list[tuple[mc.Path, mc.CorpusMessage]],
) -> None:
    assert len(messages) == MESSAGES
    total = sum(len(m.raw) for _, m in messages)
    assert 0.85 * TOTAL_MB * mc.MB < total < 1.15 * TOTAL_MB * mc.MB


def test_the_plan_holds_no_message_bytes(corpus: mc.Corpus) -> None:
    # Stream-friendly: a 24 MB corpus plans in well under 1 MB.
    assert len(pickle.dumps(corpus)) < mc.MB


def test_every_trap_is_there(messages: list[tuple[mc.Path, mc.CorpusMessage]]) -> None:
    seen = set().union(*(m.traps for _, m in messages))
    assert seen == mc.TRAPS


def test_folders_are_nested_non_ascii_dotted_tilde_container_and_empty(
    corpus: mc.Corpus,
) -> None:
    paths = {f.path for f in corpus.folders}
    assert ("Archiv", "2019", "Q4") in paths
    assert any(ord(c) > 127 for p in paths for c in "".join(p))
    assert any("." in part for p in paths for part in p)
    assert any("~" in part for p in paths for part in p)
    assert any("&" in part for p in paths for part in p)  # modified UTF-7's escape
    containers = [f for f in corpus.folders if f.container]
    assert containers
    assert all(len(f) == 0 for f in containers)
    assert any(len(f) == 0 and not f.container for f in corpus.folders)


def test_twins_are_byte_identical_in_one_folder_and_counted_twice(
    corpus: mc.Corpus,
) -> None:
    expected = mc.expected_multiset(corpus)
    for folder in corpus.folders:
        raws = Counter(m.raw for m in folder if mc.TWIN in m.traps)
        for raw, n in raws.items():
            assert n >= 2
            assert expected[folder.path][mc.key_of(raw)] == n
    assert max(max(c.values(), default=0) for c in expected.values()) == 3


def test_distinct_messages_share_a_message_id(
    messages: list[tuple[mc.Path, mc.CorpusMessage]],
) -> None:
    shared = [m for _, m in messages if mc.SHARED_ID in m.traps]
    ids = {header_of(m.raw)["Message-ID"] for m in shared}
    assert len(ids) == 1
    assert len({mc.key_of(m.raw) for m in shared}) == len(shared) >= 3


def test_some_have_neither_message_id_nor_received(
    messages: list[tuple[mc.Path, mc.CorpusMessage]],
) -> None:
    bare = [m for _, m in messages if mc.NO_ID in m.traps]
    assert len(bare) >= 4
    for m in bare:
        header = header_of(m.raw)
        assert "Message-ID" not in header
        assert "Received" not in header
    # Distinct ones stay distinct, twins are twins.
    assert len({mc.key_of(m.raw) for m in bare}) == len(bare) - 1


def test_line_end_and_separator_traps(
    messages: list[tuple[mc.Path, mc.CorpusMessage]],
) -> None:
    bare_lf = [m.raw for _, m in messages if mc.BARE_LF in m.traps]
    assert bare_lf
    assert all(b"\r" not in raw and b"\n\n" in raw for raw in bare_lf)
    no_sep = [m.raw for _, m in messages if mc.NO_SEPARATOR in m.traps]
    assert len(no_sep) == 2
    assert all(b"\r\n\r\n" not in raw for raw in no_sep)
    assert any(b"this line is body text" in raw for raw in no_sep)


def test_the_key_counts_line_ends_as_crlf() -> None:
    raw = b"Subject: x\n\nbody\n"
    key = mc.key_of(raw)
    assert key.size == len(raw.replace(b"\n", b"\r\n"))
    assert key == mc.key_of(raw.replace(b"\n", b"\r\n"))


def test_eight_bit_headers_utf8_and_latin1(
    messages: list[tuple[mc.Path, mc.CorpusMessage]],
) -> None:
    headers = [mc.header_block(m.raw) for _, m in messages if mc.EIGHT_BIT in m.traps]
    assert all(re.search(rb"[\x80-\xff]", h) for h in headers)
    assert any(b"R\xe9union" in h for h in headers)  # Latin-1, not UTF-8
    assert any("会議".encode() in h for h in headers)


def test_every_flag_combination_with_keywords(
    messages: list[tuple[mc.Path, mc.CorpusMessage]],
) -> None:
    combos = {frozenset(m.flags) for _, m in messages}
    assert len(mc.FLAG_COMBINATIONS) == 2 ** len(mc.ALL_FLAGS)
    assert combos == {frozenset(c) for c in mc.FLAG_COMBINATIONS}
    assert {"$Forwarded", "Work"} <= set(mc.ALL_FLAGS)


def test_internal_dates_are_aware_old_and_in_many_zones(
    messages: list[tuple[mc.Path, mc.CorpusMessage]],
) -> None:
    dates = [m.internal_date for _, m in messages]
    assert all(d.tzinfo is not None and d.microsecond == 0 for d in dates)
    assert min(dates).year <= 1998
    assert len({d.utcoffset() for d in dates}) >= 5
    old = [m for _, m in messages if mc.OLD_DATE in m.traps]
    assert all(m.internal_date.year <= 1998 for m in old)


def test_attachments_are_multipart_and_reach_a_few_mb(
    messages: list[tuple[mc.Path, mc.CorpusMessage]],
) -> None:
    attached = [m.raw for _, m in messages if mc.ATTACHMENT in m.traps]
    assert all(b"multipart/mixed" in mc.header_block(raw) for raw in attached)
    assert all(b"Content-Disposition: attachment" in raw for raw in attached)
    assert max(len(raw) for raw in attached) > 3 * mc.MB


def test_a_tiny_corpus_still_has_every_trap() -> None:
    tiny = mc.generate(1, messages=10, total_mb=0.1)
    seen = set().union(*(m.traps for f in tiny.folders for m in f))
    assert {mc.TWIN, mc.SHARED_ID, mc.NO_ID, mc.BARE_LF, mc.NO_SEPARATOR} <= seen
