"""The import path attacked as a hostile source server, a hostile user and a careless
operator would (issue 9 with the standard of issue 7).

A lying IMAP server (``tests.hostile.hostileimap``, on 127.0.0.1) names folders after
paths, escape codes and links, announces literals it never sends, stalls, drops the
connection and echoes the password. The engine is the real one (SQLite in a copy of the
seeded home, the embedded maildir store); each case runs the job as a worker would,
attempt after attempt, and checks what must hold:

- nothing is written outside the destination address's maildir;
- no control character nor link from the server reaches a mail or the terminal;
- the job ends (completed or failed with a named reason) within its attempts: an
  exception that is not ``ImportSourceError`` is retried by the worker for ever, and
  keeps the destination's lane and the sealed password;
- the password appears in no exception, log line, event or read model;
- a bad request is refused with a clear error and writes nothing.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

import attrs
import pytest

from application.authorization import OPERATOR
from application.importcopy import CopyPolicy
from application.importports import ImportSourceError
from application.imports import Imports, SourceRequest
from domain.errors import InvalidInput, NotFound, NotPermitted
from domain.importfacts import FailureReason, JobState
from domain.importjob import ImportJob
from domain.importsource import ImportSource
from infrastructure.imapsource import ImapMailSource
from infrastructure.maildir import MaildirMailStore
from tests.hostile import seed
from tests.hostile.hostileimap import (
    Folder,
    Message,
    Script,
    Session,
    fetch_args,
    message,
    serving,
)
from tests.hostile.support import (
    REPO,
    Snapshot,
    assert_unchanged,
    clean_environment,
    raw_controls,
    run_in_process,
    snapshot,
    stored_tables,
)

if TYPE_CHECKING:
    from infrastructure.bootstrap import Engine
    from tests.hostile.conftest import World

ANN = seed.ANN
PASSWORD = "correct horse battery Zq7w"
TIMEOUT = 0.5  # the adapter's socket timeout in these cases
ATTEMPTS = 2
EVIL = "evil.example"
GIVE_UP_S = 30.0  # a hang check, not a timing: the copy is stuck when it is not over


# -- the engine, a job, a worker's attempts ------------------------------------------------


@pytest.fixture
def engine(home: Path) -> Iterator[Engine]:
    from infrastructure.bootstrap import open_engine  # noqa: PLC0415 - env cleared first

    opened = open_engine(home, {}, background=False)
    try:
        yield opened
    finally:
        opened.close()


def imports_of(engine: Engine, timeout: float = TIMEOUT) -> Imports:
    """The engine's import use cases with a short socket timeout and few attempts."""
    imports = engine.host.imports
    adapters = attrs.evolve(
        imports.adapters,
        source=ImapMailSource(timeout=timeout),
        policy=CopyPolicy(max_attempts=ATTEMPTS),
    )
    return attrs.evolve(imports, adapters=adapters)


def request(port: int, password: str = PASSWORD, user: str = "src") -> SourceRequest:
    return SourceRequest(
        ImportSource.of("127.0.0.1", port, "none", user), user, password
    )


@attrs.define
class Outcome:
    job: ImportJob
    raised: list[BaseException]

    @property
    def crashes(self) -> list[str]:
        """What a worker would retry for ever: anything but ``ImportSourceError``."""
        return [
            f"{type(e).__name__}: {str(e)[:200]}"
            for e in self.raised
            if not isinstance(e, ImportSourceError)
        ]


def run_job(imports: Imports, job_id: UUID) -> Outcome:
    """Every attempt a worker makes (retry after retry), as ``workers.execution`` does."""
    raised: list[BaseException] = []
    for attempt in range(1, imports.policy.max_attempts + 1):
        try:
            imports.run(job_id, attempt=attempt)
        except Exception as e:  # noqa: BLE001 - what the worker would catch and retry
            raised.append(e)
    return Outcome(imports.get(job_id), raised)


def import_from(engine: Engine, script: Script, password: str = PASSWORD) -> Outcome:
    imports = imports_of(engine)
    with serving(script) as port:
        job_id = imports.start(ANN, [request(port, password)], by=None)
        return run_job(imports, job_id)


def assert_ended(outcome: Outcome) -> None:
    assert not outcome.crashes, (
        "a hostile server made the copy raise what the worker retries for ever "
        f"(the lane stays blocked, the password kept): {outcome.crashes}"
    )
    assert outcome.job.is_over, f"the job is still {outcome.job.state}"


def inbox(*subjects: str) -> Folder:
    return Folder(
        b"INBOX",
        messages=[Message(i, message(s)) for i, s in enumerate(subjects, start=1)],
    )


def maildir_of(home: Path, address: str = ANN) -> Path:
    return MaildirMailStore(home / "mail").maildir(address)


def files_outside(before: Snapshot, after: Snapshot, inside: str) -> list[str]:
    added = after["files"] - before["files"]
    removed = before["files"] - after["files"]
    return sorted(line for line in {*added, *removed} if not line.startswith(inside))


# -- path traversal at the maildir destination ---------------------------------------------

TRAVERSAL: list[tuple[str, bytes, bytes]] = [
    ("dotdot", b"..", b'"/"'),
    ("dot", b".", b'"/"'),
    ("up-up-x", b"../../x", b'"/"'),
    ("up-up-x-no-delimiter", b"../../x", b"NIL"),
    ("absolute", b"/etc", b'"/"'),
    ("absolute-deep", b"/etc/cron.d/evil", b'"/"'),
    ("inbox-escape", b"INBOX/../../../x", b'"/"'),
    ("backslash", b"..\\..\\x", b'"\\\\"'),
    ("dot-delimiter", b"...x", b'"."'),
    ("utf7-dotdot", b"&AC4ALg-", b'"/"'),
    ("utf7-slash", b"&AC8-etc&AC8-x", b'"/"'),
    ("utf7-dotdot-deep", b"&AC4ALg-/&AC4ALg-/x", b'"/"'),
    ("maildir-cur", b"cur", b'"/"'),
    ("home-sibling", b"../../../bob/Maildir/x", b'"/"'),
    ("tilde", b"~root", b'"/"'),
]


@pytest.mark.parametrize(
    ("name", "delimiter"),
    [(n, d) for _, n, d in TRAVERSAL],
    ids=[i for i, _, _ in TRAVERSAL],
)
def test_folder_names_stay_inside_the_address_maildir(
    name: bytes, delimiter: bytes, engine: Engine, home: Path, tmp_path: Path
) -> None:
    # rule IMP-1: every folder is copied, and only into the destination's own maildir.
    script = Script(
        folders=[
            inbox("first"),
            Folder(name, delimiter, messages=[Message(1, message("in " + repr(name)))]),
        ]
    )
    before = snapshot(tmp_path)
    outcome = import_from(engine, script)
    inside = maildir_of(home).relative_to(tmp_path).as_posix() + "/"
    assert_ended(outcome)
    assert files_outside(before, snapshot(tmp_path), inside) == []
    assert outcome.job.state is JobState.COMPLETED
    assert outcome.job.counts.copied == 2


def test_a_folder_name_the_store_cannot_hold_fails_that_folder_only(
    engine: Engine,
) -> None:
    # Issue 9 "one bad message does not fail the job": a 10,000-character name (too
    # long for a file name) is the destination's problem with one folder, not an
    # "unreachable" source, and the folders after it are still copied.
    script = Script(
        folders=[
            inbox("a"),
            Folder(b"x" * 10_000, messages=[Message(1, message("long"))]),
            Folder(b"zzz", messages=[Message(1, message("after"))]),
        ]
    )
    outcome = import_from(engine, script)
    assert_ended(outcome)
    assert outcome.job.failed_sources.get(0) is None, (
        f"the source failed {outcome.job.failed_sources.get(0)}"
    )
    assert outcome.job.counts.copied == 2
    assert outcome.job.counts.failed == 1


# -- outside text never reaches a mail or a terminal unneutralised ---------------------------

HOSTILE_NAMES: list[tuple[str, bytes]] = [
    ("esc", b"\x1b[31mred\x1b[0m\x07"),
    ("osc-link", b"\x1b]8;;https://evil.example/\x07click\x1b]8;;\x07"),
    ("crlf", b"Work\r\nSubject: pwned"),
    ("nul", b"a\x00b"),
    ("c1-csi", "x\u009b31my".encode()),
    ("bidi", "gpj.\u202eexe".encode()),
    ("url", b"restore at https://evil.example/restore now"),
]


def _status(
    home: Path,
    job_id: UUID,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> str:
    shown = []
    for argv in (
        ["import", "status", str(job_id)],
        ["import", "status"],
        ["import", "status", str(job_id), "--json"],
    ):
        done = run_in_process([*argv, "--home", str(home)], b"", monkeypatch, capsys)
        assert done.code == 0, done.describe()
        shown.append(done.stdout + done.stderr)
    return "\n".join(shown)


def _outbox(home: Path) -> str:
    return "\n".join(
        p.read_text("utf-8", "replace") for p in sorted((home / "outbox").glob("*.eml"))
    )


def _no_outside_text(text: str, where: str) -> None:
    assert raw_controls(text) == [], f"raw control characters in {where}"
    assert EVIL not in text, f"the server's link reached {where}"
    assert "\nSubject: pwned" not in text, f"a header was injected into {where}"


@pytest.mark.parametrize(
    "name", [n for _, n in HOSTILE_NAMES], ids=[i for i, _ in HOSTILE_NAMES]
)
def test_folder_names_from_the_server_are_neutralised_everywhere(
    name: bytes,
    engine: Engine,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # ADV-5 / issue 7 item 2: the status output and the confirmation carry no raw
    # control character and no link the server chose.
    script = Script(
        folders=[inbox("a"), Folder(name, messages=[Message(1, message("b"))])]
    )
    outcome = import_from(engine, script)
    assert_ended(outcome)
    assert engine.host.imports.send_confirmation(outcome.job.id)
    engine.runner.catch_up()
    _no_outside_text(_outbox(home), "the confirmation mail")
    _no_outside_text(
        _status(home, outcome.job.id, monkeypatch, capsys), "mailhost import status"
    )
    for e in outcome.raised:
        _no_outside_text(str(e), "an exception's text")


NO_TEXT = (
    b"NO [AUTHENTICATIONFAILED] \x1b[2J\x1b[31mrestore at https://evil.example/r \x07"
)


def test_a_refused_login_with_escape_codes_and_a_link_fails_cleanly(
    engine: Engine,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def refuse(s: Session, tag: bytes, _args: bytes) -> None:
        s.line(tag + b" " + NO_TEXT)

    script = Script(
        greeting=b"* OK \x1b]0;owned\x07 visit https://evil.example/ now",
        folders=[inbox("a")],
        handlers={b"LOGIN": refuse},
    )
    outcome = import_from(engine, script)
    assert_ended(outcome)
    assert outcome.job.state is JobState.FAILED
    assert outcome.job.failed_sources.get(0) is FailureReason.AUTHENTICATION_FAILED
    assert engine.host.imports.send_confirmation(outcome.job.id)
    engine.runner.catch_up()
    _no_outside_text(_outbox(home), "the failure mail")
    _no_outside_text(
        _status(home, outcome.job.id, monkeypatch, capsys), "mailhost import status"
    )


def test_a_misleading_login_refusal_is_named_authentication_failed(
    engine: Engine,
) -> None:
    # A NO that claims success ("OK, logged in") is still a refused login.
    def refuse(s: Session, tag: bytes, _args: bytes) -> None:
        s.line(tag + b" NO OK logged in, import complete, 0 messages")

    outcome = import_from(
        engine, Script(folders=[inbox("a")], handlers={b"LOGIN": refuse})
    )
    assert_ended(outcome)
    assert outcome.job.state is JobState.FAILED
    assert outcome.job.failed_sources.get(0) is FailureReason.AUTHENTICATION_FAILED
    assert outcome.job.counts.copied == 0


# -- malformed answers end the job with a named reason --------------------------------------


def _fetch_answer(
    answer: Callable[[int], bytes],
) -> Callable[[Session, bytes, bytes], None]:
    def handler(s: Session, tag: bytes, args: bytes) -> None:
        uids, _items = fetch_args(args)
        for uid in uids:
            s.line(b"* %d FETCH (" % uid + answer(uid) + b")")
        s.line(tag + b" OK fetched")

    return handler


def _garbage_search(s: Session, tag: bytes, _args: bytes) -> None:
    s.line(b"* SEARCH 1 x -3 99999999999999999999999")
    s.line(tag + b" OK")


def _fetching(answer: Callable[[int], bytes]) -> Script:
    """One message in INBOX; the server answers its UID FETCH with ``answer(uid)``."""
    return Script(folders=[inbox("a")], handlers={b"UID FETCH": _fetch_answer(answer)})


_HEAD = b"From: a@example.net\r\nSubject: x\r\n\r\n"
MALFORMED: list[tuple[str, Script]] = [
    (
        "invalid-modified-utf7-folder",
        Script(folders=[inbox("a"), Folder(b"&&&bad", messages=[])]),
    ),
    (
        "fetch-without-size",
        _fetching(
            lambda uid: b"UID %d BODY[HEADER] {%d}\r\n" % (uid, len(_HEAD)) + _HEAD
        ),
    ),
    (
        "fetch-size-nil",
        _fetching(lambda uid: b"UID %d RFC822.SIZE NIL" % uid),
    ),
    (
        "fetch-negative-size",
        _fetching(
            lambda uid: (
                b"UID %d RFC822.SIZE -5 BODY[HEADER] {%d}\r\n" % (uid, len(_HEAD))
                + _HEAD
            )
        ),
    ),
    (
        "fetch-header-nil",
        _fetching(lambda uid: b"UID %d RFC822.SIZE 40 BODY[HEADER] NIL" % uid),
    ),
    (
        "search-garbage",
        Script(folders=[inbox("a")], handlers={b"UID SEARCH": _garbage_search}),
    ),
]


@pytest.mark.parametrize(
    "script", [s for _, s in MALFORMED], ids=[i for i, _ in MALFORMED]
)
def test_a_malformed_answer_ends_the_job(script: Script, engine: Engine) -> None:
    outcome = import_from(engine, script)
    assert_ended(outcome)


def test_fetch_answers_for_uids_not_asked_are_not_stored(
    engine: Engine, home: Path
) -> None:
    stray = message("stray, never asked for")

    def fetch(s: Session, tag: bytes, args: bytes) -> None:
        uids, items = fetch_args(args)
        for msg in s.selected.messages if s.selected else []:
            if msg.uid in uids:
                s.line(s.fetch_line(msg, items))
        s.line(
            b"* 7 FETCH (UID 99 RFC822.SIZE %d BODY[] {%d}\r\n"
            % (len(stray), len(stray))
            + stray
            + b")"
        )
        s.line(tag + b" OK fetched")

    outcome = import_from(
        engine, Script(folders=[inbox("asked")], handlers={b"UID FETCH": fetch})
    )
    assert_ended(outcome)
    assert outcome.job.counts.copied == 1
    stored = [
        p.read_bytes()
        for p in maildir_of(home).glob("*/*")
        if p.parent.name in {"cur", "new"}
    ]
    assert all(b"stray" not in data for data in stored)
    assert len(stored) == 1


# -- the connection: dropped mid-literal, stalled, dripping ----------------------------------


def _drop_mid_literal(s: Session, tag: bytes, args: bytes) -> None:
    del tag
    uids, _ = fetch_args(args)
    s.send(b"* 1 FETCH (UID %d BODY[HEADER] {5000}\r\nFrom: a@exa" % uids[0])
    s.connection.shutdown(2)
    raise ValueError


def test_a_connection_dropped_mid_literal_fails_the_source_unreachable(
    engine: Engine,
) -> None:
    outcome = import_from(
        engine, Script(folders=[inbox("a")], handlers={b"UID FETCH": _drop_mid_literal})
    )
    assert_ended(outcome)
    assert outcome.job.failed_sources.get(0) is FailureReason.UNREACHABLE


def _stall(s: Session, tag: bytes, args: bytes) -> None:
    del tag, args
    s.stall()


def _drip(s: Session, tag: bytes, args: bytes) -> None:
    """An untagged line well inside every socket timeout, for ever: never an answer."""
    del tag, args
    while not s.server.stopping.wait(TIMEOUT / 5):
        s.line(b"* OK still checking your password")


def _literal_never_sent(s: Session, tag: bytes, args: bytes) -> None:
    del tag
    uids, _ = fetch_args(args)
    s.send(b"* 1 FETCH (UID %d BODY[HEADER] {104857600}\r\nFrom: " % uids[0])
    s.stall()


STALLS: list[tuple[str, bytes, Callable[[Session, bytes, bytes], None]]] = [
    ("login-never-answered", b"LOGIN", _stall),
    ("list-never-answered", b"LIST", _stall),
    ("100mb-literal-never-sent", b"UID FETCH", _literal_never_sent),
    ("login-dripping-untagged-lines", b"LOGIN", _drip),
    ("fetch-dripping-untagged-lines", b"UID FETCH", _drip),
]


@pytest.mark.parametrize(
    ("command", "handler"),
    [(c, h) for _, c, h in STALLS],
    ids=[i for i, _, _ in STALLS],
)
def test_a_stalled_server_ends_the_job_unreachable(
    command: bytes, handler: Callable[[Session, bytes, bytes], None], engine: Engine
) -> None:
    # Issue 9 "Failures": an unreachable server is a named reason, never a hung worker
    # (which would hold the destination's lane, IMP-2, for ever).
    imports = imports_of(engine)
    script = Script(folders=[inbox("a")], handlers={command: handler})
    with serving(script) as port:
        job_id = imports.start(ANN, [request(port)], by=None)
        result: list[Outcome] = []
        worker = threading.Thread(
            target=lambda: result.append(run_job(imports, job_id)), daemon=True
        )
        worker.start()
        worker.join(GIVE_UP_S)
        stuck = worker.is_alive()
    worker.join()
    assert not stuck, (
        f"the copy was still waiting on the server after {GIVE_UP_S} s with a "
        f"{TIMEOUT} s timeout"
    )
    assert_ended(result[0])
    assert result[0].job.failed_sources.get(0) is FailureReason.UNREACHABLE


# -- memory against a lying server ------------------------------------------------------------

_BOUNDED = """
import resource, sys
from tests.hostile.hostileimap import Folder, Message, Script, fetch_args, message, serving
from infrastructure.imapsource import ImapMailSource
from domain.importsource import ImportSource
from application.importports import ImportSourceError

def huge(s, tag, args):
    uids, _ = fetch_args(args)
    s.send(b"* 1 FETCH (UID %d RFC822.SIZE 40 BODY[HEADER] {2147483648}\\r\\nFrom: " % uids[0])
    s.connection.shutdown(2)
    raise ValueError

script = Script(
    folders=[Folder(b"INBOX", messages=[Message(1, message("a"))])],
    handlers={b"UID FETCH": huge},
)
with serving(script) as port:
    box = ImapMailSource(timeout=2).open(
        ImportSource.of("127.0.0.1", port, "none", "u"), "pw"
    )
    folder = box.folders()[0]
    used = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
    limit = used + 256 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        box.keys(folder)
        print("RESULT no error")
    except ImportSourceError as e:
        print("RESULT ImportSourceError", e.reason)
    except BaseException as e:
        print("RESULT", type(e).__name__)
"""


def test_a_2gb_literal_is_refused_not_allocated(tmp_path: Path) -> None:
    # Issue 9: memory stays flat whatever the server says. Under an address-space
    # limit of 256 MB above the process's own size, a 2 GB literal must be refused by
    # the adapter's size cap (a named reason), not allocated.
    done = subprocess.run(
        [sys.executable, "-c", _BOUNDED],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**clean_environment(), "PYTHONPATH": str(REPO)},
        timeout=120,
        check=False,
    )
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT")]
    assert lines, done.stderr[-2000:]
    assert lines[-1].startswith("RESULT ImportSourceError"), (
        f"a 2 GB literal announced by the server: {lines[-1]}"
    )
    del tmp_path


# -- the password, even echoed back by the server ---------------------------------------------

ECHOED = [
    ("plain", "correct horse battery Zq7w"),
    ("backslash", "correct\\horse battery Zq7w"),
    ("quote", 'correct"horse battery Zq7w'),
]


def _echo(transient: bool) -> Callable[[Session, bytes, bytes], None]:
    code = b"[UNAVAILABLE]" if transient else b"[AUTHENTICATIONFAILED]"

    def handler(s: Session, tag: bytes, args: bytes) -> None:
        _user, _, password = args.partition(b" ")
        s.line(tag + b" NO " + code + b" wrong password " + password + b" for you")

    return handler


def _fragments(password: str) -> list[str]:
    """The password and the parts of it that would still give it away."""
    return [
        password,
        "Zq7w",
        password.replace("\\", "\\\\"),
        password.replace('"', '\\"'),
    ]


def _leaks(password: str, texts: list[str]) -> str | None:
    for fragment in _fragments(password):
        for text in texts:
            if fragment in text:
                at = text.index(fragment)
                return f"{fragment!r} in ...{text[max(at - 120, 0) : at + 60]!r}"
    return None


def _stored_rows(home: Path) -> list[str]:
    return [
        row
        for database in sorted(home.glob("*.sqlite"))
        for table in stored_tables(database).values()
        for row in table
    ]


TRANSIENT = pytest.mark.parametrize(
    "transient", [False, True], ids=["refused", "unavailable"]
)
ECHOED_PASSWORDS = pytest.mark.parametrize(
    "password", [p for _, p in ECHOED], ids=[i for i, _ in ECHOED]
)


@TRANSIENT
@ECHOED_PASSWORDS
def test_an_echoed_password_is_in_no_exception_event_or_read_model(
    password: str,
    transient: bool,
    engine: Engine,
    home: Path,
) -> None:
    # IMP-9: never in an exception message (what the worker keeps and may log), an
    # event, the credential store or a read model.
    script = Script(folders=[inbox("a")], handlers={b"LOGIN": _echo(transient)})
    outcome = import_from(engine, script, password)
    engine.runner.catch_up()
    assert_ended(outcome)
    texts = [f"{e!s} {e!r} {getattr(e, 'detail', '')}" for e in outcome.raised]
    texts += [str(engine.host.imports.progress(outcome.job.id))]
    texts += _stored_rows(home)
    leak = _leaks(password, texts)
    assert leak is None, f"the password echoed by the server leaked: {leak}"


@TRANSIENT
@ECHOED_PASSWORDS
def test_an_echoed_password_is_in_no_log_line(
    password: str,
    transient: bool,
    engine: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # IMP-9: not in a log line either, whatever level the operator runs at.
    caplog.set_level(logging.DEBUG)
    script = Script(folders=[inbox("a")], handlers={b"LOGIN": _echo(transient)})
    import_from(engine, script, password)
    texts = [f"{r.name}: {r.getMessage()}" for r in caplog.records]
    leak = _leaks(password, texts)
    assert leak is None, f"the password echoed by the server was logged: {leak}"


def test_a_non_ascii_password_ends_the_job_not_the_worker(engine: Engine) -> None:
    # A password is any printable text (application.imports accepts it): sending it
    # must not raise what the worker retries for ever.
    outcome = import_from(engine, Script(folders=[inbox("a")]), "pässwort lang Zq7w")
    assert_ended(outcome)


# -- a careless operator, a hostile user: clear refusals that write nothing -------------------


def test_security_none_to_a_remote_host_is_refused() -> None:
    for host in (
        "imap.example.net",
        "192.0.2.1",
        "[2001:db8::1]",
        "localhost.example.net",
    ):
        with pytest.raises(InvalidInput, match="security none"):
            ImportSource.of(host, 143, "none", "u")


def test_security_none_accepted_at_start_is_accepted_by_the_adapter() -> None:
    # What the request accepts as loopback the adapter must connect to, or the job is
    # accepted only to fail: both use domain.importsource.is_loopback, the one rule.
    from domain import importsource  # noqa: PLC0415 - the bindings under test
    from infrastructure import imaplogin  # noqa: PLC0415 - the bindings under test
    from infrastructure.imapsource import is_loopback as adapter_loopback  # noqa: PLC0415 - the bindings under test

    assert adapter_loopback is importsource.is_loopback
    assert imaplogin.is_loopback is importsource.is_loopback
    for host in ("localhost", "Localhost.", "127.0.0.1", "127.1.2.3", "[::1]"):
        source = ImportSource.of(host, 143, "none", "u")
        assert adapter_loopback(source.host), host
    with pytest.raises(InvalidInput, match="security none"):
        ImportSource.of("mail.localhost", 143, "none", "u")


def test_security_none_to_a_remote_host_is_refused_by_the_cli(
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = snapshot(tmp_path)
    argv = [
        "import", "start", "--destination", ANN, "--host", "imap.example.net",
        "--security", "none", "--user", "u", "--password-stdin", "--home", str(home),
    ]  # fmt: skip
    done = run_in_process(argv, PASSWORD.encode() + b"\n", monkeypatch, capsys)
    assert done.code == 2, done.describe()
    assert "security none" in done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert_unchanged(before, snapshot(tmp_path))


_SOURCE = ImportSource.of("127.0.0.1", 1143, "none", "src")
BAD_DESTINATIONS: list[tuple[str, str, type[Exception]]] = [
    ("unknown-address", "nobody@example.org", NotFound),
    ("other-domain", "ann@other.example", NotFound),
    ("not-an-address", "ann", InvalidInput),
    ("traversal", "../../etc@example.org", InvalidInput),
]


@pytest.mark.parametrize(
    ("destination", "error"),
    [(d, e) for _, d, e in BAD_DESTINATIONS],
    ids=[i for i, _, _ in BAD_DESTINATIONS],
)
def test_a_destination_not_of_the_service_is_refused(
    destination: str, error: type[Exception], world: World
) -> None:
    with pytest.raises((InvalidInput, NotFound)) as refused:
        world.host.imports.start(
            destination, [SourceRequest(_SOURCE, "src", PASSWORD)], by=None
        )
    assert isinstance(refused.value, error), repr(refused.value)
    assert PASSWORD not in str(refused.value)
    world.after.append(snapshot(world.root))
    assert_unchanged(world.pristine, world.after[-1])


CAROL = "carol@example.org"


def test_a_deleted_destination_is_refused(engine: Engine, tmp_path: Path) -> None:
    engine.host.addresses.create_for_users(CAROL, [ANN], by=OPERATOR)
    engine.host.addresses.delete([CAROL], by=OPERATOR)
    engine.host.settle()
    _start_refused(
        engine, tmp_path, CAROL, by=None, error=(NotFound, InvalidInput), match=CAROL
    )


def _start_refused(
    engine: Engine,
    root: Path,
    destination: str,
    *,
    by: UUID | None,
    error: type[Exception] | tuple[type[Exception], ...],
    match: str,
) -> None:
    """An import into ``destination`` refused with ``error``; no store written."""
    before = snapshot(root)
    with pytest.raises(error, match=match):
        engine.host.imports.start(
            destination, [SourceRequest(_SOURCE, "src", PASSWORD)], by=by
        )
    assert_unchanged(before, snapshot(root))


def test_a_destination_not_linked_to_the_user_is_refused(
    engine: Engine, tmp_path: Path
) -> None:
    # IMP-7: dave, a member who is not linked to ann@, may not import into it.
    dave = engine.host.accounts.register(
        seed.ORG, "dave@example.org", seed.PASSWORD, by=OPERATOR
    )
    engine.host.settle()
    _start_refused(engine, tmp_path, ANN, by=dave, error=NotPermitted, match="linked")


def test_the_same_hosted_source_twice_is_refused(
    engine: Engine, tmp_path: Path
) -> None:
    created = engine.host.addresses.create_for_users(CAROL, [ANN], by=OPERATOR)
    engine.host.settle()
    assert created.password is not None
    before = snapshot(tmp_path)
    with pytest.raises(InvalidInput, match="same mailbox"):
        engine.host.imports.start(
            ANN,
            [
                SourceRequest(None, CAROL, created.password),
                SourceRequest(None, CAROL.upper(), created.password),
            ],
            by=None,
        )
    assert_unchanged(before, snapshot(tmp_path))


TWINS: list[tuple[str, SourceRequest, SourceRequest]] = [
    (
        "identical",
        SourceRequest(_SOURCE, "src", PASSWORD),
        SourceRequest(_SOURCE, "src", PASSWORD),
    ),
    (
        "user-case",
        SourceRequest(_SOURCE, "src", PASSWORD),
        SourceRequest(
            ImportSource.of("127.0.0.1", 1143, "none", "SRC"), "SRC", "other"
        ),
    ),
    (
        "host-trailing-dot-and-case",
        SourceRequest(
            ImportSource.of("Localhost.", 1143, "none", "src"), "src", "x y z"
        ),
        SourceRequest(
            ImportSource.of("localhost", 1143, "none", "src"), "src", "x y z"
        ),
    ),
]


@pytest.mark.parametrize(
    ("first", "second"),
    [(a, b) for _, a, b in TWINS],
    ids=[i for i, _, _ in TWINS],
)
def test_two_identical_sources_are_refused(
    first: SourceRequest, second: SourceRequest, world: World
) -> None:
    with pytest.raises(InvalidInput, match="same mailbox"):
        world.host.imports.start(ANN, [first, second], by=None)
    world.after.append(snapshot(world.root))
    assert_unchanged(world.pristine, world.after[-1])
