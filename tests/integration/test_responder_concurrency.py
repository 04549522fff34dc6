"""RSP-9 in the production shape: two processes decide for one sender at the same moment.

Two racer processes (this module run as a script) open the engine on one shared folder
and, at shared wall-clock instants, each deliver a different message; in most rounds
both messages come from the same sender. Two real ``dramatiq
infrastructure.workerprocess`` processes send the replies taken from a real redis-server,
relayed by the engine of the test process; the SMTP sink counts them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from tests.integration.support import engine, process_env, with_active_responder
from tests.integration.workerprocesses import DRAMATIQ_WORKERS, child
from tests.servers import RunningRedis, SmtpSink

REPO = Path(__file__).resolve().parents[2]
DOMAIN = "example.org"
INFO = f"info@{DOMAIN}"
SAME_SENDER_ROUNDS = 5
# Control rounds: two senders at once both get a reply. The two decisions still collide
# on the hour's reply budget, and the retry must not turn that into a suppression.
TWO_SENDER_ROUNDS = 2
# A round's two decisions must both end before the next round's instant: generous, as
# a loaded 2-core machine can take several hundred ms per decision.
ROUND_GAP_S = 1.5
# The instants are set only once both racers have opened their engines (they say so in
# a file each), so a slow interpreter start makes the test wait, not fail.
FIRST_AFTER_READY_S = 1.0
READY_TIMEOUT_S = 120.0
SPIN_S = 0.02


def sender_of(tag: str, n: int) -> str:
    if n < SAME_SENDER_ROUNDS:
        return f"sender{n}@example.net"
    return f"{tag.lower()}{n}@example.net"


def race(tag: str, folder: Path) -> None:
    """One racer: say it is ready, then at each start instant deliver round ``n``."""
    from infrastructure.bootstrap import open_engine  # noqa: PLC0415 - the racer's own

    opened = open_engine(background=False)
    results: list[dict[str, object]] = []
    try:
        (folder / f"ready-{tag}").touch()
        starts_file = folder / "starts.json"
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not starts_file.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        starts = [float(x) for x in json.loads(starts_file.read_text())]
        for n, start in enumerate(starts):
            sender = sender_of(tag, n)
            raw = (
                f"From: <{sender}>\r\nTo: {INFO}\r\nSubject: question {n} from {tag}"
                f"\r\nMessage-ID: <q{n}.{tag}@example.net>\r\n\r\nHello.\r\n"
            ).encode()
            late = time.time() > start
            # Sleep to just before the start, then spin: both racers leave together.
            while (left := start - time.time()) > 0:
                if left > SPIN_S:
                    time.sleep(left - SPIN_S)
            began = time.time()
            decision = opened.host.responders.deliver(INFO, sender, raw)
            ended = time.time()
            results.append(
                decision.as_dict() | {"began": began, "ended": ended, "late": late}
            )
    finally:
        opened.close()
    print(json.dumps(results))  # noqa: T201 - the racer reports on stdout


def test_two_processes_one_sender_one_reply(
    tmp_path: Path, redis_server: RunningRedis, smtp: SmtpSink
) -> None:
    # rule RSP-9, rule RSP-4, rule RSP-8
    home = tmp_path / "home"
    env = process_env(home, smtp, {"MAILHOST_BROKER_URL": redis_server.url})
    rounds = SAME_SENDER_ROUNDS + TWO_SENDER_ROUNDS
    logs = [tmp_path / name for name in ("racer-A.out", "racer-B.out")]
    with ExitStack() as stack:
        # The engine of this process relays the send jobs to Redis (its relay).
        e = stack.enter_context(engine(home, env))
        with_active_responder(e, INFO)
        worker_procs = [
            stack.enter_context(
                child(DRAMATIQ_WORKERS, env, tmp_path / f"workers{i}.log")
            )
            for i in (1, 2)
        ]
        module = "tests.integration.test_responder_concurrency"
        racers = [
            stack.enter_context(
                child([sys.executable, "-m", module, tag, str(tmp_path)], env, log)
            )
            for tag, log in zip(("A", "B"), logs, strict=True)
        ]
        _when_ready(tmp_path, racers, rounds)
        for racer in racers:
            status = racer.wait(timeout=rounds * ROUND_GAP_S + 60)
            assert status == 0, "".join(log.read_text() for log in logs)
        a, b = (json.loads(log.read_text().splitlines()[-1]) for log in logs)
        overlapping = 0
        for n in range(rounds):
            pair = (a[n], b[n])
            assert not pair[0]["late"], pair
            assert not pair[1]["late"], pair
            overlapping += (
                pair[0]["began"] < pair[1]["ended"]
                and pair[1]["began"] < pair[0]["ended"]
            )
            if n >= SAME_SENDER_ROUNDS:
                assert [d["reply"] for d in pair] == [True, True], pair
                continue
            # Exactly one of the two decisions replies; the other sees its window.
            assert sorted(d["reply"] for d in pair) == [False, True], pair
            [lost] = [d for d in pair if not d["reply"]]
            assert lost["check"] == "replied-recently", pair
            assert str(lost["reason"]).startswith("RSP-4: ")
        # The decisions ran at the same time, or this test proved nothing.
        assert overlapping >= rounds // 2, (a, b)
        expected = sorted(
            {sender_of(tag, n) for tag in ("A", "B") for n in range(rounds)}
        )
        deadline = time.monotonic() + 30
        while len(smtp.messages) < len(expected) and time.monotonic() < deadline:
            for process in worker_procs:
                assert process.poll() is None, (tmp_path / "workers1.log").read_text()
            time.sleep(0.1)
        e.host.settle(timeout=30)
        time.sleep(0.5)  # a second reply, if any, would be on its way by now
        got = sorted(m.rcpt_tos[0] for m in smtp.messages)
        assert got == expected, (got, expected)
        assert {m.mail_from for m in smtp.messages} <= {"", "<>"}
        assert {m.message["Auto-Submitted"] for m in smtp.messages} == {"auto-replied"}
        history = e.host.responders.history(INFO)
        assert sorted(h.sender for h in history) == expected
        assert all(h.sent for h in history)


def _when_ready(
    folder: Path, racers: list[subprocess.Popen[bytes]], rounds: int
) -> None:
    """Once both racers have opened their engines, publish the rounds' instants."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not all((folder / f"ready-{tag}").exists() for tag in ("A", "B")):
        assert time.monotonic() < deadline, "the racers never opened their engines"
        assert all(r.poll() is None for r in racers), "a racer died before its start"
        time.sleep(0.05)
    first = time.time() + FIRST_AFTER_READY_S
    written = folder / "starts.json.new"
    written.write_text(json.dumps([first + n * ROUND_GAP_S for n in range(rounds)]))
    written.rename(folder / "starts.json")


if __name__ == "__main__":
    race(sys.argv[1], Path(sys.argv[2]))
