"""``mailhost deliver`` as a thin client of ``mailhost lmtp`` (issue 13), and its cold path.

The console script (``infrastructure.entrypoint``) runs as the MTA runs it, one process
per message: with ``MAILHOST_LMTP`` naming a real listener process it forwards the
message over LMTP (RFC 2033) and prints the decision the listener replied; without a
listener answering it decides in process. Both must print the same decision and exit
with the same sysexits.h status for the same message (rule RSP-7, RSP-4).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from application.replydelivery import MAX_MESSAGE_BYTES
from domain.errors import InvalidInput
from infrastructure import deliverargs, entrypoint
from infrastructure.cli import deliver as incli
from tests.integration.lmtpsupport import (
    INFO,
    MAILHOST,
    REPO,
    SeededHome,
    events,
    listener,
    message,
)

UNKNOWN = "nobody@example.org"
# Modules the thin path must not load: the engine, its store, its queue, the full CLI.
ENGINE_MODULES = ("eventsourcing", "dramatiq", "infrastructure.bootstrap")
# What the fastest start (``-S`` and infrastructure/mtapipe.py) must not load either:
# each is milliseconds of a ~40 ms budget (issue 13), and the client needs none.
HEAVY_MODULES = (
    "attr", "attrs", "smtplib", "email", "ssl", "json", "re", "typing", "pathlib",
    "ipaddress", "socket", "datetime", "runpy", "site", "domain.text",
)  # fmt: skip
PIPE = (sys.executable, "-S", str(REPO / "infrastructure" / "mtapipe.py"))
WAIT_S = 60.0


def deliver(
    env: dict[str, str],
    recipient: str,
    sender: str,
    raw: bytes,
    *options: str,
    python: tuple[str, ...] = (),
    command: tuple[str, ...] = (),
    cwd: Path = REPO,
) -> subprocess.CompletedProcess[bytes]:
    """``mailhost deliver`` in a process of its own, the message on stdin (``command``
    instead of the console script: another way an MTA may start it)."""
    return subprocess.run(
        [
            *(command or (*python, str(MAILHOST))),
            *("deliver", "--recipient", recipient, "--sender", sender, *options),
        ],
        input=raw,
        capture_output=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


def comparable(out: bytes) -> dict[str, object] | None:
    """The decision printed, without what differs by path or by instant: ``queued`` (a
    listener's relay sends after the reply; a cold process before it exits), the
    Message-ID (derived from the decision's time) and timestamps in the reason."""
    if not out:
        return None
    decision = json.loads(out)
    assert isinstance(decision, dict)
    decision.pop("queued", None)
    decision.pop("message_id", None)
    reason = str(decision.get("reason", ""))
    decision["reason"] = re.sub(r"\d{4}-\d\d-\d\dT[\d:.+]+", "<time>", reason)
    return decision


@pytest.fixture
def homes(tmp_path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Two engine folders seeded alike: one behind a listener, one decided in process."""
    thin, cold = (SeededHome.create(tmp_path / name) for name in ("thin", "cold"))
    return thin.env, cold.env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


NAIVE = "2026-06-01T10:00"  # no UTC offset: no instant
# The message set both paths decide: a reply, its suppressed repeat (RSP-4), an unknown
# address, bad input (RSP-7).
CASES: list[tuple[str, str, str, bytes, tuple[str, ...]]] = [
    ("reply", INFO, "ann@example.net", message("ann@example.net", 1), ()),
    ("repeat", INFO, "ann@example.net", message("ann@example.net", 2), ()),
    ("unknown", UNKNOWN, "ann@example.net", message("ann@example.net", 3), ()),
    ("malformed", "not-an-address", "ann@example.net", message("a@x.net", 4), ()),
    ("words", INFO, "bo@example.net", message("bo@example.net", 5), ("--received-at", "x")),
    ("naive", INFO, "bo@example.net", message("bo@example.net", 6), ("--received-at", NAIVE)),
    ("bare-lf", INFO, "cy@example.net", message("cy@example.net", 7).replace(b"\r\n", b"\n"), ()),
    ("to-bounces", INFO, "", message("mailer-daemon@example.net", 8), ()),
]  # fmt: skip
STATUS = {
    "reply": 0,
    "repeat": 0,
    "unknown": entrypoint.EX_NOUSER,
    "malformed": entrypoint.EX_DATAERR,
    "words": entrypoint.EX_DATAERR,
    "naive": entrypoint.EX_DATAERR,
    "bare-lf": 0,
    "to-bounces": 0,
}


def test_the_thin_client_prints_what_the_cold_path_prints(
    tmp_path: Path, homes: tuple[dict[str, str], dict[str, str]]
) -> None:
    # rule RSP-4, rule RSP-7: same message, same decision and status on either path
    thin_env, cold_env = homes
    with listener(tmp_path, thin_env) as running:
        thin_env = {**thin_env, "MAILHOST_LMTP": running.listen}
        for name, recipient, sender, raw, options in CASES:
            thin = deliver(thin_env, recipient, sender, raw, *options)
            cold = deliver(cold_env, recipient, sender, raw, *options)
            said = f"{name}: thin {thin!r}, cold {cold!r}"
            assert thin.returncode == cold.returncode == STATUS[name], said
            assert comparable(thin.stdout) == comparable(cold.stdout), said
            assert b"Traceback" not in thin.stderr + cold.stderr, said
            if thin.returncode:
                assert thin.stdout == cold.stdout == b"", said
                assert thin.stderr.startswith(b"mailhost: "), said
                assert len(thin.stderr.splitlines()) == 1, said
            if name == "reply":
                # The listener answered it (its relay sends later); the cold process
                # sent its own reply before it exited.
                assert json.loads(thin.stdout)["queued"] is True, said
                assert json.loads(cold.stdout)["queued"] is False, said
        assert running.terminate() == 0


def test_refusals_the_listener_gives_map_to_sysexits(
    tmp_path: Path, homes: tuple[dict[str, str], dict[str, str]]
) -> None:
    # RFC 2033 section 4.2 replies read as sysexits.h: 550 5.1.1 is EX_NOUSER (67)
    env = homes[0]
    with listener(tmp_path, env, "--reject-unknown") as running:
        thin_env = {**env, "MAILHOST_LMTP": running.listen}
        before = events(Path(env["MAILHOST_HOME"]), env)
        unknown = deliver(thin_env, UNKNOWN, "dan@example.net", message("d@x.net", 1))
        assert unknown.returncode == entrypoint.EX_NOUSER, unknown
        assert unknown.stdout == b""
        assert unknown.stderr.decode().startswith("mailhost: 5.1.1 <nobody@"), unknown
        assert events(Path(env["MAILHOST_HOME"]), env) == before  # nothing recorded
        # The message over the size limit is refused before anything is sent.
        big = deliver(thin_env, INFO, "dan@example.net", b"x" * (MAX_MESSAGE_BYTES + 1))
        assert big.returncode == entrypoint.EX_DATAERR, big.stderr
        assert b"larger than" in big.stderr
        assert running.terminate() == 0


def test_no_listener_at_the_address_decides_in_process(
    tmp_path: Path, homes: tuple[dict[str, str], dict[str, str]]
) -> None:
    # issue 13: without a listener `deliver` keeps working, in process
    env = homes[1]
    for where in (f"127.0.0.1:{free_port()}", f"unix:{tmp_path / 'absent.sock'}"):
        sender = f"eve{len(where)}@example.net"
        result = deliver(
            {**env, "MAILHOST_LMTP": where}, INFO, sender, message(sender, 1)
        )
        assert result.returncode == 0, result.stderr
        decision = json.loads(result.stdout)
        assert (decision["reply"], decision["queued"]) == (True, False), decision
        assert result.stderr == b""


def test_the_thin_path_loads_no_engine_module(
    tmp_path: Path, homes: tuple[dict[str, str], dict[str, str]]
) -> None:
    # issue 13: the forwarding process imports only what it needs
    env = homes[0]
    with listener(tmp_path, env) as running:
        thin_env = {**env, "MAILHOST_LMTP": running.listen}
        result = deliver(
            thin_env,
            INFO,
            "fay@example.net",
            message("fay@example.net", 1),
            python=(sys.executable, "-X", "importtime"),
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert json.loads(result.stdout)["queued"] is True  # the listener decided
        imported = imported_by(result.stderr)
        assert "infrastructure.entrypoint" in imported
        loaded = sorted(
            name
            for name in imported
            if name.startswith((*ENGINE_MODULES, "infrastructure.cli"))
        )
        assert loaded == [], loaded
        assert running.terminate() == 0


def imported_by(stderr: bytes) -> set[str]:
    """The modules ``-X importtime`` reported."""
    return {
        line.rsplit("|", 1)[-1].strip()
        for line in stderr.decode().splitlines()
        if line.startswith("import time:")
    }


def test_the_fastest_start_loads_only_the_client(
    tmp_path: Path, homes: tuple[dict[str, str], dict[str, str]]
) -> None:
    # issue 13: `python -S infrastructure/mtapipe.py`, from any folder, as an MTA runs it
    env = homes[0]
    with listener(tmp_path, env) as running:
        for name, recipient, sender, raw, options in CASES[:2]:  # decided: 0
            result = deliver(
                {**env, "MAILHOST_LMTP": running.listen},
                recipient,
                sender,
                raw,
                *options,
                command=(PIPE[0], "-X", "importtime", *PIPE[1:]),
                cwd=tmp_path,
            )
            assert result.returncode == STATUS[name], result.stderr[-2000:]
            loaded = imported_by(result.stderr)
            assert "infrastructure.entrypoint" in loaded
            heavy = sorted(
                m
                for m in loaded
                if m.split(".")[0] in HEAVY_MODULES or m in HEAVY_MODULES
            )
            assert heavy == [], (name, heavy)
            if name == "reply":
                assert json.loads(result.stdout)["queued"] is True  # the listener's
        assert running.terminate() == 0


def test_the_fastest_start_without_a_listener_decides_in_process(
    tmp_path: Path, homes: tuple[dict[str, str], dict[str, str]]
) -> None:
    # -S skips site: the fallback runs it before it imports the engine
    env = {**homes[1], "MAILHOST_LMTP": f"127.0.0.1:{free_port()}"}
    raw = message("ivy@example.net", 1)
    result = deliver(env, INFO, "ivy@example.net", raw, command=PIPE, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["queued"] is False  # decided here


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)


@given(decision=st.dictionaries(st.text(), JSON, max_size=8))
def test_the_decision_is_printed_as_json_dumps_prints_it(
    decision: dict[str, object],
) -> None:
    # the thin path prints what the in-process command prints (json.dumps defaults)
    assert entrypoint.printed(decision) == json.dumps(decision)


def _wchan(pid: int) -> str:
    return Path(f"/proc/{pid}/wchan").read_text()


def _await(condition: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"never: {condition}")
        time.sleep(0.01)


def _unread_bytes_at(port: int) -> bool:
    """Whether a connection to ``port`` holds bytes its server has not read yet."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        rx_queue = int(fields[4].split(":")[1], 16)
        if local_port == port and rx_queue > 0:
            return True
    return False


@pytest.mark.skipif(not Path("/proc/self/wchan").exists(), reason="needs Linux /proc")
def test_a_listener_killed_mid_transaction_is_a_temporary_failure(
    tmp_path: Path, homes: tuple[dict[str, str], dict[str, str]]
) -> None:
    # sysexits.h EX_TEMPFAIL: the listener went away after the client's MAIL; the MTA
    # delivers again later (and the sender's window keeps that from replying twice)
    env = homes[0]
    # One process: with deciders, the session lives on in its decider (which finishes
    # the transaction when the accepting process dies); here the session's process dies.
    with listener(tmp_path, env, "--processes", "1") as running:
        port = int(running.listen.rsplit(":", 1)[1])
        client = subprocess.Popen(
            [str(MAILHOST), "deliver", "--recipient", INFO, "--sender", "gus@x.net"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=REPO,
            env={**env, "MAILHOST_LMTP": running.listen},
        )
        try:
            # Greeted (LHLO answered), the client now waits for its message on stdin.
            _await("the client reads stdin", lambda: "pipe" in _wchan(client.pid))
            os.kill(running.pid, signal.SIGSTOP)
            assert client.stdin is not None
            client.stdin.write(message("gus@x.net", 1))
            client.stdin.close()
            client.stdin = None  # closed: communicate() has nothing more to send
            # MAIL has reached the stopped listener, unanswered: mid-transaction.
            _await("MAIL reaches the listener", lambda: _unread_bytes_at(port))
            os.kill(running.pid, signal.SIGKILL)
            out, err = client.communicate(timeout=WAIT_S)
        finally:
            if client.poll() is None:
                client.kill()
                client.wait()
        running.proc.wait(WAIT_S)
    assert client.returncode == entrypoint.EX_TEMPFAIL, err
    assert out == b""
    assert err.startswith(b"mailhost: temporary failure, the listener went away"), err
    assert b"Traceback" not in err


def test_the_thin_client_reads_its_flags_as_argparse_does() -> None:
    # The plain flags only; anything else goes to the full parser and its usual errors.
    read = deliverargs.parse_request
    assert read(["--recipient", INFO, "--sender", ""]) == deliverargs.Request(INFO, "")
    assert read([f"--recipient={INFO}", "--sender=", "--home", "/h"]) == (
        deliverargs.Request(INFO, "", home="/h")
    )
    assert read(["--sender", "a@x", "--recipient", "b@x", "--received-at", "t"]) == (
        deliverargs.Request("b@x", "a@x", received_at="t")
    )
    for odd in (
        ["--recipient", INFO],  # --sender missing
        ["--recip", INFO, "--sender", "a@x"],  # an abbreviation
        ["--recipient", INFO, "--sender", "-a@x"],  # a value that looks like a flag
        ["--recipient", INFO, "--sender"],
        ["-h"],
        ["--recipient", INFO, "--sender", "a@x", "stray"],
    ):
        assert read(odd) is None, odd


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2026-13-01T10:00:00+02:00",
        "2026-06-01T10:00:00",
        "2026-06-01T10:00:00+02:00",
        "2026-06-01T10:00Z",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
    ],
)
def test_received_at_reads_alike_on_both_paths(text: str) -> None:
    # The thin client checks --received-at before it connects: the same refusal text
    def outcome(read: Callable[[str], object]) -> object:
        try:
            return read(text)
        except InvalidInput as e:
            return str(e)

    assert outcome(deliverargs.received_at) == outcome(incli._received_at)


def test_the_size_limit_is_the_engines() -> None:
    # The thin client cannot import it (the engine would come with it): one value
    assert entrypoint.MAX_MESSAGE_BYTES == MAX_MESSAGE_BYTES
