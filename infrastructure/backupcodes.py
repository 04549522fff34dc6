"""Backup codes: 120 random bits each, typed by hand, stored only as a keyed digest.

A code is 24 characters of Crockford's base32 (5 bits each) shown in four groups of six,
``7K2M9Q-XW4T0B-...``. Crockford's alphabet has no I, L, O or U, and reading it back maps
I and L to 1 and O to 0, so the letters people confuse with digits cannot make a right
code fail. 120 bits is beyond guessing (rule MFA-5 asks for at least 112), so a fast
keyed digest is enough: no password hash is needed, and the digest is keyed with the
engine's secret key so a copy of the credential store cannot be checked offline.
"""

from __future__ import annotations

import hmac
import secrets

from application.ports import Fingerprints
from domain.errors import InvalidInput

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32
GROUPS = 4
GROUP_LENGTH = 6
CODE_LENGTH = GROUPS * GROUP_LENGTH  # 24 characters x 5 bits = 120 bits
BITS = CODE_LENGTH * 5
MAX_CODES = 100
DIGEST_LABEL = "mailhost/backup-code/v1:"
_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})
_SEPARATORS = str.maketrans("", "", " -\t_")


class KeyedBackupCodes:
    """The ``BackupCodes`` port: generation, keyed digest, constant-time match."""

    def __init__(self, fingerprints: Fingerprints) -> None:
        self._fingerprints = fingerprints

    def __repr__(self) -> str:
        return "KeyedBackupCodes(<keyed>)"

    def generate(self, n: int) -> list[str]:
        if not 1 <= n <= MAX_CODES:
            raise InvalidInput(f"the number of backup codes must be 1 to {MAX_CODES}")
        return [_grouped(_random_code()) for _ in range(n)]

    def digest(self, code: str) -> str:
        """HMAC-SHA256 under the engine's key of the normalised code, with a label.

        The label keeps these digests apart from the token digests made with the same key.
        """
        normal = normalise(code)
        if normal is None:
            raise InvalidInput("this is not a backup code (24 letters and digits)")
        return self._fingerprints.digest(DIGEST_LABEL + normal)

    def matches(self, code: str, digest: str) -> bool:
        normal = normalise(code)
        if normal is None:
            return False
        mine = self._fingerprints.digest(DIGEST_LABEL + normal)
        return hmac.compare_digest(mine.encode(), digest.encode())


def normalise(code: str) -> str | None:
    """The code as generated (upper case, no separators), or None if it cannot be one.

    Case, spaces, tabs, dashes and underscores are what people add when typing a code
    from paper; anything else (another length, a character outside the alphabet) is no
    code at all.
    """
    if not code.isascii():
        return None
    normal = code.translate(_SEPARATORS).upper().translate(_READ_AS)
    if len(normal) != CODE_LENGTH or any(c not in ALPHABET for c in normal):
        return None
    return normal


def looks_like_backup_code(code: str) -> bool:
    """Whether a login's ``--code`` is meant as a backup code (not a TOTP code)."""
    return normalise(code) is not None


def _random_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def _grouped(code: str) -> str:
    return "-".join(
        code[i : i + GROUP_LENGTH] for i in range(0, CODE_LENGTH, GROUP_LENGTH)
    )
