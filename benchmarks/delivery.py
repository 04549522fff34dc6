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
The machine is shared and its speed drifts within seconds, so a case of ours and the
peer's counterpart are never timed apart: each is cut into ``ROUNDS`` consecutive
chunks of the one set, and round k of every case in a comparison (``lmtp1`` and
``plmtp1``; ``lmtp4`` and ``plmtp4``; ``pipe``, ``pipefast`` and ``plda``) runs before
round k+1 of any, the order reversed each round. A case's msg/s is its messages over
its seconds; a ratio is the median of the per-round ratios (the note gives their range
and the ratio of the totals). Each decision is checked against the set after the
timer stops (a reply for a new sender, a suppression for a repeat); a difference, or a
reply count that is not the number of new senders, aborts the group. The peer's reply
counts are printed, not enforced.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path

from application.authorization import OPERATOR
from benchmarks import _deliveryload as load
from benchmarks._core import EMBEDDED_ENV, Options, Report, group, scratch_dir
from benchmarks._deliveryload import (
    Case,
    CountingSink,
    Delivery,
    Item,
    Side,
    expected_replies,
    interleaved,
    median_ratio,
    one_by_one,
    over_lmtp,
)
from benchmarks._dovecotpeer import DovecotPeer, PeerUsers, start_peer
from infrastructure.bootstrap import open_engine
from infrastructure.lmtpdecider import CODE as DECIDER_CODE
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
ROUNDS, QUICK_ROUNDS = 10, 4  # interleaved chunks of each case (see above)
ORGANISATION = "Delivery Bench Org"
SUBJECT = "Auto: on holiday"
BODY = "I am on holiday until Monday; your mail will be read then."
OURS = ("warm", "lmtp1", "lmtp4", "pipe", "pipefast", "cold")
PEER = ("pwarm", "plda", "plmtp1", "plmtp4")
PEER_DOMAIN = "peer.delivery.bench.example"
LMTP_GOAL, PIPE_GOAL = 1.0, 0.5
EX_OK = 0
PROCESSES_ENV = "BENCH_LMTP_PROCESSES"  # ``mailhost lmtp --processes`` for this run


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
        host.organisations.found(ORGANISATION, by=OPERATOR)
        host.services.create(
            ORGANISATION, load.DOMAIN, quota=len(OURS) * USERS + 1, by=OPERATOR
        )
        for case in OURS:
            for user in range(USERS):
                address = load.recipient(case, user)
                host.addresses.create_unassigned(address, by=OPERATOR)
                host.responders.add(
                    address, "Holidays", subject=SUBJECT, body=BODY, by=OPERATOR
                )
                host.responders.activate(address, "Holidays", by=OPERATOR)
    finally:
        engine.close()


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
            "--processes",
            str(listener_processes()),
        ]

    spec = Spawn("mailhost lmtp", log_file(root, "lmtp"), root, None, env)
    return ServerProcess(launch(argv, load.greets, spec))


def listener_processes() -> int:
    """The listener's deciders: one per CPU, as deployed, unless the run says otherwise."""
    return int(os.environ.get(PROCESSES_ENV) or os.cpu_count() or 1)


def vm_hwm_mb(pid: int) -> float:
    """The listener's peak RSS: its own and its deciders' (not the reply sender's)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    deciders = [
        int(child)
        for child in children
        if DECIDER_CODE.encode()
        in Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
    ]
    return sum(_vm_hwm_mb(p) for p in (pid, *deciders))


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def deliver_argv() -> tuple[list[str], str]:
    """How an MTA runs ``mailhost deliver``: the console script's entry, and what it is."""
    script = Path(sys.executable).with_name("mailhost")
    if script.is_file() and "entrypoint" in script.read_text(errors="replace"):
        return [str(script)], "the mailhost console script (infrastructure.entrypoint)"
    code = "import sys\nfrom infrastructure.entrypoint import main\nsys.exit(main())"
    return [sys.executable, "-c", code], "infrastructure.entrypoint:main"


# The fast start for an MTA's pipe (README): no site module, the launcher by path.
FAST_ARGV = [
    sys.executable,
    "-S",
    str(Path(__file__).resolve().parents[1] / "infrastructure" / "mtapipe.py"),
]


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


PEER_CASES = (
    ("peer_lda_msgs_per_s", "plda", "dovecot-lda + Sieve vacation"),
    ("peer_lmtp_msgs_per_s_1conn", "plmtp1", "Dovecot LMTP + Sieve, 1 connection"),
    ("peer_lmtp_msgs_per_s_4conn", "plmtp4", f"the same, {USERS} connections"),
)
RATIOS = (  # ours vs the peer's, as msg/s: name, (ours, theirs), goal
    ("lmtp_vs_peer_ratio", ("lmtp4", "plmtp4"), LMTP_GOAL),
    ("lmtp_1conn_vs_peer_ratio", ("lmtp1", "plmtp1"), None),
    ("pipe_vs_peer_ratio", ("pipe", "plda"), PIPE_GOAL),
    ("pipe_fast_vs_peer_ratio", ("pipefast", "plda"), None),
)
PEER_FIGURES = (
    "peer_lda_msgs_per_s",
    "peer_lmtp_msgs_per_s_1conn",
    "peer_lmtp_msgs_per_s_4conn",
    "lmtp_vs_peer_ratio",
    "pipe_vs_peer_ratio",
)


@group("delivery", "LMTP listener and mailhost deliver vs Dovecot LMTP/LDA + Sieve")
def run(options: Options, report: Report) -> None:
    count = QUICK_MESSAGES if options.quick else MESSAGES
    items = load.message_set(count, USERS, SEED)
    cold = items[: QUICK_COLD if options.quick else COLD]
    rounds = QUICK_ROUNDS if options.quick else ROUNDS
    report.note(
        f"{count} messages round {USERS} users, {expected_replies(items)} from new "
        f"senders (answered), the rest repeats (suppressed); {WARM} untimed before "
        f"each kind of case; each case in {rounds} rounds interleaved with the "
        f"peer's counterpart; the listener has {listener_processes()} decider "
        f"process(es) (${PROCESSES_ENV})"
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
        sides = (
            Side(report, sinks[0], load.DOMAIN, ours=True),
            Side(report, sinks[1], PEER_DOMAIN, ours=False),
        )
        try:
            groups = comparisons(sides, listener, env, peer)
            cases, rss_first = side_by_side(groups, listener, items, rounds)
        except BaseException:
            report.note(f"listener log:\n{log_tail(listener.log_path)}")
            raise
        report_figures(report, cases, listener, rss_first)
        listener.stop()
        argv, what = deliver_argv()
        cold_case = Case(sides[0], "cold", one_by_one(pipe(argv, env)))
        interleaved([cold_case], cold, 1, SEED)
        report.figure(
            "deliver_cold_msgs_per_s",
            cold_case.finish(cold),
            "msg/s",
            f"{len(cold)} messages, no listener, one process each ({what})",
        )


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


def comparisons(
    sides: tuple[Side, Side],
    listener: ServerProcess,
    env: dict[str, str],
    peer: DovecotPeer | None,
) -> list[list[Case]]:
    """The cases, each comparison's together: ours first, the peer's where it runs."""
    ours, theirs = sides
    # An MTA's pipe keeps compiled modules; this environment turns that off, so the
    # processes cache them outside the tree.
    pipe_env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"} | {
        "MAILHOST_LMTP": f"{LOCALHOST}:{listener.port}",
        "PYTHONPYCACHEPREFIX": str(Path(env["MAILHOST_HOME"]).parent / "pycache"),
    }
    groups = [
        [Case(ours, "lmtp1", over_lmtp(listener.port, 1))],
        [Case(ours, "lmtp4", over_lmtp(listener.port, USERS))],
        [
            Case(ours, "pipe", one_by_one(pipe(deliver_argv()[0], pipe_env))),
            Case(ours, "pipefast", one_by_one(pipe(FAST_ARGV, pipe_env))),
        ],
    ]
    if peer is not None:
        groups[0].append(Case(theirs, "plmtp1", over_lmtp(peer.port, 1)))
        groups[1].append(Case(theirs, "plmtp4", over_lmtp(peer.port, USERS)))
        groups[2].append(Case(theirs, "plda", one_by_one(peer.lda_delivery)))
    return groups


def side_by_side(
    groups: list[list[Case]], listener: ServerProcess, items: list[Item], rounds: int
) -> tuple[dict[str, Case], float]:
    """Every comparison in interleaved rounds, warm-ups first; the cases by name."""
    warm = load.message_set(WARM, USERS, SEED + 1)
    for case in (case for comparison in groups for case in comparison):
        name = "warm" if case.side.ours else "pwarm"
        case.runner(load.render(name, warm, SEED, case.side.domain))
    done: dict[str, Case] = {}
    rss_first = math.nan
    for comparison in groups:
        interleaved(comparison, items, rounds, SEED)
        for case in comparison:
            case.rate = case.finish(items)
            done[case.name] = case
        if math.isnan(rss_first):  # after the first comparison: lmtp1's load
            rss_first = vm_hwm_mb(listener.pid)
    return done, rss_first


def report_figures(
    report: Report, cases: dict[str, Case], listener: ServerProcess, rss_first: float
) -> None:
    rate = {name: case.rate for name, case in cases.items()}
    report.figure("lmtp_msgs_per_s_1conn", rate["lmtp1"], "msg/s", "1 connection")
    report.figure(
        "lmtp_msgs_per_s_4conn", rate["lmtp4"], "msg/s", f"{USERS} connections"
    )
    report.figure(
        "deliver_pipe_msgs_per_s",
        rate["pipe"],
        "msg/s",
        f"one process per message, listener running ({deliver_argv()[1]})",
    )
    report.figure(
        "deliver_pipe_fast_msgs_per_s",
        rate["pipefast"],
        "msg/s",
        "the same, started as the README advises (python -S mtapipe.py)",
    )
    report.figure(
        "lmtp_peak_rss_mb",
        vm_hwm_mb(listener.pid),
        "MB",
        f"VmHWM of the listener and its deciders, summed, after its loads "
        f"({rss_first:.1f} after lmtp1)",
    )
    if "plda" not in cases:
        return
    for name, key, what in PEER_CASES:
        report.figure(name, rate[key], "msg/s", what)
    for name, pair, goal in RATIOS:
        value, note = median_ratio(cases[pair[0]], cases[pair[1]])
        report.figure(name, value, "x", f"{note}; goal >= {goal}" if goal else note)
