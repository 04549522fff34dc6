"""Alternative senders waiting for their code, and how many codes may be mailed (RSP-2).

A code goes to an address nobody has vouched for yet, so the mails are counted from the
requests the responder recorded (every worker sees the same count) and refused past the
limits of :class:`ResponderPolicy` (issue 7, item 9).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from uuid import UUID

from attrs import frozen

from domain.address import EmailAddress
from domain.errors import NotPermitted
from domain.responderpolicy import ResponderPolicy

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@frozen
class PendingSender:
    """An alternative sender waiting for its code (RSP-2).

    ``code_id`` names the code's keyed digest in the credential store: not even a digest
    of a short code enters the log, where trying every code would reverse it.
    """

    address: str
    code_id: UUID
    expires_at: datetime
    attempts_left: int


def mails_since(
    mails: Mapping[str, Sequence[datetime]], since: datetime
) -> dict[str, list[datetime]]:
    """The mails sent after ``since``, per alternative address; none left, no entry."""
    recent = {key: [t for t in ts if t > since] for key, ts in mails.items()}
    return {key: ts for key, ts in recent.items() if ts}


def check_mail_budget(
    mails: Mapping[str, Sequence[datetime]],
    alternative: EmailAddress,
    *,
    address: str,
    at: datetime,
    policy: ResponderPolicy,
) -> None:
    """Refuse one more code mail to ``alternative`` (for ``address``) past the limits."""
    day = mails_since(mails, at - DAY)
    hour = mails_since(mails, at - HOUR)
    key = alternative.identity
    limits = (
        (hour.get(key, []), policy.verification_mails_per_hour, "hour"),
        (day.get(key, []), policy.verification_mails_per_day, "day"),
    )
    for sent, cap, period in limits:
        if len(sent) >= cap:
            again = min(sent) + (HOUR if period == "hour" else DAY)
            raise NotPermitted(
                f"alternative sender {alternative} was mailed {len(sent)} verification "
                f"codes in the last {period} (at most {cap}); ask again after "
                f"{again:%Y-%m-%d %H:%M} UTC"
            )
    every = sorted(t for ts in hour.values() for t in ts)
    if len(every) >= policy.verification_mails_per_hour_all:
        raise NotPermitted(
            f"{address} had {len(every)} verification codes mailed in the last "
            f"hour (at most {policy.verification_mails_per_hour_all}); ask again "
            f"after {every[0] + HOUR:%Y-%m-%d %H:%M} UTC"
        )
