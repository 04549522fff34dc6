"""AES-256-GCM sealing under a key derived from the engine's secret key.

pycryptodome (already a dependency through eventsourcing's crypto extra) does the AES-GCM.
The key is not the secret key itself: it is the keyed digest of a fixed label, so the
digests of tokens and the sealed texts never share a key (one key, one purpose).
"""

from __future__ import annotations

import base64
import secrets

from Crypto.Cipher import AES

from application.ports import Fingerprints, SealBroken

KEY_LABEL = "mailhost/sealing-key/v1"
VERSION = "v1."
NONCE_BYTES = 12  # GCM's native nonce size: random, never repeated in practice
TAG_BYTES = 16


class AesGcmSealer:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:  # noqa: PLR2004 - AES-256
            raise ValueError("the sealing key must have 32 bytes")
        self._key = key

    def __repr__(self) -> str:
        return "AesGcmSealer(<hidden>)"

    @classmethod
    def derived_from(cls, fingerprints: Fingerprints) -> AesGcmSealer:
        """The engine's own sealer: HMAC(secret key, label) as the AES key."""
        return cls(bytes.fromhex(fingerprints.digest(KEY_LABEL)))

    def seal(self, plaintext: bytes, *, context: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        cipher = AES.new(self._key, AES.MODE_GCM, nonce=nonce, mac_len=TAG_BYTES)
        cipher.update(context.encode())
        body, tag = cipher.encrypt_and_digest(plaintext)
        return VERSION + base64.urlsafe_b64encode(nonce + body + tag).decode("ascii")

    def unseal(self, sealed: str, *, context: str) -> bytes:
        if not sealed.startswith(VERSION):
            raise SealBroken("not a sealed text of this engine")
        try:
            raw = base64.urlsafe_b64decode(sealed.removeprefix(VERSION))
        except ValueError:
            raise SealBroken("the sealed text is damaged") from None
        if len(raw) < NONCE_BYTES + TAG_BYTES:
            raise SealBroken("the sealed text is damaged")
        nonce, body, tag = (
            raw[:NONCE_BYTES],
            raw[NONCE_BYTES:-TAG_BYTES],
            raw[-TAG_BYTES:],
        )
        cipher = AES.new(self._key, AES.MODE_GCM, nonce=nonce, mac_len=TAG_BYTES)
        cipher.update(context.encode())
        try:
            return cipher.decrypt_and_verify(body, tag)
        except ValueError:
            raise SealBroken(
                "the sealed text was altered, or sealed by another key or for another run"
            ) from None
