"""Ed25519-signed checkpoints of the hash chain: a head an auditor can hold elsewhere.

A chain alone proves only that the log and its links agree: whoever can rewrite the
events can rewrite the links after them. A checkpoint signs (position, head, time, key
id) with a private key kept outside the log, so a rewrite up to a signed position shows
without the key, and a copy of the heads (``mailhost audit checkpoint export``) taken
off the machine shows it even when the stored checkpoints are rewritten too.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import struct
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from attrs import frozen
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from application.ports import Clock
from projections.storage import Cursor

CHECKPOINT_TAG = b"mailhost-audit-checkpoint-v1"
KEY_FILE = "audit-signing.key"


def checkpoint_schema(blob: str) -> tuple[str, ...]:
    return (
        (
            "CREATE TABLE IF NOT EXISTS mh_audit_checkpoints ("
            f" position BIGINT PRIMARY KEY, head {blob} NOT NULL,"
            " signed_at TEXT NOT NULL, key_id TEXT NOT NULL,"
            f" signature {blob} NOT NULL)"
        ),
    )


@frozen
class Checkpoint:
    position: int
    head: bytes
    signed_at: str
    key_id: str
    signature: bytes

    def message(self) -> bytes:
        return signed_message(self.position, self.head, self.signed_at, self.key_id)

    def as_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "head": self.head.hex(),
            "signed_at": self.signed_at,
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkpoint:
        return cls(
            position=int(data["position"]),
            head=bytes.fromhex(str(data["head"])),
            signed_at=str(data["signed_at"]),
            key_id=str(data["key_id"]),
            signature=base64.b64decode(str(data["signature"]), validate=True),
        )


def signed_message(position: int, head: bytes, signed_at: str, key_id: str) -> bytes:
    """Length-prefixed fields, so no two different checkpoints sign the same bytes."""
    parts = [head, signed_at.encode("utf-8"), key_id.encode("ascii")]
    return (
        CHECKPOINT_TAG
        + struct.pack(">q", position)
        + b"".join(struct.pack(">I", len(p)) + p for p in parts)
    )


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def load_public_pem(data: bytes) -> Ed25519PublicKey:
    """An auditor's copy of the public key; anything else is bad input."""
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise ValueError("the public key file is no PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the public key file holds no Ed25519 key")  # noqa: TRY004 - bad input, exit status 2
    return key


def signature_holds(checkpoint: Checkpoint, public: Ed25519PublicKey) -> bool:
    if checkpoint.key_id != key_id(public):
        return False
    try:
        public.verify(checkpoint.signature, checkpoint.message())
    except InvalidSignature:
        return False
    return True


class SigningKey:
    """The private key in its own file (0600), made on first use, never in the log."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._private: Ed25519PrivateKey | None = None

    def private(self) -> Ed25519PrivateKey:
        if self._private is None:
            if not self.path.exists():
                self._create()
            self._private = self._load()
        return self._private

    def public(self) -> Ed25519PublicKey | None:
        """The public half, or None where no key was ever made (nothing was signed)."""
        if self._private is None and not self.path.exists():
            return None
        return self.private().public_key()

    def _load(self) -> Ed25519PrivateKey:
        key = serialization.load_pem_private_key(self.path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            msg = f"{self.path.name} holds no Ed25519 private key"
            raise ValueError(msg)  # noqa: TRY004 - a configuration error, not a bug
        return key

    def _create(self) -> None:
        """Written whole under another name, then linked: two processes making the key
        at once keep the first, and no reader ever sees half a file."""
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(pem)
                file.flush()
                os.fsync(file.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(temporary, self.path)
        finally:
            temporary.unlink(missing_ok=True)


class Checkpoints:
    """The stored checkpoints, and the signing of new ones as the chain grows."""

    def __init__(self, key: SigningKey, clock: Clock, every: int) -> None:
        self.key = key
        self.clock = clock
        self.every = every

    def due(self, cursor: Cursor, head_position: int) -> bool:
        last = latest_position(cursor)
        return head_position - last >= self.every

    def sign(self, cursor: Cursor, position: int, head: bytes) -> Checkpoint | None:
        """A checkpoint of ``head``; None where the latest one already signs it."""
        if position <= latest_position(cursor):
            return None
        private = self.key.private()
        at = _iso(self.clock.now())
        kid = key_id(private.public_key())
        signature = private.sign(signed_message(position, head, at, kid))
        checkpoint = Checkpoint(position, head, at, kid, signature)
        cursor.execute(
            "INSERT INTO mh_audit_checkpoints"
            " (position, head, signed_at, key_id, signature) VALUES (?, ?, ?, ?, ?)",
            (position, head, at, kid, signature),
        )
        return checkpoint


def latest_position(cursor: Cursor) -> int:
    cursor.execute("SELECT MAX(position) FROM mh_audit_checkpoints")
    row = cursor.fetchone()
    return 0 if row is None or row[0] is None else int(row[0])


def stored_checkpoints(cursor: Cursor) -> list[Checkpoint]:
    cursor.execute(
        "SELECT position, head, signed_at, key_id, signature"
        " FROM mh_audit_checkpoints ORDER BY position"
    )
    return [
        Checkpoint(int(p), bytes(h), str(t), str(k), bytes(s))
        for p, h, t, k, s in cursor.fetchall()
    ]


def exported(
    checkpoints: Sequence[Checkpoint], public: Ed25519PublicKey | None
) -> dict[str, Any]:
    """What ``checkpoint export`` prints: enough to verify a copy with nothing else."""
    return {
        "format": CHECKPOINT_TAG.decode("ascii"),
        "public_key": public_pem(public) if public is not None else None,
        "key_id": key_id(public) if public is not None else None,
        "checkpoints": [c.as_json() for c in checkpoints],
    }


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="microseconds")
