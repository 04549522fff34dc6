"""argon2id password hashing (SEC-6, OWASP ASVS 5.0 appendix C)."""

from __future__ import annotations

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's minimum for argon2id: 19 MiB, 2 iterations, 1 lane. Dovecot verifies this
# encoding as {ARGON2ID}, so one hash serves the engine and the mail store.
OWASP_MEMORY_KIB = 19 * 1024
OWASP_TIME_COST = 2


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

    def verify(self, encoded: str, password: str) -> bool:
        try:
            return self._hasher.verify(encoded, password)
        except (VerificationError, InvalidHashError):
            return False

    def verify_dummy(self, password: str) -> None:
        self.verify(self._dummy, password)
