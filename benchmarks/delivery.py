"""The delivery path as an MTA sees it: our LMTP listener and ``mailhost deliver`` vs Dovecot.

One message set (``_deliveryload.message_set``: 500 deliveries, 100 with ``--quick``,
round four users, half from new senders and answered, half repeats and suppressed) is
delivered by every case, each to responders of its own that answered nobody before:

- ``lmtp_msgs_per_s_1conn`` / ``_4conn``: ``mailhost lmtp`` started here as a subprocess
  on a free 127.0.0.1 port (SQLite, embedded defaults, replies relayed to this
  process's SMTP sink); clients are ``smtplib.LMTP``, one transaction and one RCPT per
  message, the connections opened before the clock starts; with 4 connections each
  carries one user's deliveries. The clock stops at the last decision; the replies
  leave through the listener's relay after it, and the sink must get exactly as many
  as the decisions said (the seconds that took are a note).
- ``deliver_pipe_msgs_per_s``: one ``mailhost deliver`` process per message, sequential,
  with ``MAILHOST_LMTP`` naming the listener (the thin client forwards it; until
  ``infrastructure.entrypoint`` exists it is the full CLI, on the cold count).
- ``deliver_cold_msgs_per_s``: no listener (stopped by then), the same command deciding
  in its own process, on the first ``COLD`` messages of the set (fewer: a second each).
- ``lmtp_peak_rss_mb``: the listener's VmHWM (``/proc/PID/status``) after its loads;
  the note gives it after the first load too, so a growth shows.
- the peer (``_dovecotpeer``), where Dovecot with LMTP and Sieve is installed:
  ``peer_lda_msgs_per_s`` (``dovecot-lda`` per message) and ``peer_lmtp_msgs_per_s``
  (1 and 4 connections), each with a Sieve vacation per user, replies to a sink of
  their own; and the ratios ``lmtp_vs_peer_ratio`` (4 connections each, goal >= 1) and
  ``pipe_vs_peer_ratio`` (pipe vs ``dovecot-lda``, goal >= 0.5).

Every case first delivers a few untimed messages to users of its own (``warm``), so
the first-process and first-connection costs of both servers stay out of the figures.
Each decision is checked against the set after the timer stops (a reply for a new
sender, a suppression for a repeat); a difference, or a reply count that is not the
number of new senders, aborts the group. The peer's reply counts are printed, not
enforced. One timed pass per case: a pass is hundreds of deliveries, and each case
needs fresh responders.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from benchmarks import _deliveryload as load
from benchmarks._core import EMBEDDED_ENV, Options, Report, group, ratio, scratch_dir
from benchmarks._deliveryload import CountingSink, Delivery, Item
from benchmarks._dovecotpeer import DovecotPeer, PeerUsers, start_peer
from infrastructure.bootstrap import open_engine
from tests.servers.process import (
    LOCALHOST,
    ServerProcess,
    ServiceUnavailable,
    Spawn,
    launch,
    log_file,
    log_tail,
)

SEED = 20250113
USERS = 4
MESSAGES, QUICK_MESSAGES = 500, 100
COLD, QUICK_COLD = 40, 12
WARM = 8  # untimed deliveries before each case
ORGANISATION = "Delivery Bench Org"
SUBJECT = "Auto: on holiday"
BODY = "I am on holiday until Monday; your mail will be read then."
OURS = ("warm", "lmtp1", "lmtp4", "pipe", "pipefast", "cold")
PEER = ("pwarm", "plda", "plmtp1", "plmtp4")
PEER_DOMAIN = "peer.delivery.bench.example"
LMTP_GOAL, PIPE_GOAL = 1.0, 0.5
EX_OK = 0
GRACE_S = 0.5


def engine_env(home: Path, sink: CountingSink) -> dict[str, str]:
    """The listener's and the cold command's variables: embedded, replies to the sink.

    The hourly cap is raised: the set answers 60 senders per user in well under an hour.
    """
    env = {k: v for k, v in os.environ.items() if k != "MAILHOST_LMTP"}
    return (
        env
        | dict(EMBEDDED_ENV)
        | {
            "MAILHOST_HOME": str(home),
            "MAILHOST_SMTP_URL": f"smtp://{LOCALHOST}:{sink.port}",
            "MAILHOST_RESPONDER_HOURLY_CAP": "100000",
        }
    )


def setup_ours(home: Path, env: dict[str, str]) -> None:
    engine = open_engine(home, env, background=False)
    try:
        host = engine.host
        host.organisations.found(ORGANISATION)
        host.services.create(ORGANISATION, load.DOMAIN, quota=len(OURS) * USERS + 1)
        for case in OURS:
            for user in range(USERS):
                address = load.recipient(case, user)
                host.addresses.create_unassigned(address)
                host.responders.add(address, "Holidays", subject=SUBJECT, body=BODY)
                host.responders.activate(address, "Holidays")
    finally:
        engine.close()


def _greets(port: int) -> bool:
    import socket  # noqa: PLC0415 - only for the readiness check

    try:
        with socket.create_connection((LOCALHOST, port), timeout=2) as sock:
            return sock.recv(512).startswith(b"220")
    except OSError:
        return False


def start_listener(root: Path, env: dict[str, str]) -> ServerProcess:
    """``mailhost lmtp`` on a free port, as a child stopped by its pid (SIGTERM)."""

    def argv(port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "infrastructure.cli",
            "lmtp",
            "--listen",
            f"{LOCALHOST}:{port}",
        ]

    spec = Spawn("mailhost lmtp", log_file(root, "lmtp"), root, None, env)
    return ServerProcess(launch(argv, _greets, spec))


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def deliver_argv() -> tuple[list[str], str]:
    """How an MTA runs ``mailhost deliver``: the console script's entry, and what it is."""
    script = Path(sys.executable).with_name("mailhost")
    if script.is_file() and "entrypoint" in script.read_text(errors="replace"):
        return [str(script)], "the mailhost console script (infrastructure.entrypoint)"
    if not thin_client():
        return [
            sys.executable,
            "-m",
            "infrastructure.cli",
        ], "the full CLI: no thin client yet, so the cold count"
    code = "import sys\nfrom infrastructure.entrypoint import main\nsys.exit(main())"
    return [sys.executable, "-c", code], "infrastructure.entrypoint:main"


# The fast start for an MTA's pipe (README): no site module, the launcher by path.
FAST_ARGV = [
    sys.executable,
    "-S",
    str(Path(__file__).resolve().parents[1] / "infrastructure" / "mtapipe.py"),
]


def thin_client() -> bool:
    return importlib.util.find_spec("infrastructure.entrypoint") is not None


def pipe_once(argv: Sequence[str], env: dict[str, str], delivery: Delivery) -> bytes:
    done = subprocess.run(  # noqa: S603 - our own command
        [
            *argv,
            "deliver",
            "--recipient",
            delivery.recipient,
            "--sender",
            delivery.sender,
        ],
        input=delivery.raw,
        capture_output=True,
        env=env,
        check=False,
    )
    if done.returncode != EX_OK:
        raise RuntimeError(
            f"mailhost deliver exited {done.returncode}: {done.stderr[-2000:]!r}"
        )
    return done.stdout


PEER_FIGURES = (
    "peer_lda_msgs_per_s",
    "peer_lmtp_msgs_per_s_1conn",
    "peer_lmtp_msgs_per_s_4conn",
    "lmtp_vs_peer_ratio",
    "pipe_vs_peer_ratio",
)
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
        return load.over_connections(port, load.lanes_by_user(deliveries, lanes))

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

    report: Report
    sink: CountingSink
    domain: str
    ours: bool

    def case(self, case: str, items: list[Item], runner: Runner) -> float:
        """One timed pass of ``items`` as ``case``; msg/s. Checked after the clock."""
        deliveries = load.render(case, items, SEED, self.domain)
        seconds, results = runner(deliveries)
        expected = expected_replies(items)
        decided = check_decisions(case, results) if self.ours else expected
        waited = self.sink.wait_for(case, expected)
        time.sleep(GRACE_S)  # a duplicate sent late would arrive in this time
        replies, senders = self.sink.replies(case)
        self.report.note(
            f"{case}: {len(items)} messages in {seconds:.2f} s; {replies} replies "
            f"sent to {senders} senders, {expected} expected; the last came "
            f"{waited:.2f} s after the last delivery"
        )
        if self.ours and not replies == senders == decided == expected:
            raise RuntimeError(
                f"{case}: {decided} replies decided, {replies} sent to {senders} "
                f"senders; expected {expected}"
            )
        return len(items) / seconds


@group("delivery", "LMTP listener and mailhost deliver vs Dovecot LMTP/LDA + Sieve")
def run(options: Options, report: Report) -> None:
    count = QUICK_MESSAGES if options.quick else MESSAGES
    items = load.message_set(count, USERS, SEED)
    cold = items[: QUICK_COLD if options.quick else COLD]
    report.note(
        f"{count} messages round {USERS} users, {expected_replies(items)} from new "
        f"senders (answered), the rest repeats (suppressed); {WARM} untimed before "
        "each kind of case; our case and the peer's side by side in time"
    )
    with scratch_dir("delivery") as root, ExitStack() as stack:
        sinks = CountingSink(), CountingSink()
        for sink in sinks:
            stack.callback(sink.stop)
        env = engine_env(root / "home", sinks[0])
        setup_ours(root / "home", env)
        listener = start_listener(root, env)
        stack.callback(listener.stop)
        peer = peer_or_notes(root, sinks[1].port, report)
        if peer is not None:
            stack.callback(peer.stop)
        ours = Side(report, sinks[0], load.DOMAIN, ours=True)
        theirs = Side(report, sinks[1], PEER_DOMAIN, ours=False)
        try:
            rates = side_by_side(
                ours,
                listener,
                env=env,
                theirs=theirs,
                peer=peer,
                items=items,
                pipe_items=items if thin_client() else cold,
            )
        except BaseException:
            report.note(f"listener log:\n{log_tail(listener.log_path)}")
            raise
        report_figures(report, rates, listener)
        listener.stop()
        argv, what = deliver_argv()
        rate = ours.case("cold", cold, one_by_one(pipe(argv, env)))
        report.figure(
            "deliver_cold_msgs_per_s",
            rate,
            "msg/s",
            f"{len(cold)} messages, no listener, one process each ({what})",
        )
    if peer is not None:
        report_ratios(report, rates)


def pipe(argv: Sequence[str], env: dict[str, str]) -> Callable[[Delivery], bytes]:
    return lambda delivery: pipe_once(argv, env, delivery)


def peer_or_notes(root: Path, sink_port: int, report: Report) -> DovecotPeer | None:
    users = PeerUsers(
        tuple(load.recipient(c, u, PEER_DOMAIN) for c in PEER for u in range(USERS)),
        SUBJECT,
        BODY,
    )
    try:
        return start_peer(root / "peer", users, sink_port)
    except ServiceUnavailable as e:
        for name in PEER_FIGURES:
            report.note(f"skipped: bench {name} ({e.reason})")
        return None


def side_by_side(
    ours: Side,
    listener: ServerProcess,
    *,
    env: dict[str, str],
    theirs: Side,
    peer: DovecotPeer | None,
    items: list[Item],
    pipe_items: list[Item],
) -> dict[str, float]:
    """Each case of ours, then the peer's counterpart at once; warm-ups first."""
    argv, _ = deliver_argv()
    # An MTA's pipe keeps compiled modules; this environment turns that off, so the
    # processes cache them outside the tree.
    pipe_env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"} | {
        "MAILHOST_LMTP": f"{LOCALHOST}:{listener.port}",
        "PYTHONPYCACHEPREFIX": str(Path(env["MAILHOST_HOME"]).parent / "pycache"),
    }
    port = listener.port
    cases: list[tuple[Side, str, Runner]] = [
        (ours, "lmtp1", over_lmtp(port, 1)),
        (ours, "lmtp4", over_lmtp(port, USERS)),
        (ours, "pipe", one_by_one(pipe(argv, pipe_env))),
    ]
    if thin_client():
        cases.append((ours, "pipefast", one_by_one(pipe(FAST_ARGV, pipe_env))))
    if peer is not None:
        cases[1:1] = [(theirs, "plmtp1", over_lmtp(peer.port, 1))]
        cases[3:3] = [(theirs, "plmtp4", over_lmtp(peer.port, USERS))]
        cases.append((theirs, "plda", one_by_one(peer.lda_delivery)))
    warm = load.message_set(WARM, USERS, SEED + 1)
    for side, _, runner in cases:  # connections, first processes, caches
        runner(load.render("warm" if side.ours else "pwarm", warm, SEED, side.domain))
    rates = {}
    for side, name, runner in cases:
        piped = name in {"pipe", "pipefast"}
        rates[name] = side.case(name, pipe_items if piped else items, runner)
        if name == "lmtp1":
            rates["rss_first"] = vm_hwm_mb(listener.pid)
    return rates


def report_figures(
    report: Report, rates: dict[str, float], listener: ServerProcess
) -> None:
    report.figure("lmtp_msgs_per_s_1conn", rates["lmtp1"], "msg/s", "1 connection")
    report.figure(
        "lmtp_msgs_per_s_4conn", rates["lmtp4"], "msg/s", f"{USERS} connections"
    )
    report.figure(
        "deliver_pipe_msgs_per_s",
        rates["pipe"],
        "msg/s",
        f"one process per message, listener running ({deliver_argv()[1]})",
    )
    if "pipefast" in rates:
        report.figure(
            "deliver_pipe_fast_msgs_per_s",
            rates["pipefast"],
            "msg/s",
            "the same, started as the README advises (python -S mtapipe.py)",
        )
    report.figure(
        "lmtp_peak_rss_mb",
        vm_hwm_mb(listener.pid),
        "MB",
        f"VmHWM of the listener after its loads ({rates['rss_first']:.1f} after "
        "the first)",
    )
    if "plda" not in rates:
        return
    report.figure(
        "peer_lda_msgs_per_s", rates["plda"], "msg/s", "dovecot-lda + Sieve vacation"
    )
    report.figure(
        "peer_lmtp_msgs_per_s_1conn", rates["plmtp1"], "msg/s", "Dovecot LMTP + Sieve"
    )
    report.figure(
        "peer_lmtp_msgs_per_s_4conn", rates["plmtp4"], "msg/s", f"{USERS} connections"
    )


def report_ratios(report: Report, rates: dict[str, float]) -> None:
    report.figure(
        "lmtp_vs_peer_ratio",
        ratio(rates["lmtp4"], rates["plmtp4"]),
        "x",
        f"{USERS} connections each, goal >= {LMTP_GOAL}",
    )
    report.figure(
        "pipe_vs_peer_ratio",
        ratio(rates["pipe"], rates["plda"]),
        "x",
        f"mailhost deliver vs dovecot-lda, goal >= {PIPE_GOAL}",
    )
    if "pipefast" in rates:
        report.figure(
            "pipe_fast_vs_peer_ratio",
            ratio(rates["pipefast"], rates["plda"]),
            "x",
            "python -S mtapipe.py deliver vs dovecot-lda",
        )
