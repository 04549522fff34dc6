"""Sealing: a secret held for a short while, readable only by this engine.

The passwords a bulk run generates must survive a crash between the save and the report
(the operator would otherwise lose them, with the addresses created): they are kept
sealed (encrypted and authenticated under a key derived from the engine's secret key)
in the credential store until shown once, then destroyed.
"""

from __future__ import annotations

from typing import Protocol


class SealBroken(ValueError):  # noqa: N818 - reads as what happened
    """The sealed text was altered, belongs to another context, or another key sealed it."""


class Sealer(Protocol):
    def seal(self, plaintext: bytes, *, context: str) -> str:
        """Encrypt and authenticate; ``context`` (e.g. the run id) is bound, not hidden."""
        ...

    def unseal(self, sealed: str, *, context: str) -> bytes:
        """The plaintext, or ``SealBroken`` (never a partial or unauthenticated result)."""
        ...
