"""The ``delivery`` benchmark's message set, its SMTP sink and its LMTP clients.

The message set is one list of deliveries used by every case: deliveries go round the
users (``u0`` .. ``u3``) and, per user, a row of new senders (each answered) alternates
with a row of senders that user already heard from (each suppressed, RSP-4), so half of
the messages are answered. A case is timed in rounds (``interleaved``), each a chunk of
the set, alternating with the cases it is compared with. A case renders the set with
its own name in every address
(``lmtp4-u2@...`` from ``lmtp4-s00017@...``): each case starts with responders that
answered nobody, on our side and the peer's alike, and the sink tells the cases' replies
apart by the name in the reply's recipient.
"""

from __future__ import annotations

import json
import math
import random
import smtplib
import socket
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Protocol

from aiosmtpd.controller import Controller

from benchmarks._core import ratio
from tests.servers.process import LOCALHOST, free_port

DOMAIN = "delivery.bench.example"
SENDER_DOMAINS = 50
SINK_WAIT_S = 60.0  # our replies leave through the relay, after the decision
GRACE_S = 0.5  # a duplicate reply sent late would arrive in this time


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


def greets(port: int, marker: bytes = b"") -> bool:
    """Readiness: a ``220`` greeting on ``port`` (with ``marker``: this instance's)."""
    try:
        with socket.create_connection((LOCALHOST, port), timeout=2) as sock:
            line = sock.recv(1024)
    except OSError:
        return False
    return line.startswith(b"220") and marker in line


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
    if code != 250:  # noqa: PLR2004 - SMTP's OK
        raise RuntimeError(f"RCPT {delivery.recipient} refused: {code} {text!r}")
    code, text = client.data(delivery.raw)
    if code != 250:  # noqa: PLR2004 - SMTP's OK
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


class Reporter(Protocol):
    """What a case writes its notes to (``benchmarks._core.Report``)."""

    def note(self, text: str) -> None: ...


Results = list[tuple[Delivery, bytes]]
Runner = Callable[[list[Delivery]], tuple[float, Results]]


def one_by_one(once: Callable[[Delivery], bytes]) -> Runner:
    """Sequential deliveries, one call each (a process per message for a pipe)."""

    def run(deliveries: list[Delivery]) -> tuple[float, Results]:
        began = time.perf_counter()
        out = [(d, once(d)) for d in deliveries]
        return time.perf_counter() - began, out

    return run


def over_lmtp(port: int, lanes: int) -> Runner:
    def run(deliveries: list[Delivery]) -> tuple[float, Results]:
        return over_connections(port, lanes_by_user(deliveries, lanes))

    return run


def check_decisions(case: str, results: Results) -> int:
    """The decisions must follow the set; returns the number of replies decided."""
    replies = 0
    for delivery, text in results:
        decision = json.loads(text[text.index(b"{") :])
        if decision["reply"] is not delivery.item.new:
            raise RuntimeError(
                f"{case}: {delivery.recipient} <- {delivery.sender}: expected "
                f"{'a reply' if delivery.item.new else 'no reply'}, got {decision}"
            )
        replies += decision["reply"]
    return replies


def expected_replies(items: Sequence[Item]) -> int:
    return sum(item.new for item in items)


@dataclass(frozen=True)
class Side:
    """Ours or the peer's: where its replies arrive, and whether its decisions are read."""

    report: Reporter
    sink: CountingSink
    domain: str
    ours: bool


@dataclass
class Case:
    """One case's rounds: what each took, and every decision (read after the clock)."""

    side: Side
    name: str
    runner: Runner
    rate: float = math.nan  # msg/s of all rounds, once finished
    seconds: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    results: Results = field(default_factory=list)

    def run(self, chunk: list[Delivery]) -> None:
        seconds, results = self.runner(chunk)
        self.seconds.append(seconds)
        self.counts.append(len(chunk))
        self.results += results

    def rates(self) -> list[float]:
        return [n / s for n, s in zip(self.counts, self.seconds, strict=True)]

    def finish(self, items: list[Item]) -> float:
        """Checks the decisions and the replies that arrived; msg/s of all rounds."""
        side, expected, seconds = self.side, expected_replies(items), sum(self.seconds)
        decided = check_decisions(self.name, self.results) if side.ours else expected
        waited = side.sink.wait_for(self.name, expected)
        time.sleep(GRACE_S)
        replies, senders = side.sink.replies(self.name)
        side.report.note(
            f"{self.name}: {len(items)} messages in {len(self.seconds)} rounds, "
            f"{seconds:.2f} s; {replies} replies sent to {senders} senders, "
            f"{expected} expected; the last came {waited:.2f} s after the last delivery"
        )
        if side.ours and not replies == senders == decided == expected:
            raise RuntimeError(
                f"{self.name}: {decided} replies decided, {replies} sent to {senders} "
                f"senders; expected {expected}"
            )
        return len(items) / seconds


def interleaved(
    cases: Sequence[Case], items: list[Item], rounds: int, seed: int
) -> None:
    """Round k of every case before round k+1 of any, the order reversed each round."""
    size = math.ceil(len(items) / rounds)
    rendered = [render(case.name, items, seed, case.side.domain) for case in cases]
    for k in range(rounds):
        order = list(zip(cases, rendered, strict=True))
        for case, deliveries in order if k % 2 == 0 else order[::-1]:
            case.run(deliveries[k * size : (k + 1) * size])


def median_ratio(ours: Case, theirs: Case) -> tuple[float, str]:
    """The median of the per-round ratios, and a note of their range and the total's."""
    per_round = [ratio(a, b) for a, b in zip(ours.rates(), theirs.rates(), strict=True)]
    total = ratio(sum(theirs.seconds), sum(ours.seconds))
    note = (
        f"median of {len(per_round)} interleaved rounds (from {min(per_round):.2f} "
        f"to {max(per_round):.2f}; {total:.2f} over the totals)"
    )
    return statistics.median(per_round), note
