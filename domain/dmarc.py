"""A domain's DMARC record (RFC 7489), as the operator's DNS check found it (ADV-4)."""

from __future__ import annotations

from domain.address import shown
from domain.errors import InvalidInput
from domain.text import clean_line

# A DMARC record is a TXT record of a few tags, rarely over 300 characters; one longer
# than several 255-octet TXT strings is no record a DNS check would hand over.
MAX_DMARC_RECORD = 2048
POLICIES = frozenset({"none", "quarantine", "reject"})


def dmarc_policy(record: str) -> str:
    """The ``p`` tag of a DMARC record (RFC 7489 6.3, 6.4): ``v=DMARC1`` first, blanks allowed."""
    text = _dmarc_text(record)
    tags = [part.split("=", 1) for part in text.split(";") if part.strip()]
    if not tags or any(len(tag) != 2 for tag in tags):  # noqa: PLR2004 - name=value
        raise InvalidInput(f"{shown(text)} is not a DMARC record (v=DMARC1; p=...)")
    pairs = [(name.strip().lower(), value.strip()) for name, value in tags]
    if pairs[0] != ("v", "DMARC1"):
        raise InvalidInput(
            f"{shown(text)} is not a DMARC record: it must start with v=DMARC1"
        )
    values = dict(pairs)
    if "p" not in values:
        raise InvalidInput(f"{shown(text)} is not a DMARC record (v=DMARC1; p=...)")
    policy = values["p"].lower()
    if policy not in POLICIES:
        raise InvalidInput(
            f"DMARC policy {shown(policy)} is not none/quarantine/reject"
        )
    return policy


def _dmarc_text(record: str) -> str:
    """The record as one clean line; tabs are blanks of its grammar (RFC 7489 6.4, WSP)."""
    return clean_line(
        record.replace("\t", " "), field="DMARC record", max_length=MAX_DMARC_RECORD
    )
