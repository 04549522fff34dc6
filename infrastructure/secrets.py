"""The engine's secret key, for keyed digests of device and session tokens."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEY_BYTES = 32


class SecretKey:
    """HMAC-SHA256 under a 256-bit key; tokens are 256-bit random, URL-safe."""

    def __init__(self, key: bytes) -> None:
        if len(key) < KEY_BYTES:
            raise ValueError(f"the secret key must have at least {KEY_BYTES} bytes")
        self._key = key

    def __repr__(self) -> str:
        return "SecretKey(<hidden>)"

    @classmethod
    def load(cls, path: Path, hex_key: str | None = None) -> SecretKey:
        """From ``MAILHOST_SECRET_KEY`` (hex) if given, else a 0600 file made once."""
        if hex_key:
            try:
                return cls(bytes.fromhex(hex_key))
            except ValueError:
                raise ValueError("MAILHOST_SECRET_KEY is not a hex string") from None
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(KEY_BYTES))
        return cls(bytes.fromhex(path.read_text().strip()))

    def digest(self, token: str) -> str:
        return hmac.new(self._key, token.encode(), hashlib.sha256).hexdigest()

    def new_token(self) -> str:
        return secrets.token_urlsafe(KEY_BYTES)
