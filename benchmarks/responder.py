"""Auto-responder decision latency with 0 and with 100,000 past replies, and deliveries/s.

Two addresses of one mail service each get an active message. One has answered nobody
before the run; the other has answered ``PAST_REPLIES`` distinct senders (10,000 with
``--quick``), every reply inside the 7-day window of the measured deliveries: the
realistic worst case, since those are the senders a decision must still know about.
The past replies are written straight through the aggregates, as ``deliver`` records
them (``ReplyWindow``, the hour's ``ReplyBudget`` and the ``AutoReply`` record), in
batches; the seeding budgets use a raised hourly cap, because 100,000 replies in a week
is far beyond the default 20 an hour (those hours are over before the timed ones).

The timed part is ``host.responders.deliver(recipient, sender, raw, received_at)`` and
nothing else: it parses the header, loads the responder, the sender's window and the
hour's budget, decides and, for a reply, records it. Deliveries alternate between a new
sender (answered) and a sender answered before, inside the window (suppressed, RSP-4).
The engine runs on a :class:`BenchClock` that starts at ``T0`` and moves ``STEP``
forward with each delivery (both responders share it), and ``received_at`` is that
time: windows and caps are measured on the engine's clock, and a ``received_at`` more
than 7 days before it is refused, so neither may be the machine's clock. The replies
stay under the default hourly cap. The two responders are interleaved per round;
every delivery is timed on its own, and the outcome is checked after the timer stops.
p50 and p99 are over all timed deliveries of a responder (both kinds), and per kind as
extra figures: a reply writes one transaction and a suppressed delivery only reads, so
the pooled p50 falls between the two kinds; the per-kind figures say which is which.
The quiet responder starts the run with no reply; its known senders are the ones it
answered earlier in the run.
"""

from __future__ import annotations

import gc
import math
import random
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from application.authorization import OPERATOR
from application.host import MailHost
from benchmarks._core import (
    Options,
    Report,
    Sample,
    group,
    interleaved,
    ratio,
    scratch_engine,
)
from domain.address import EmailAddress, identity
from domain.autoreply import AutoReply, record_reply
from domain.incoming import OriginalMessage
from domain.replyplan import Check, ReplyPlan, reply_message_id
from domain.replywindow import ReplyBudget
from domain.responderpolicy import REPLY_INTERVAL, ResponderPolicy, hour_bucket

SEED = 20240603
ORGANISATION = "Responder Bench Org"
DOMAIN = "responder.bench.example"
QUIET = f"quiet@{DOMAIN}"  # no past replies
BUSY = f"busy@{DOMAIN}"  # PAST_REPLIES past replies
PAST_REPLIES = 100_000
QUICK_PAST_REPLIES = 10_000
SEED_BATCH = 1_000  # past replies per write transaction
# The measured deliveries start here; the past replies lie in the days before.
T0 = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)
# Two minutes per delivery, half of them answered: 15 replies an hour, under the
# default cap of 20 (ResponderPolicy.hourly_cap), so no timed delivery hits the cap.
STEP = timedelta(minutes=2)
MARGIN = timedelta(hours=1)
# The timed deliveries of both responders span at most this much simulated time, so the
# past replies (spread over what is left of the 7-day window) all stay inside it.
MAX_RUN_SPAN = timedelta(days=6)
SENDER_DOMAINS = 50
LOADS = 2  # the quiet and the busy responder, one after the other on one clock


class BenchClock:
    """The engine's clock: ``T0`` at first, then wherever the next delivery moves it.

    It only moves forward, as a real clock would between deliveries.
    """

    def __init__(self, start: datetime) -> None:
        self.at = start

    def now(self) -> datetime:
        return self.at

    def move_to(self, at: datetime) -> None:
        if at < self.at:
            raise RuntimeError(f"the clock would go back from {self.at} to {at}")
        self.at = at


def _sender(kind: str, index: int) -> str:
    return f"{kind}{index:06d}@mail{index % SENDER_DOMAINS}.example"


def incoming(sender: str, recipient: str, at: datetime, index: int) -> bytes:
    """An ordinary message from a person, two hops, the address in To."""
    date = format_datetime(at)
    host = EmailAddress.parse(sender).domain
    return (
        f"Received: from mx.{host} (mx.{host} [192.0.2.{index % 250 + 1}])\r\n"
        f"\tby mx.{DOMAIN} with ESMTPS id {index:08x}; {date}\r\n"
        f"Received: from client.{host} by mx.{host} with ESMTPSA; {date}\r\n"
        f"From: Sender {index} <{sender}>\r\n"
        f"To: Someone <{recipient}>\r\n"
        f"Cc: colleague@{DOMAIN}\r\n"
        f"Subject: Question number {index}\r\n"
        f"Date: {date}\r\n"
        f"Message-ID: <{index:08x}.{SEED}@{host}>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"Hello, a question about item {index}.\r\n"
    ).encode()


@dataclass(frozen=True)
class Delivery:
    sender: str
    raw: bytes
    at: datetime
    new: bool


@dataclass
class ResponderLoad:
    """Deliveries to one address: a batch prepared untimed, then timed one by one."""

    host: MailHost
    clock: BenchClock
    address: str
    label: str
    rng: random.Random
    known: list[str]  # senders answered inside the window, as given
    new_senders: int = 0
    batch: list[Delivery] = field(default_factory=list)
    # Durations of single deliveries, in order, warm-up included.
    laps: list[float] = field(default_factory=list)
    kinds: list[bool] = field(default_factory=list)  # True: a new sender

    def prepare(self, size: int) -> None:
        """The next ``size`` deliveries: a new sender, then a known one, alternating.

        Prepared just before they run, so they follow on from the clock's time.
        """
        self.batch = []
        cursor = self.clock.now()
        for i in range(size):
            new = i % 2 == 0
            if new:
                self.new_senders += 1
                sender = _sender(f"new-{self.label}-", self.new_senders)
            else:
                sender = self.rng.choice(self.known)
            index = len(self.laps) + i
            cursor += STEP
            self.batch.append(
                Delivery(
                    sender, incoming(sender, self.address, cursor, index), cursor, new
                )
            )
            if new:
                # Answered by then: a later delivery may come from it again.
                self.known.append(sender)

    def run(self) -> int:
        deliver = self.host.responders.deliver
        for delivery in self.batch:
            self.clock.move_to(delivery.at)
            start = time.perf_counter()
            decision = deliver(self.address, delivery.sender, delivery.raw, delivery.at)
            elapsed = time.perf_counter() - start
            expected = Check.REPLY if delivery.new else Check.REPLIED_RECENTLY
            if decision.check is not expected:
                raise RuntimeError(
                    f"{self.address} <- {delivery.sender}: expected {expected.value}, "
                    f"got {decision.reason}"
                )
            self.laps.append(elapsed)
            self.kinds.append(delivery.new)
        count = len(self.batch)
        self.batch = []
        return count

    def timed(self, skip: int, *, new: bool | None = None) -> list[float]:
        return [
            lap
            for lap, kind in zip(self.laps[skip:], self.kinds[skip:], strict=True)
            if new is None or kind is new
        ]

    def rounds(self, size: int, skip: int) -> Sample:
        laps = self.laps[skip:]
        return Sample.from_laps([laps[i : i + size] for i in range(0, len(laps), size)])


def setup(host: MailHost) -> None:
    host.organisations.found(ORGANISATION, by=OPERATOR)
    host.services.create(ORGANISATION, DOMAIN, quota=4, by=OPERATOR)
    for address in (QUIET, BUSY, f"colleague@{DOMAIN}"):
        host.addresses.create_unassigned(address, by=OPERATOR)
    for address in (QUIET, BUSY):
        responders = host.responders
        responders.add(
            address,
            "Holidays",
            body="I am on holiday until Monday; your mail will be read then.\n",
            time_zone="Europe/Zurich",
            exclusions=["@partner.example", "boss@elsewhere.example"],
            by=OPERATOR,
        )
        responders.add(
            address, "Conference", body="I am at a conference.\n", by=OPERATOR
        )
        responders.activate(address, "Holidays", by=OPERATOR)


def seed_past_replies(host: MailHost, address: str, count: int, span: timedelta) -> int:
    """``count`` replies to distinct senders over ``span`` before T0; returns events."""
    responder = host.responders.get(address)
    if responder is None or responder.active_message is None:
        raise RuntimeError(f"{address} has no active message")
    config, message = responder.config(), responder.active_message
    # The operator cap is for live mail; these replies are history packed into a week.
    policy = ResponderPolicy(hourly_cap=count + 1)
    first = T0 - span
    step = span / count
    budgets: dict[datetime, ReplyBudget] = {}
    events = 0
    for start in range(0, count, SEED_BATCH):
        touched: dict[datetime, ReplyBudget] = {}
        records = []
        for i in range(start, min(start + SEED_BATCH, count)):
            at = first + i * step
            sender = _sender("past-", i)
            plan = ReplyPlan(
                address=config.address,
                message_name=message.name,
                message_key=message.key,
                generation=message.generation,
                to=sender,
                sender_key=identity(sender),
                from_address=config.address,
                subject=message.subject,
                body=message.body,
                received_at=at,
                message_id=reply_message_id(
                    config.address,
                    identity(sender),
                    message.key,
                    message.generation,
                    at,
                ),
                original=OriginalMessage(
                    message_id=f"<{i:08x}.{SEED}@past.example>",
                    subject=f"Question number {i}",
                ),
            )
            hour = hour_bucket(at)
            window, budget = record_reply(
                plan, window=None, budget=budgets.get(hour), policy=policy
            )
            budgets[hour] = touched[hour] = budget
            records += [window, AutoReply.decide(plan)]
        events += len(host.log.save(*records, *touched.values()))
    return events


def percentile(laps: list[float], p: int) -> float:
    """The p-th percentile in milliseconds (linear between the closest ranks)."""
    if len(laps) < 2:  # noqa: PLR2004 - quantiles needs two points
        return laps[0] * 1000 if laps else math.nan
    return statistics.quantiles(laps, n=100, method="inclusive")[p - 1] * 1000


@group("responder", "auto-responder deliver latency, 0 vs 100k past replies")
def run(options: Options, report: Report) -> None:
    rounds = options.pick_rounds(quick=5, full=10)
    # Many rounds (--rounds) get smaller ones, so the run fits in MAX_RUN_SPAN.
    per_round = min(
        80 if options.quick else 200, MAX_RUN_SPAN // STEP // (LOADS * (rounds + 1))
    )
    if per_round < 2:  # noqa: PLR2004 - one new sender and one known at least
        raise ValueError(f"{rounds} rounds do not fit in the 7-day window")
    past = QUICK_PAST_REPLIES if options.quick else PAST_REPLIES
    span = REPLY_INTERVAL - LOADS * (rounds + 1) * per_round * STEP - MARGIN
    clock = BenchClock(T0)
    with scratch_engine("responder", clock=clock) as (_, engine):
        host = engine.host
        setup(host)
        began = time.perf_counter()
        events = seed_past_replies(host, BUSY, past, span)
        seeding = time.perf_counter() - began
        rng = random.Random(SEED)
        quiet = ResponderLoad(host, clock, QUIET, "q", random.Random(rng.random()), [])
        busy = ResponderLoad(
            host,
            clock,
            BUSY,
            "b",
            random.Random(rng.random()),
            [_sender("past-", i) for i in range(past)],
        )
        gc.collect()
        interleaved(
            {"quiet": quiet.run, "busy": busy.run},
            rounds=rounds,
            before={
                "quiet": lambda: quiet.prepare(per_round),
                "busy": lambda: busy.prepare(per_round),
            },
        )
    report.note(
        f"SQLite, embedded defaults; {BUSY} answered {past} distinct senders over the "
        f"{span / timedelta(days=1):.1f} days before the run ({events} events, "
        f"{events / seeding:.0f} events/s seeding); {rounds} interleaved rounds of "
        f"{per_round} deliveries per responder after one warm-up round, half from new "
        "senders (answered), half from senders inside the window (suppressed)"
    )
    _report(report, quiet, busy, per_round, past)


def _report(
    report: Report,
    quiet: ResponderLoad,
    busy: ResponderLoad,
    per_round: int,
    past: int,
) -> None:
    skip = per_round  # the warm-up round
    quick = past != PAST_REPLIES
    # The names keep "100k" in a quick run, so scripts read one set of figures.
    note = f" ({past} past replies, --quick)" if quick else ""
    report.figure("responder_past_replies", past, "replies", f"of {BUSY}")
    for load, suffix in ((quiet, "0"), (busy, "100k")):
        laps = load.timed(skip)
        report.figure(
            f"responder_p50_ms_{suffix}",
            percentile(laps, 50),
            "ms",
            f"{len(laps)} deliveries, both kinds" + (note if load is busy else ""),
        )
        report.figure(f"responder_p99_ms_{suffix}", percentile(laps, 99), "ms")
    report.figure(
        "responder_p99_ratio_100k",
        ratio(percentile(busy.timed(skip), 99), percentile(quiet.timed(skip), 99)),
        "x",
        "p99 100k / p99 0, goal <= 1.5" + note,
    )
    report.figure(
        "responder_p50_ratio_100k",
        ratio(percentile(busy.timed(skip), 50), percentile(quiet.timed(skip), 50)),
        "x",
    )
    _report_kinds(report, quiet, busy, skip)
    _report_rates(report, quiet, busy, per_round, skip)


def _report_kinds(
    report: Report, quiet: ResponderLoad, busy: ResponderLoad, skip: int
) -> None:
    """Replies and suppressed deliveries apart: a slow kind cannot hide in the mix."""
    for kind, new in (("reply", True), ("suppressed", False)):
        for load, suffix in ((quiet, "0"), (busy, "100k")):
            laps = load.timed(skip, new=new)
            report.figure(
                f"responder_{kind}_p50_ms_{suffix}",
                percentile(laps, 50),
                "ms",
                f"{len(laps)} deliveries",
            )
            report.figure(
                f"responder_{kind}_p99_ms_{suffix}", percentile(laps, 99), "ms"
            )
        report.figure(
            f"responder_{kind}_p99_ratio_100k",
            ratio(
                percentile(busy.timed(skip, new=new), 99),
                percentile(quiet.timed(skip, new=new), 99),
            ),
            "x",
        )


def _report_rates(
    report: Report, quiet: ResponderLoad, busy: ResponderLoad, per_round: int, skip: int
) -> None:
    by_quiet = quiet.rounds(per_round, skip)
    by_busy = busy.rounds(per_round, skip)
    both = Sample(
        by_quiet.rates + by_busy.rates,
        by_quiet.seconds_per_op + by_busy.seconds_per_op,
    )
    report.figure(
        "deliveries_per_s",
        both.median,
        "/s",
        "half answered, half suppressed, rounds of both responders; " + both.spread(),
    )
    report.figure("deliveries_per_s_0", by_quiet.median, "/s", by_quiet.spread())
    report.figure("deliveries_per_s_100k", by_busy.median, "/s", by_busy.spread())
