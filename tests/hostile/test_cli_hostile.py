"""Every ``mailhost`` command fed hostile input (issue 7, "What to reach").

Bad input exits 2 with a message on stderr that names the field, no traceback, no raw
control character written to the operator's terminal, and nothing written anywhere.

Most cases run ``infrastructure.cli.main`` in this process (an argument may then hold a
NUL, which no real process can receive); a representative set per command runs the
command in a process of its own, with arguments and standard input as raw bytes (invalid
UTF-8 arrives as lone surrogates), and ``deliver`` gets hostile messages on stdin.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest
from attrs import frozen

from tests.hostile import seed
from tests.hostile.support import (
    MB,
    Outcome,
    Snapshot,
    changes,
    names_field,
    raw_controls,
    run_in_process,
    run_process,
    snapshot,
)

ANN, BOB, DOMAIN = seed.ANN, seed.BOB, seed.DOMAIN
PASSWORD = b"another long passphrase"


@frozen
class Case:
    id: str
    argv: tuple[str | bytes, ...]
    field: tuple[str, ...]
    stdin: bytes = b""
    env: Mapping[str, str] = {}
    files: Mapping[str, bytes] = {}  # written into the test's folder; {dir} in argv


def case(
    id_: str,
    argv: Sequence[str | bytes],
    field: Sequence[str],
    stdin: bytes = b"",
    *,
    env: Mapping[str, str] | None = None,
    files: Mapping[str, bytes] | None = None,
) -> Case:
    return Case(id_, tuple(argv), tuple(field), stdin, env or {}, files or {})


def command(
    id_: str,
    field: Sequence[str],
    *arguments: str | bytes,
    stdin: bytes = b"",
    env: Mapping[str, str] | None = None,
    files: Mapping[str, bytes] | None = None,
) -> Case:
    """A case whose id names the command ("responder show/..."): its argv starts so."""
    words = id_.split("/", 1)[0].split()
    return case(id_, [*words, *arguments], field, stdin, env=env, files=files)


NUL, ESC, CRLF = "\x00", "\x1b[31m\x07", "\r\nBcc: evil@example.net"
HUGE = "x" * 100_000
CSV_HEADER = b"address,kind,users,targets,signature\n"


# Builders for the commands with many cases: each case then names only what it varies.


def user_create(
    id_: str,
    field: Sequence[str],
    password: bytes,
    *options: str,
    login: str = "carol@example.org",
    org: str = seed.ORG,
) -> Case:
    argv = ["user", "create", login, "--org", org, *options, "--password-stdin"]
    return case(id_, argv, field, password)


def service_create(
    id_: str, field: Sequence[str], *, domain: str = "other.example", quota: str = "5"
) -> Case:
    argv = ["service", "create", domain, "--org", seed.ORG, "--quota", quota]
    return case(id_, argv, field)


def send(
    id_: str,
    field: Sequence[str],
    *,
    body: bytes = b"Hello",
    to: str = "dave@example.net",
    subject: str = "Hi",
    options: Sequence[str] = (),
) -> Case:
    argv = ["send", "--from", ANN, "--to", to, *options, "--subject", subject]
    return case(id_, argv, field, body)


def responder_add(id_: str, field: Sequence[str], *options: str) -> Case:
    argv = ["responder", "add", ANN, "--name", "Away", "--body", "Away.", *options]
    return case(id_, argv, field)


def deliver(id_: str, field: Sequence[str], *more: str, stdin: bytes) -> Case:
    """``mailhost deliver`` of ``stdin`` from bob to ann, with ``more`` arguments."""
    return command(
        id_,
        field,
        "--recipient",
        ANN,
        "--sender",
        "bob@example.net",
        *more,
        stdin=stdin,
    )


def env_case(id_: str, env: Mapping[str, str]) -> Case:
    """A setting every command reads, refused by a command that reads no other input."""
    return case(id_, ["address", "list", DOMAIN], list(env), env=env)


def csv_import(what: str, field: Sequence[str], row: bytes) -> Case:
    argv = ["address", "import-csv", DOMAIN, "{dir}/p.csv"]
    return case(
        f"address import-csv/{what}", argv, field, files={"p.csv": CSV_HEADER + row}
    )


# Run in this process and again in a process of its own (argv bytes as a shell passes them).
TWO_PERMISSIONS = command(
    "address permission/permission[two]",
    ["permission"],
    ANN,
    BOB,
    "send,change_password",
    "deny",
)

IN_PROCESS: list[Case] = [
    # org, user, activity
    command("org create/name[nul]", ["organisation"], f"Ex{NUL}ample"),
    command("org create/name[esc]", ["organisation"], f"Ex{ESC}ample"),
    command("org create/name[crlf]", ["organisation"], f"Example{CRLF}"),
    command("org create/name[u2028]", ["organisation"], "Ex\u2028ample"),
    command("org create/name[huge]", ["organisation"], HUGE),
    user_create(
        "user create/login[nul]", ["login"], PASSWORD, login=f"carol{NUL}@example.org"
    ),
    user_create(
        "user create/login[crlf]", ["login"], PASSWORD, login=f"carol@example.org{CRLF}"
    ),
    user_create(
        "user create/--name[esc]",
        ["display name", "--name"],
        PASSWORD,
        "--name",
        f"Carol{ESC}",
    ),
    user_create(
        "user create/--name[crlf]",
        ["display name", "--name"],
        PASSWORD,
        "--name",
        f"Carol{CRLF}",
    ),
    user_create(
        "user create/--name[nul]",
        ["display name", "--name"],
        PASSWORD,
        "--name",
        f"Ca{NUL}rol",
    ),
    user_create(
        "user create/--org[nul]",
        ["organisation", "--org"],
        PASSWORD,
        org=f"Example{NUL}Co",
    ),
    user_create("user create/password[nul]", ["password"], b"a long\x00passphrase"),
    user_create("user create/password[huge]", ["password"], b"p" * MB),
    command("activity/login[nul]", ["login", "account"], f"ann{NUL}@example.org"),
    command("activity/login[esc]", ["login", "account"], f"{ESC}ann@example.org"),
    command("activity/--limit[huge]", ["limit"], ANN, "--limit", str(10**30)),
    # service
    service_create(
        "service create/domain[nul]", ["domain"], domain=f"other{NUL}.example"
    ),
    service_create("service create/domain[traversal]", ["domain"], domain="../../etc"),
    service_create(
        "service create/domain[crlf]", ["domain"], domain=f"other.example{CRLF}"
    ),
    service_create("service create/--quota[huge]", ["quota"], quota=str(10**30)),
    service_create("service create/--quota[nan]", ["quota"], quota="nan"),
    command(
        "service quota/--add[huge]", ["quota", "--add"], DOMAIN, "--add", str(10**30)
    ),
    command("service quota/--add[negative]", ["quota", "--add"], DOMAIN, "--add", "-5"),
    command(
        "service catch-all/address[traversal]",
        ["address"],
        DOMAIN,
        "../../etc/passwd@example.org",
    ),
    command(
        "service catch-all/address[nul]", ["address"], DOMAIN, f"ann{NUL}@example.org"
    ),
    command(
        "service permissions/permissions[nul]", ["permission"], DOMAIN, f"send{NUL}"
    ),
    command(
        "service permissions/permissions[esc]", ["permission"], DOMAIN, f"send,{ESC}"
    ),
    command(
        "service template/name[nul]",
        ["template", "name"],
        DOMAIN,
        f"Sig{NUL}",
        stdin=b"Regards",
    ),
    command(
        "service template/name[esc]",
        ["template", "name"],
        DOMAIN,
        f"Sig{ESC}",
        stdin=b"Regards",
    ),
    command(
        "service template/text[esc]",
        ["template", "signature"],
        DOMAIN,
        "Other",
        stdin=b"Regards\x1b[2J",
    ),
    command(
        "service template/text[nul]--apply",
        ["template", "signature"],
        DOMAIN,
        "Other",
        "--apply",
        stdin=b"Regards\x00",
    ),
    command(
        "service template/text[huge]",
        ["template", "signature"],
        DOMAIN,
        "Other",
        stdin=b"x" * MB,
    ),
    command(
        "service dmarc/record[crlf]", ["dmarc"], DOMAIN, f"v=DMARC1; p=reject{CRLF}"
    ),
    command(
        "service dmarc/record[esc]",
        ["dmarc"],
        DOMAIN,
        f"v=DMARC1; p=reject; rua=mailto:{ESC}x@example.org",
    ),
    # address
    command(
        "address create/address[traversal]", ["address"], "../../etc/passwd@example.org"
    ),
    command("address create/address[slash]", ["address"], "carol/../../x@example.org"),
    command(
        "address create/address[master-login]", ["address"], "carol*master@example.org"
    ),
    command(
        "address create/address[passwd-colon]",
        ["address"],
        '"carol:{PLAIN}pw::::::"@example.org',
    ),
    command("address create/address[nul]", ["address"], f"carol{NUL}@example.org"),
    command(
        "address create/address[crlf]",
        ["address", "domain"],
        f"carol@example.org{CRLF}",
    ),
    command(
        "address create/--for[nul]",
        ["user", "login"],
        "carol@example.org",
        "--for",
        f"ann{NUL}@example.org",
    ),
    command(
        "address create/--send-to[crlf]",
        ["invitee", "send-to"],
        "carol@example.org",
        "--invite",
        "--send-to",
        f"dave@example.net{CRLF}",
    ),
    command(
        "address create/--send-to[nul]",
        ["invitee", "send-to"],
        "carol@example.org",
        "--invite",
        "--send-to",
        f"dave{NUL}@example.net",
    ),
    command(
        "address create/--redirect[crlf]",
        ["target", "redirect"],
        "fwd@example.org",
        "--redirect",
        f"dave@example.net{CRLF}",
    ),
    command(
        "address create/--signature[nul]",
        ["signature", "template"],
        "carol@example.org",
        "--for",
        ANN,
        "--signature",
        f"Std{NUL}",
    ),
    command(
        "address create/--responder-template[esc]",
        ["template"],
        "carol@example.org",
        "--for",
        ANN,
        "--responder-template",
        f"Closed{ESC}",
    ),
    command(
        "address create/--self password[nul]",
        ["password"],
        "carol@example.org",
        "--self",
        ANN,
        "--password-stdin",
        stdin=b"a long\x00passphrase",
    ),
    command(
        "address create/--password-stdin[huge]",
        ["password"],
        "carol@example.org",
        "--password-stdin",
        stdin=b"p" * MB,
    ),
    command(
        "address alias/alias[traversal]", ["alias", "address"], ANN, "../../etc/passwd"
    ),
    command(
        "address alias/alias[master-login]", ["alias", "address"], ANN, "anna*master"
    ),
    command("address alias/alias[nul]", ["alias", "address"], ANN, f"an{NUL}na"),
    command(
        "address reinvite/--send-to[crlf]",
        ["invitee", "send-to"],
        seed.INVITED,
        "--send-to",
        f"dave@example.net{CRLF}",
    ),
    command(
        "address resync/address[traversal]",
        ["address"],
        "../../../etc/passwd@example.org",
    ),
    command("address resync/address[nul]", ["address"], f"ann{NUL}@example.org"),
    command(
        "address delete/addresses[traversal]",
        ["address"],
        "../../etc/passwd@example.org",
    ),
    command(
        "address delete/addresses[master-login]", ["address"], "ann*master@example.org"
    ),
    command("address list/domain[nul]", ["domain"], f"example{NUL}.org"),
    command("address list/domain[esc]", ["domain"], f"{ESC}example.org"),
    command(
        "address password/password[nul]",
        ["password"],
        ANN,
        "--password-stdin",
        stdin=b"a long\x00passphrase",
    ),
    command(
        "address password/password[huge]",
        ["password"],
        ANN,
        "--password-stdin",
        stdin=b"p" * MB,
    ),
    TWO_PERMISSIONS,
    command(
        "address permission/permission[nul]",
        ["permission"],
        ANN,
        BOB,
        f"send{NUL}",
        "deny",
    ),
    command(
        "address permission/user[nul]",
        ["user"],
        ANN,
        f"bob{NUL}@example.org",
        "send",
        "deny",
    ),
    # send, advise
    send("send/--to[crlf]", ["to"], to=f"dave@example.net{CRLF}"),
    send("send/--bcc[nul]", ["bcc"], options=["--bcc", f"e{NUL}@example.net"]),
    command(
        "send/--from[traversal]",
        ["address", "from"],
        "--from",
        "../../etc/passwd@example.org",
        "--to",
        "dave@example.net",
        stdin=b"Hello",
    ),
    send("send/--subject[crlf]", ["subject"], subject=f"Hi{CRLF}"),
    send("send/--subject[vt]", ["subject"], subject="Hi\x0bthere"),
    send("send/--subject[u2028]", ["subject"], subject="Hi\u2028there"),
    send("send/--subject[esc]", ["subject"], subject=f"Hi{ESC}"),
    send("send/body[nul]", ["body"], body=b"Hel\x00lo"),
    command("advise/domain[nul]", ["domain"], f"example{NUL}.org"),
    # responder
    command(
        "responder add/--name[nul]",
        ["name"],
        ANN,
        "--name",
        f"Away{NUL}",
        "--body",
        "Away.",
    ),
    command(
        "responder add/--name[crlf]",
        ["name"],
        ANN,
        "--name",
        f"Away{CRLF}",
        "--body",
        "Away.",
    ),
    command(
        "responder add/--body[esc]",
        ["body"],
        ANN,
        "--name",
        "Away",
        "--body",
        f"Away{ESC}",
    ),
    responder_add(
        "responder add/--subject[crlf]", ["subject"], "--subject", f"Away{CRLF}"
    ),
    responder_add(
        "responder add/--start[year-1]", ["start"], "--start", "0001-01-01T00:00"
    ),
    responder_add("responder add/--end[9999]", ["end"], "--end", "9999-12-31T23:59"),
    responder_add("responder add/--end[9999-date]", ["end"], "--end", "9999-12-31"),
    responder_add(
        "responder add/--start[nul]", ["start"], "--start", f"2026-12-20{NUL}"
    ),
    responder_add(
        "responder add/--weekdays[nul]", ["weekday"], "--weekdays", f"mon,{NUL}"
    ),
    responder_add(
        "responder add/--exclude[crlf]", ["exclu"], "--exclude", f"@example.net{CRLF}"
    ),
    responder_add(
        "responder add/--sender[crlf]",
        ["sender"],
        "--sender",
        f"office@example.org{CRLF}",
    ),
    responder_add(
        "responder add/--timezone[traversal]",
        ["time zone", "timezone"],
        "--timezone",
        "../../../../etc/passwd",
    ),
    responder_add(
        "responder add/--timezone[absolute]",
        ["time zone", "timezone"],
        "--timezone",
        "/etc/localtime",
    ),
    command(
        "responder edit/--body[nul]",
        ["body"],
        ANN,
        "--name",
        seed.MESSAGE,
        "--body",
        f"Back{NUL}",
    ),
    command(
        "responder edit/--end[9999]",
        ["end"],
        ANN,
        "--name",
        seed.MESSAGE,
        "--body",
        "Back.",
        "--end",
        "9999-12-31T23:59",
    ),
    command("responder activate/name[nul]", ["message", "name"], ANN, f"Holi{NUL}days"),
    command("responder reset/name[esc]", ["message", "name"], ANN, f"{ESC}Holidays"),
    command("responder delete/name[huge]", ["message", "name"], ANN, HUGE),
    command(
        "responder deactivate/address[traversal]",
        ["address"],
        "../../etc/passwd@example.org",
    ),
    command("responder show/address[nul]", ["address"], f"ann{NUL}@example.org"),
    command("responder show/--limit[huge]", ["limit"], ANN, "--limit", str(10**30)),
    command(
        "responder verify-sender/sender[crlf]",
        ["sender"],
        ANN,
        f"office@example.org{CRLF}",
    ),
    command(
        "responder verify-sender/sender[nul]",
        ["sender"],
        ANN,
        f"off{NUL}ice@example.org",
    ),
    command(
        "responder confirm-sender/code[nul]",
        ["code"],
        ANN,
        seed.PENDING_SENDER,
        f"1234{NUL}5678",
    ),
    command(
        "responder confirm-sender/code[huge]",
        ["code"],
        ANN,
        seed.PENDING_SENDER,
        "1" * 100_000,
    ),
    command(
        "responder template/name[nul]",
        ["template", "name"],
        DOMAIN,
        f"Closed{NUL}",
        "--body",
        "Closed.",
    ),
    command(
        "responder template/--body[esc]--apply",
        ["template", "body"],
        DOMAIN,
        "Other",
        "--body",
        f"Closed{ESC}",
        "--apply",
    ),
    command(
        "responder template/--subject[crlf]",
        ["subject"],
        DOMAIN,
        "Other",
        "--body",
        "Closed.",
        "--subject",
        f"Closed{CRLF}",
    ),
    # invalid UTF-8 in arguments reaches Python as lone surrogates (surrogateescape)
    command("org create/name[invalid-utf8]", ["organisation"], "Ex\udcffample"),
    service_create(
        "service create/domain[invalid-utf8]", ["domain"], domain="exa\udcffmple.org"
    ),
    command(
        "service dmarc/record[invalid-utf8]",
        ["dmarc"],
        DOMAIN,
        "v=DMARC1; p=\udcffreject",
    ),
    command("advise/domain[invalid-utf8]", ["domain"], "exa\udcffmple.org"),
    command(
        "responder add/--name[invalid-utf8]",
        ["name"],
        ANN,
        "--name",
        "Away\udcff",
        "--body",
        "Away.",
    ),
    command(
        "responder verify-sender/sender[invalid-utf8]",
        ["sender"],
        ANN,
        "off\udcffice@example.org",
    ),
    send("send/body[invalid-utf8]", ["body", "utf-8"], body=b"Hel\xfflo"),
    command(
        "address password/password[invalid-utf8]",
        ["password"],
        ANN,
        "--password-stdin",
        stdin=b"\xff\xfe a long passphrase",
    ),
    # configuration read by every command
    env_case("env MAILHOST_LOGIN_THROTTLE[nan]", {"MAILHOST_LOGIN_THROTTLE": "nan"}),
    env_case("env MAILHOST_LOGIN_THROTTLE[inf]", {"MAILHOST_LOGIN_THROTTLE": "inf"}),
    env_case(
        "env MAILHOST_FAILED_LOGIN_WINDOW[nan]", {"MAILHOST_FAILED_LOGIN_WINDOW": "nan"}
    ),
    env_case(
        "env MAILHOST_MAX_MESSAGES_PER_DAY[1e400]",
        {"MAILHOST_MAX_MESSAGES_PER_DAY": "1e400"},
    ),
    env_case("env MAILHOST_SECRET_KEY[not-hex]", {"MAILHOST_SECRET_KEY": "zz" * 32}),
    # import-csv: the file's cells
    csv_import(
        "formula-address", ["address"], b'"=HYPERLINK(""https://evil.example"")",,,,\n'
    ),
    csv_import("formula-users", ["users"], b"carol,mailbox,@SUM(1+1),,\n"),
    csv_import("formula-targets", ["targets"], b"fwd,redirect,,+cmd|' /C calc'!A0,\n"),
    csv_import("formula-signature", ["signature"], b"carol,mailbox,,,-2+3\n"),
    csv_import("nul", ["address"], b"car\x00ol,,,,\n"),
    csv_import("invalid-utf8", ["utf-8"], b"car\xffol,,,,\n"),
    csv_import("traversal", ["address"], b"../../etc/passwd,,,,\n"),
    csv_import("master-login", ["address"], b"x*master,,,,\n"),
    csv_import("esc-in-good-file", ["address"], b"carol,,,,\n\x1b[2Jdave,,,,\n"),
    csv_import(
        "huge-cell", ["cell", "address", "characters"], b"c" * 200_000 + b",,,,\n"
    ),
]


def _argv(c: Case, root: Path, home: Path) -> list[str | bytes]:
    argv = [a.replace("{dir}", str(root)) if isinstance(a, str) else a for a in c.argv]
    return [*argv, "--home", str(home)]


def _in_place(c: Case, root: Path, home: Path) -> list[str]:
    """The case's files written under ``root``; its argv as this process passes it."""
    for name, data in c.files.items():
        (root / name).write_bytes(data)
    return [a if isinstance(a, str) else a.decode() for a in _argv(c, root, home)]


# issue 13: `deliver` speaks sysexits.h to its MTA: bad input is EX_DATAERR (65).
EX_DATAERR = 65


def _check(c: Case, outcome: Outcome, before: Snapshot, after: Snapshot) -> None:
    problems = []
    expected = EX_DATAERR if c.argv[0] == "deliver" else 2
    if outcome.code != expected:
        problems.append(f"exit {outcome.code}, expected {expected}")
    if "Traceback" in outcome.stderr:
        problems.append("a traceback on stderr")
    if not names_field(outcome.stderr + outcome.stdout, c.field):
        problems.append(f"the message does not name {' or '.join(c.field)}")
    controls = raw_controls(outcome.stderr + outcome.stdout)
    if controls:
        problems.append(
            f"raw control characters on the terminal: {', '.join(controls)}"
        )
    written = changes(before, after)
    if written:
        problems.append("it wrote: " + " | ".join(written))
    if problems:
        pytest.fail(
            "; ".join(problems) + f" [{outcome.describe()[:700]}]", pytrace=False
        )


RunCase = Callable[[Case], tuple[Snapshot, Outcome]]


@pytest.fixture
def run_case(
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> RunCase:
    """A case run in this process: its files written and environment set first, then
    the stores as they were before the command, and what the command did."""

    def run(c: Case) -> tuple[Snapshot, Outcome]:
        argv = _in_place(c, tmp_path, home)
        for name, value in c.env.items():
            monkeypatch.setenv(name, value)
        before = snapshot(tmp_path)
        return before, run_in_process(argv, c.stdin, monkeypatch, capsys)

    return run


@pytest.mark.parametrize("c", IN_PROCESS, ids=[c.id for c in IN_PROCESS])
def test_command_refuses_hostile_input(
    c: Case, run_case: RunCase, tmp_path: Path
) -> None:
    before, outcome = run_case(c)
    _check(c, outcome, before, snapshot(tmp_path))


# -- in processes of their own: bytes as the operator's shell passes them ------------------

IN_A_PROCESS: list[Case] = [
    user_create(
        "user create/password[invalid-utf8]",
        ["password"],
        b"a long passphrase \xff\xfe",
    ),
    command(
        "service template/text[invalid-utf8]--apply",
        ["template", "signature", "utf-8"],
        DOMAIN,
        "Other",
        "--apply",
        stdin=b"Regards \xff\xfe",
    ),
    command(
        "address create/address[invalid-utf8]", ["address"], b"car\xffol@example.org"
    ),
    TWO_PERMISSIONS,
    send("send/--subject[vt]", ["subject"], subject="Hi\x0bthere"),
    responder_add("responder add/--end[9999]", ["end"], "--end", "9999-12-31T23:59"),
    command(
        "responder show/address[invalid-utf8]", ["address"], b"ann\xff@example.org"
    ),
    deliver(
        "deliver/--received-at[year-1]",
        ["received"],
        "--received-at",
        "0001-01-01T00:00+00:00",
        stdin=b"Subject: hi\r\n\r\nx",
    ),
    deliver(
        "deliver/--received-at[1970]",
        ["received"],
        "--received-at",
        "1970-01-01T00:00+00:00",
        stdin=b"Subject: hi\r\n\r\nx",
    ),
    deliver(
        "deliver/stdin[over-50-MB]",
        ["message", "bytes", "larger"],
        stdin=b"Subject: big\r\n\r\n" + b"x" * (50 * MB + 10),
    ),
    command(
        "run/MAILHOST_BROKER_URL[amqp]",
        ["MAILHOST_BROKER_URL"],
        env={"MAILHOST_BROKER_URL": "amqp://127.0.0.1:5672/"},
    ),
    command(
        "run/MAILHOST_LOGIN_THROTTLE[nan]",
        ["MAILHOST_LOGIN_THROTTLE"],
        env={"MAILHOST_LOGIN_THROTTLE": "nan"},
    ),
    command("demo/--window[nan]", ["window"], "--window", "nan"),
]


@pytest.mark.parametrize("c", IN_A_PROCESS, ids=[c.id for c in IN_A_PROCESS])
def test_command_in_a_process_refuses_hostile_input(
    c: Case, home: Path, tmp_path: Path
) -> None:
    before = snapshot(tmp_path)
    # `run` and `demo` that accept what they should refuse would run on: stopped early.
    timeout = 20 if c.argv[0] in {"run", "demo"} else 90
    outcome = run_process(_argv(c, tmp_path, home), c.stdin, env=c.env, timeout=timeout)
    _check(c, outcome, before, snapshot(tmp_path))


# -- deliver: a pipe transport answers any message with a decision ---------------------------

HOSTILE_MESSAGES: Mapping[str, bytes] = {
    "invalid-utf8": b"From: \xff\xfe bob@example.net\r\nSubject: \xc3\x28\xa0\xa1\r\n\r\n\xff\xfe",
    "nul": b"From: bob@example.net\x00\r\nSubject: a\x00b\r\n\r\nbody\x00",
    "huge-header": b"From: bob@example.net\r\nSubject: "
    + b"x" * (4 * MB)
    + b"\r\n"
    + b"".join(b"X-H%d: v\r\n" % i for i in range(100_000))
    + b"\r\nx",
}


@pytest.mark.parametrize("raw", HOSTILE_MESSAGES.values(), ids=list(HOSTILE_MESSAGES))
def test_deliver_answers_a_hostile_message_with_a_decision(
    raw: bytes, home: Path, tmp_path: Path
) -> None:
    """Exit 0 with one JSON decision (or 65, EX_DATAERR), never 1, never a traceback; a
    reply, if any, carries no control character of the message in its headers."""
    before = snapshot(tmp_path)
    outcome = run_process(
        [
            "deliver",
            "--recipient",
            ANN,
            "--sender",
            "bob@example.net",
            "--home",
            str(home),
        ],
        raw,
        timeout=60,
    )
    assert outcome.code in {0, EX_DATAERR}, outcome.describe()
    assert "Traceback" not in outcome.stderr, outcome.stderr[-2000:]
    assert not raw_controls(outcome.stdout + outcome.stderr)
    if outcome.code == EX_DATAERR:
        assert not changes(before, snapshot(tmp_path)), changes(
            before, snapshot(tmp_path)
        )
        return
    decision = json.loads(outcome.stdout)
    assert isinstance(decision, dict)
    assert isinstance(decision.get("reply"), bool), decision
    for mail in (home / "outbox").glob("*.eml"):
        head = mail.read_bytes().split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        assert not any(byte in head for byte in (b"\x00", b"\x1b", b"\x07")), mail.name


CONTROLS: list[Case] = [
    command("org create", [], "Other Co"),
    command(
        "responder add",
        [],
        ANN,
        "--name",
        "Away",
        "--body",
        "Away.",
        "--end",
        "2027-01-03",
    ),
    command(
        "send",
        [],
        "--from",
        ANN,
        "--to",
        "dave@example.net",
        "--subject",
        "Hi",
        stdin=b"Hello",
    ),
    command(
        "address import-csv",
        [],
        DOMAIN,
        "{dir}/p.csv",
        files={"p.csv": CSV_HEADER + b"carol,mailbox,ann@example.org,,Standard\n"},
    ),
]


@pytest.mark.parametrize("c", CONTROLS, ids=[c.id for c in CONTROLS])
def test_ordinary_values_are_accepted(c: Case, run_case: RunCase) -> None:
    """Without these a case could pass because its command failed for another reason."""
    _, outcome = run_case(c)
    assert outcome.code == 0, outcome.describe()
