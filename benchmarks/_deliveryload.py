"""The ``delivery`` benchmark's message set, its SMTP sink and its LMTP clients.

The message set is one list of deliveries used by every case: deliveries go round the
users (``u0`` .. ``u3``) and, per user, a row of new senders (each answered) alternates
with a row of senders that user already heard from (each suppressed, RSP-4), so half of
the messages are answered. A case renders the set with its own name in every address
(``lmtp4-u2@...`` from ``lmtp4-s00017@...``): each case starts with responders that
answered nobody, on our side and the peer's alike, and the sink tells the cases' replies
apart by the name in the reply's recipient.
"""

from __future__ import annotations

import random
import smtplib
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiosmtpd.controller import Controller

from tests.servers.process import LOCALHOST, free_port

DOMAIN = "delivery.bench.example"
SENDER_DOMAINS = 50
SINK_WAIT_S = 60.0  # our replies leave through the relay, after the decision


@dataclass(frozen=True)
class Item:
    """One delivery of the set: to user ``user``, from sender number ``sender``."""

    index: int
    user: int
    sender: int
    new: bool  # a sender this user has not heard from: the delivery is answered


def message_set(count: int, users: int, seed: int) -> list[Item]:
    rng = random.Random(seed)
    known: dict[int, list[int]] = {user: [] for user in range(users)}
    items: list[Item] = []
    fresh = 0
    for index in range(count):
        user = index % users
        new = (index // users) % 2 == 0 or not known[user]
        if new:
            sender, fresh = fresh, fresh + 1
            known[user].append(sender)
        else:
            sender = rng.choice(known[user])
        items.append(Item(index, user, sender, new))
    return items


def recipient(case: str, user: int, domain: str = DOMAIN) -> str:
    return f"{case}-u{user}@{domain}"


def sender(case: str, number: int) -> str:
    return f"{case}-s{number:05d}@mail{number % SENDER_DOMAINS}.example"


@dataclass(frozen=True)
class Delivery:
    item: Item
    recipient: str
    sender: str
    raw: bytes


def render(
    case: str, items: Sequence[Item], seed: int, domain: str = DOMAIN
) -> list[Delivery]:
    """The set as messages of ``case``: an ordinary message from a person, two hops."""
    date = format_datetime(datetime.now(UTC), usegmt=True)
    out = []
    for item in items:
        to, frm = recipient(case, item.user, domain), sender(case, item.sender)
        host = frm.rsplit("@", 1)[1]
        raw = (
            f"Received: from mx.{host} (mx.{host} [192.0.2.{item.index % 250 + 1}])\r\n"
            f"\tby mx.{domain} with ESMTPS id {item.index:08x}; {date}\r\n"
            f"Received: from client.{host} by mx.{host} with ESMTPSA; {date}\r\n"
            f"From: Sender {item.sender} <{frm}>\r\n"
            f"To: Someone <{to}>\r\n"
            f"Subject: Question number {item.index}\r\n"
            f"Date: {date}\r\n"
            f"Message-ID: <{case}.{item.index:08x}.{seed}@{host}>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "\r\n"
            f"Hello, a question about item {item.index}.\r\n"
        ).encode()
        out.append(Delivery(item, to, frm, raw))
    return out


class CountingSink:
    """An SMTP server in this process that only counts the replies, per recipient.

    It parses nothing (its CPU is shared with what is measured); a reply's recipient
    is the sender of the message answered, which names the case.
    """

    def __init__(self) -> None:
        self.rcpts: Counter[str] = Counter()
        self._arrived = threading.Condition()
        self.port = free_port()
        self._controller = Controller(self, hostname=LOCALHOST, port=self.port)
        self._controller.start()

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self,
        _server: object,
        _session: object,
        envelope: Any,  # noqa: ANN401 - aiosmtpd's Envelope
    ) -> str:
        with self._arrived:
            self.rcpts.update(str(r).lower() for r in envelope.rcpt_tos)
            self._arrived.notify_all()
        return "250 2.0.0 Ok: counted"

    def replies(self, case: str) -> tuple[int, int]:
        """(replies, distinct recipients) of ``case`` so far."""
        prefix = f"{case}-s"
        with self._arrived:
            hits = [n for r, n in self.rcpts.items() if r.startswith(prefix)]
        return sum(hits), len(hits)

    def wait_for(self, case: str, count: int, timeout: float = SINK_WAIT_S) -> float:
        """Seconds until ``case`` has ``count`` replies (or the timeout passed)."""
        began = time.perf_counter()
        with self._arrived:
            self._arrived.wait_for(lambda: self._count(case) >= count, timeout)
        return time.perf_counter() - began

    def _count(self, case: str) -> int:
        prefix = f"{case}-s"
        return sum(n for r, n in self.rcpts.items() if r.startswith(prefix))

    def stop(self) -> None:
        self._controller.stop()


Deliver = Callable[[smtplib.LMTP, Delivery], bytes]


def lmtp_once(client: smtplib.LMTP, delivery: Delivery) -> bytes:
    """One LMTP transaction with one RCPT; returns the reply text of that RCPT."""
    code, text = client.mail(delivery.sender)
    if code != 250:  # noqa: PLR2004 - SMTP's OK
        raise RuntimeError(f"MAIL FROM refused: {code} {text!r}")
    code, text = client.rcpt(delivery.recipient)
    if code != 250:  # noqa: PLR2004
        raise RuntimeError(f"RCPT {delivery.recipient} refused: {code} {text!r}")
    code, text = client.data(delivery.raw)
    if code != 250:  # noqa: PLR2004
        raise RuntimeError(f"DATA for {delivery.recipient}: {code} {text!r}")
    return text


def lmtp_connection(port: int) -> smtplib.LMTP:
    client = smtplib.LMTP(LOCALHOST, port, timeout=120)
    client.ehlo("bench.client.example")
    return client


def over_connections(
    port: int, lanes: Sequence[Sequence[Delivery]]
) -> tuple[float, list[tuple[Delivery, bytes]]]:
    """Each lane on its own connection and thread, started together; (seconds, replies).

    The connections are open before the clock starts, as an MTA's are kept open.
    """
    clients = [lmtp_connection(port) for _ in lanes]
    results: list[list[tuple[Delivery, bytes]]] = [[] for _ in lanes]
    errors: list[BaseException] = []
    start = threading.Barrier(len(lanes) + 1)

    def work(k: int) -> None:
        start.wait()
        try:
            results[k].extend((d, lmtp_once(clients[k], d)) for d in lanes[k])
        except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(lanes))]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    for client in clients:
        client.quit()
    if errors:
        raise errors[0]
    return seconds, [pair for lane in results for pair in lane]


def lanes_by_user(deliveries: Sequence[Delivery], lanes: int) -> list[list[Delivery]]:
    """One lane per user when there are as many lanes as users, in set order."""
    out: list[list[Delivery]] = [[] for _ in range(lanes)]
    for delivery in deliveries:
        out[delivery.item.user % lanes].append(delivery)
    return out
