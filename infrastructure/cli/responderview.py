"""How ``mailhost responder show`` presents a responder: sentences and JSON, not data.

The read model returns a message's :class:`Schedule`; the sentence about it ("mon,fri
from 2026-12-20 09:00 until 2027-01-03 (whole day)") is written here, for the terminal
and the ``--json`` output alike.
"""

from __future__ import annotations

from application.ports import ReplyHistoryEntry, ResponderStatus
from domain.address import EmailAddress
from domain.errors import InvalidInput
from domain.schedule import Schedule
from domain.text import neutralise


def describe_schedule(schedule: Schedule) -> str:
    if schedule.is_always:
        return "always"
    parts = []
    if schedule.weekdays:
        parts.append(",".join(d.value for d in schedule.weekdays))
    if schedule.start is not None:
        parts.append(f"from {schedule.start:%Y-%m-%d %H:%M}")
    if schedule.end is not None:
        end = (
            f"{schedule.end:%Y-%m-%d}"
            if schedule.end_is_date
            else f"{schedule.end:%Y-%m-%d %H:%M}"
        )
        parts.append(f"until {end}" + (" (whole day)" if schedule.end_is_date else ""))
    return " ".join(parts)


def status_data(
    status: ResponderStatus, history: list[ReplyHistoryEntry]
) -> dict[str, object]:
    """The ``--json`` form of ``responder show``."""
    return {
        "address": status.address,
        "time_zone": status.time_zone,
        "active": status.active,
        "next_change": status.next_change.isoformat() if status.next_change else None,
        "messages": [
            {
                "name": m.name,
                "subject": m.subject,
                "active": m.active,
                "schedule": describe_schedule(m.schedule),
                "generation": m.generation,
            }
            for m in status.messages
        ],
        "history": [
            {
                "sender": h.sender,
                "message": h.message,
                "at": h.at.isoformat(),
                "message_id": h.message_id,
                "sent": h.sent,
            }
            for h in history
        ],
    }


def status_lines(
    status: ResponderStatus, history: list[ReplyHistoryEntry]
) -> list[str]:
    """The text form of ``responder show``, a line each."""
    lines = [
        f"{status.address} ({status.time_zone}): active message: {status.active or 'none'}"
    ]
    if status.next_change:
        lines.append(f"  next change: {status.next_change:%Y-%m-%d %H:%M} UTC")
    lines += [
        f"  {'*' if m.active else ' '} {m.name}: {describe_schedule(m.schedule)}"
        for m in status.messages
    ]
    lines.append("replies (newest first):" if history else "no replies yet")
    for h in history:
        state = "sent" if h.sent else "queued"
        lines.append(
            f"  {h.at:%Y-%m-%d %H:%M} UTC  {outside_address(h.sender)}  "
            f"{h.message!r}  {state}"
        )
    return lines


def outside_address(text: str) -> str:
    """A sender as the terminal may show it: came from outside (the MTA's envelope).

    A valid address can hold no control, format or bidi character (email_validator
    refuses them), and is shown whole: :func:`neutralise` would read its domain as a
    link and remove it, and the operator needs to know who got the reply. Anything
    else is neutralised as outside text.
    """
    try:
        parsed = EmailAddress.parse(text)
    except InvalidInput:
        return neutralise(text)
    return text if str(parsed) == text else neutralise(text)
