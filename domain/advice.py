"""Advisories computed from the facts of a mail service (ADV-1..ADV-4).

The facts are plain values, not aggregates: the advisories read model keeps them as
its events arrive and asks these rules, without loading a service and its addresses.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from attrs import frozen

OVERLOADED = 0.9  # a catch-all target at 90 % of its storage bounces soon


@frozen
class Advice:
    rule: str
    address: str
    text: str


@frozen
class ServiceFacts:
    domain: str
    catch_all: UUID | None
    dmarc_policy: str | None


@frozen
class MailboxFacts:
    mailbox_id: UUID
    address: str
    aliases: tuple[str, ...] = ()
    allow_list: tuple[str, ...] = ()
    pop3_keeps_copy: bool = False
    imap: bool = False
    usage: tuple[int, int] | None = None


def advise(service: ServiceFacts, mailboxes: Sequence[MailboxFacts]) -> list[Advice]:
    """What the admin of the service should fix, from facts the engine has recorded."""
    found: list[Advice] = []
    for mailbox in mailboxes:
        own = {mailbox.address.casefold(), *(a.casefold() for a in mailbox.aliases)}
        listed = {e.casefold() for e in mailbox.allow_list}
        if own & listed or f"@{service.domain}" in listed:
            found.append(
                Advice(
                    "ADV-1",
                    mailbox.address,
                    "Your own address is in this address's antispam allow-list, so spam "
                    "that forges it as sender is never filtered: remove it from the "
                    "allow-list.",
                )
            )
        if mailbox.pop3_keeps_copy and mailbox.imap:
            found.append(
                Advice(
                    "ADV-3",
                    mailbox.address,
                    "A POP3 client keeps a copy on the server while an IMAP client also "
                    "reads this address: mail is downloaded twice. Use IMAP only.",
                )
            )
    target = next((m for m in mailboxes if m.mailbox_id == service.catch_all), None)
    if target is not None and target.usage is not None:
        used, limit = target.usage
        if used >= OVERLOADED * limit:
            found.append(
                Advice(
                    "ADV-2",
                    target.address,
                    f"The catch-all delivers into {target.address}, which uses {used} of "
                    f"{limit} MB: once full, mail to every unknown address bounces. Free "
                    "space, raise its limit, or stop the catch-all.",
                )
            )
    if service.dmarc_policy is None:
        found.append(
            Advice(
                "ADV-4",
                service.domain,
                f"Publish a DMARC record for {service.domain}, e.g. the TXT record "
                f'_dmarc.{service.domain} "v=DMARC1; p=quarantine; '
                f'rua=mailto:postmaster@{service.domain}".',
            )
        )
    return found
