"""Backup codes: entropy, grouping, the keyed digest under the engine's real key, typing
normalised, constant-time matching (rule MFA-5)."""

from __future__ import annotations

import math
import secrets
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidInput
from infrastructure.backupcodes import (
    ALPHABET,
    BITS,
    KeyedBackupCodes,
    looks_like_backup_code,
    normalise,
)
from infrastructure.secrets import SecretKey
from infrastructure.totp import is_totp_code


@pytest.fixture
def codes(tmp_path: Path) -> KeyedBackupCodes:
    return KeyedBackupCodes(SecretKey.load(tmp_path / "secret.key"))


def test_each_code_has_at_least_112_bits(codes: KeyedBackupCodes) -> None:
    # rule MFA-5: >= 112 bits each; 24 symbols of a 32-symbol alphabet.
    assert len(set(ALPHABET)) == 32
    assert BITS == 24 * math.log2(len(ALPHABET)) >= 112
    for code in codes.generate(10):
        assert len(normalise(code) or "") == 24


def test_codes_are_shown_in_four_groups_of_six(codes: KeyedBackupCodes) -> None:
    for code in codes.generate(10):
        groups = code.split("-")
        assert [len(g) for g in groups] == [6, 6, 6, 6]
        assert all(c in ALPHABET for g in groups for c in g)


def test_a_set_has_distinct_codes(codes: KeyedBackupCodes) -> None:
    batch = codes.generate(100)
    assert len(set(batch)) == 100


def test_the_count_is_bounded(codes: KeyedBackupCodes) -> None:
    with pytest.raises(InvalidInput):
        codes.generate(0)
    with pytest.raises(InvalidInput):
        codes.generate(101)


def test_a_code_matches_its_digest_and_no_other(codes: KeyedBackupCodes) -> None:
    first, second = codes.generate(2)
    digest = codes.digest(first)
    assert codes.matches(first, digest)
    assert not codes.matches(second, digest)


def test_typing_variations_match(codes: KeyedBackupCodes) -> None:
    (code,) = codes.generate(1)
    digest = codes.digest(code)
    plain = code.replace("-", "")
    for typed in (
        code.lower(),
        plain,
        " ".join(code.split("-")),
        f"  {code}  ",
        "-".join(plain[i : i + 4] for i in range(0, 24, 4)),
    ):
        assert codes.matches(typed, digest), typed


def test_letters_read_as_digits() -> None:
    # Crockford: O is 0, I and L are 1, so a code read aloud or from paper still works.
    assert normalise("O" * 24) == "0" * 24
    assert normalise("il" * 12) == "1" * 24


@pytest.mark.parametrize(
    "typed",
    ["", "ABC", "A" * 23, "A" * 25, "U" * 24, "Ä" * 24, "A" * 23 + "!", "123456"],
)
def test_what_cannot_be_a_code_never_matches(
    codes: KeyedBackupCodes, typed: str
) -> None:
    (code,) = codes.generate(1)
    assert not codes.matches(typed, codes.digest(code))
    assert not looks_like_backup_code(typed)
    with pytest.raises(InvalidInput):
        codes.digest(typed)


def test_a_totp_code_and_a_backup_code_cannot_be_confused(
    codes: KeyedBackupCodes,
) -> None:
    for code in codes.generate(10):
        assert looks_like_backup_code(code)
        assert not is_totp_code(code)


def test_the_digest_is_keyed(tmp_path: Path) -> None:
    # The same code under another engine's key gives another digest: a copied store
    # cannot be checked without the key.
    mine = KeyedBackupCodes(SecretKey.load(tmp_path / "a.key"))
    theirs = KeyedBackupCodes(SecretKey(secrets.token_bytes(32)))
    (code,) = mine.generate(1)
    assert mine.digest(code) != theirs.digest(code)
    assert not theirs.matches(code, mine.digest(code))


def test_the_digest_shows_nothing_of_the_code(codes: KeyedBackupCodes) -> None:
    (code,) = codes.generate(1)
    digest = codes.digest(code)
    plain = code.replace("-", "")
    assert plain not in digest.upper()
    assert all(group not in digest.upper() for group in code.split("-"))
    assert "<" in repr(codes)


def test_the_digest_is_not_a_token_digest(tmp_path: Path) -> None:
    # A label keeps backup-code digests apart from session-token digests of one key.
    key = SecretKey.load(tmp_path / "secret.key")
    codes = KeyedBackupCodes(key)
    (code,) = codes.generate(1)
    assert codes.digest(code) != key.digest(normalise(code) or "")


@given(st.text(max_size=40))
def test_matching_never_raises(text: str) -> None:
    codes = KeyedBackupCodes(SecretKey(b"k" * 32))
    assert codes.matches(text, "0" * 64) is False
