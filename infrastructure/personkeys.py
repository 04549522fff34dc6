"""Per-person data keys, held beside the log and never in it: deleting one forgets a person.

Each subject (an aggregate whose events carry a person's data: the account, its two-step
settings) gets a random AES-256 key the first time one of its personal fields is
written. The key is stored wrapped (AES-GCM under a key derived from the engine's
secret key, so the table alone opens nothing) in ``mh_person_keys`` of the secrets
database, with a short random key id that sealed values name: a value sealed under a
key that was deleted (and perhaps replaced by a fresh one since) is told apart from a
damaged one. Deleting the row is the forgetting; SQLite overwrites the freed page
(``secure_delete``) and the rows' old copies leave the WAL at the next checkpoint.

Keys are cached in memory (a login reads its account's key on every event), for
``TTL_S`` at most: a forget in another process is seen here within that time.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterable
from uuid import UUID

from attrs import frozen
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from application.ports import Fingerprints
from infrastructure.sql import Database, ensure_schema

SCHEMA = (
    (
        "CREATE TABLE IF NOT EXISTS mh_person_keys (subject TEXT PRIMARY KEY,"
        " key_id TEXT NOT NULL, wrapped BLOB NOT NULL, created_at BIGINT NOT NULL)"
    ),
)
POSTGRES_SCHEMA = (SCHEMA[0].replace("BLOB", "BYTEA"),)
WRAPPING_LABEL = "mailhost/person-key-wrapping/v1"
NONCE_BYTES = 12
TTL_S = 30.0
MAX_CACHED = 100_000


@frozen(repr=False)
class PersonKey:
    key_id: str
    aead: AESGCM

    def __repr__(self) -> str:
        return f"PersonKey({self.key_id}, <hidden>)"


class SqlPersonKeys:
    """The key table, with a bounded in-memory cache of what was read."""

    def __init__(self, database: Database, fingerprints: Fingerprints) -> None:
        self.database = database
        wrapping = bytes.fromhex(fingerprints.digest(WRAPPING_LABEL))
        self._wrap = AESGCM(wrapping)
        ensure_schema(
            database, POSTGRES_SCHEMA if database.dialect == "postgres" else SCHEMA
        )
        self._cache: dict[UUID, tuple[PersonKey | None, float]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "SqlPersonKeys(<hidden>)"

    def opening_key(self, subject: UUID) -> PersonKey | None:
        """The subject's key, or None once forgotten (or never made)."""
        with self._lock:
            cached = self._cache.get(subject)
        if cached is not None and time.monotonic() - cached[1] < TTL_S:
            return cached[0]
        key = self._read(subject)
        self._remember(subject, key)
        return key

    def sealing_key(self, subject: UUID) -> PersonKey:
        """The subject's key, made now if it has none (two writers agree on one)."""
        key = self.opening_key(subject)
        if key is not None:
            return key
        raw, key_id = AESGCM.generate_key(bit_length=256), secrets.token_hex(4)
        nonce = secrets.token_bytes(NONCE_BYTES)
        wrapped = nonce + self._wrap.encrypt(nonce, raw, _context(subject, key_id))
        with self.database.transaction() as cursor:
            cursor.execute(
                "INSERT INTO mh_person_keys (subject, key_id, wrapped, created_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (subject) DO NOTHING",
                (str(subject), key_id, wrapped, time.time_ns() // 1_000),
            )
        made = self._read(subject)
        if made is None:
            msg = "the person key was deleted while it was made"
            raise RuntimeError(msg)
        self._remember(subject, made)
        return made

    def forget(self, subjects: Iterable[UUID]) -> int:
        """Delete the subjects' keys for good; how many there were."""
        subjects = tuple(subjects)
        deleted = 0
        with self.database.transaction() as cursor:
            if self.database.dialect == "sqlite":
                cursor.execute("PRAGMA secure_delete = ON")
            for subject in subjects:
                cursor.execute(
                    "SELECT COUNT(*) FROM mh_person_keys WHERE subject = ?",
                    (str(subject),),
                )
                row = cursor.fetchone()
                deleted += int(row[0]) if row else 0
                cursor.execute(
                    "DELETE FROM mh_person_keys WHERE subject = ?", (str(subject),)
                )
        with self._lock:
            for subject in subjects:
                self._cache.pop(subject, None)
        return deleted

    def _read(self, subject: UUID) -> PersonKey | None:
        with self.database.transaction() as cursor:
            cursor.execute(
                "SELECT key_id, wrapped FROM mh_person_keys WHERE subject = ?",
                (str(subject),),
            )
            row = cursor.fetchone()
        if row is None:
            return None
        key_id, wrapped = str(row[0]), bytes(row[1])
        try:
            raw = self._wrap.decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _context(subject, key_id)
            )
        except InvalidTag:
            msg = "a person key does not open under this engine's secret key"
            raise RuntimeError(msg) from None
        return PersonKey(key_id, AESGCM(raw))

    def _remember(self, subject: UUID, key: PersonKey | None) -> None:
        with self._lock:
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            self._cache[subject] = (key, time.monotonic())


def _context(subject: UUID, key_id: str) -> bytes:
    """Binds a wrapped key to its row: a key copied to another subject does not open."""
    return f"{subject}:{key_id}".encode()
