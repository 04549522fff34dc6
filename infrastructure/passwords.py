"""argon2id password hashing (SEC-6, OWASP ASVS 5.0 appendix C)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's minimum for argon2id: 19 MiB, 2 iterations, 1 lane. Dovecot verifies this
# encoding as {ARGON2ID}, so one hash serves the engine and the mail store.
OWASP_MEMORY_KIB = 19 * 1024
OWASP_TIME_COST = 2
SSHA512 = "{SSHA512}"


class Argon2Hasher:
    def __init__(
        self, *, memory_kib: int = OWASP_MEMORY_KIB, time_cost: int = OWASP_TIME_COST
    ) -> None:
        if memory_kib < OWASP_MEMORY_KIB or time_cost < OWASP_TIME_COST:
            raise ValueError("argon2id parameters below OWASP's minimum (19 MiB, t=2)")
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=1,
            type=argon2.Type.ID,
        )
        self._dummy = self._hasher.hash("dummy password for timing equalisation")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def hash_generated(self, password: str) -> str:
        """A salted SHA-512 (Dovecot's ``{SSHA512}``) for machine-generated passwords only.

        A generated password has 120 bits of entropy: no guessing attack exists for a slow
        hash to slow down (ASVS 5.0 allows a fast hash for such secrets), and creating
        10,000 addresses from a file takes a second, not minutes.
        """
        return ssha512_encoding(password)

    def verify(self, encoded: str, password: str) -> bool:
        if encoded.startswith(SSHA512):
            return verify_ssha512(encoded, password)
        try:
            return self._hasher.verify(encoded, password)
        except (VerificationError, InvalidHashError):
            return False

    def verify_dummy(self, password: str) -> None:
        self.verify(self._dummy, password)


def ssha512_encoding(password: str, *, salt_bytes: int = 16) -> str:
    """``{SSHA512}`` (salted SHA-512) as Dovecot verifies it: base64(digest + salt).

    Fast on purpose, so only for high-entropy generated passwords (bulk creation),
    where a guess costs the attacker 2^100+ hashes whatever the scheme; a password
    a person chose needs argon2id.
    """
    salt = secrets.token_bytes(salt_bytes)
    digest = hashlib.sha512(password.encode() + salt).digest()
    return SSHA512 + base64.b64encode(digest + salt).decode("ascii")


def verify_ssha512(encoded: str, password: str) -> bool:
    if not encoded.startswith(SSHA512):
        return False
    try:
        raw = base64.b64decode(encoded.removeprefix(SSHA512), validate=True)
    except ValueError:
        return False
    digest, salt = raw[:64], raw[64:]
    if len(digest) != 64:  # noqa: PLR2004 - SHA-512's digest size
        return False
    return hmac.compare_digest(
        digest, hashlib.sha512(password.encode() + salt).digest()
    )
