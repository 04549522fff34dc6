"""Facts of a mailbox the advisories read (ADV-1..ADV-3): its allow-list, its usage.

They come from the admin (the allow-list) and from the mail store (the usage) and are
kept in the log for good, so each is bounded and parsed before it is stored.
"""

from __future__ import annotations

from collections.abc import Iterable

from domain.address import EmailAddress
from domain.errors import InvalidInput
from domain.redirect import unique_addresses

MAX_ALLOW_LIST = 1000
# A petabyte, in MB: more than any mailbox holds, small enough for every store.
MAX_USAGE_MB = 1_000_000_000


def allow_list(entries: Iterable[str]) -> tuple[str, ...]:
    """The antispam allow-list: distinct addresses or @domains, at most MAX_ALLOW_LIST."""
    clean = unique_addresses(_allow_entry(e) for e in entries)
    if len(clean) > MAX_ALLOW_LIST:
        raise InvalidInput(f"an allow-list has at most {MAX_ALLOW_LIST} entries")
    return clean


def megabytes(value: object, *, field: str, least: int) -> int:
    """A size the mail store reported: a whole number of MB, finite and bounded.

    NaN compares false with every bound and an infinity or a 100-digit integer is no
    size a mailbox has; each would be stored in the log for good.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not least <= value <= MAX_USAGE_MB
    ):
        raise InvalidInput(
            f"{field} must be a whole number of MB from {least} to {MAX_USAGE_MB}"
        )
    return value


def _allow_entry(entry: str) -> str:
    text = entry.strip()
    if text.startswith("@"):
        return "@" + EmailAddress.parse(f"x{text}", what="allow-list domain").domain
    return str(EmailAddress.parse(text, what="allow-list address"))
