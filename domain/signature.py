"""The rule of a mailbox's signature (ADR-12), shared by the templates that become one.

A signature is text a mail client shows under every message: several lines, tabs
allowed, bounded, no control characters. A signature template is checked by this same
rule when it is saved, so a template that could be saved can always be applied (one
with a non-breaking space included).
"""

from __future__ import annotations

from domain.text import clean_block

MAX_SIGNATURE = 20_000


def clean_signature(text: str, *, field: str = "signature") -> str:
    """The signature as stored (one line end: ``\\n``), or InvalidInput naming ``field``."""
    return clean_block(text, field=field, max_length=MAX_SIGNATURE)
