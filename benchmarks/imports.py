"""Mailbox import over IMAP: our import against a plain imapclient loop, and a re-run.

A private Dovecot on 127.0.0.1 holds a generated corpus (``tests.mailcorpus``: at least
5,000 messages / 150 MB, every trap of the engineering notes) in a source user. The
baseline copies it to a user of its own with one connection per side, FETCH in batches
and one APPEND per message, as the engineering notes measured (205 msg/s there). Our
import then copies it to the destination address in a child process
(``benchmarks._importrun``), so its peak RSS is the importer's own and not the corpus
generator's; then the same import runs again at once and must copy nothing (IMP-3).
After every copy the destination is read back and compared with the corpus, flags and
internal dates included; a difference aborts the group.

``MAILHOST_BENCH_IMPORT_MB`` and ``MAILHOST_BENCH_IMPORT_MSGS`` set a smaller corpus
for quick runs (``--quick`` takes 600 messages / 15 MB); ``MAILHOST_BENCH_IMPORT_PROFILE``
names a file where the child writes a cProfile of the first import (and of the
re-run, with ``.rerun`` added).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from imapclient import IMAPClient

import benchmarks
from benchmarks._core import Options, Report, group, ratio, scratch_dir
from tests.mailcorpus import MB, Attributes, expected_attributes, generate
from tests.mailcorpusimap import folder_name, load_into, read_attributes
from tests.servers.dovecot import RunningDovecot, start_dovecot

SEED = 20240917
MESSAGES, TOTAL_MB = 5_000, 150.0
QUICK_MESSAGES, QUICK_MB = 600, 15.0
SOURCE = "source@import.bench.example"
NAIVE = "naive@import.bench.example"
DESTINATION = "dest@import.bench.example"
PASSWORD = "bench-source-password"  # noqa: S105 - a throwaway user of a private Dovecot
NAIVE_FETCH_BATCH = 100
RERUN_GOAL, RATIO_GOAL = 0.1, 2.0


def _size(options: Options) -> tuple[int, float]:
    messages = int(os.environ.get("MAILHOST_BENCH_IMPORT_MSGS") or 0)
    total_mb = float(os.environ.get("MAILHOST_BENCH_IMPORT_MB") or 0)
    default = (QUICK_MESSAGES, QUICK_MB) if options.quick else (MESSAGES, TOTAL_MB)
    return messages or default[0], total_mb or default[1]


def connect(dovecot: RunningDovecot, user: str) -> IMAPClient:
    """A login as ``user``, through the master user (no per-user password needed)."""
    client = IMAPClient(dovecot.host, dovecot.port, ssl=False, timeout=120)
    client.login(f"{user}*{dovecot.master_user}", dovecot.master_password)
    return client


def naive_copy(dovecot: RunningDovecot, source: str, destination: str) -> int:
    """The baseline: FETCH in batches, one APPEND per message, one connection a side."""
    copied = 0
    src, dst = connect(dovecot, source), connect(dovecot, destination)
    try:
        sep = src.list_folders("", "")[0][1].decode()
        dst_sep = dst.list_folders("", "")[0][1].decode()
        for flags, _, name in src.list_folders():
            if b"\\Noselect" in flags:
                continue
            target = folder_name(tuple(name.split(sep)), dst_sep)
            if target.upper() != "INBOX" and not dst.folder_exists(target):
                dst.create_folder(target)
            src.select_folder(name, readonly=True)
            uids = src.search("ALL")
            for i in range(0, len(uids), NAIVE_FETCH_BATCH):
                chunk = uids[i : i + NAIVE_FETCH_BATCH]
                for uid, data in src.fetch(
                    chunk, ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"]
                ).items():
                    del uid
                    flags_kept = [f for f in data[b"FLAGS"] if f != b"\\Recent"]
                    dst.append(
                        target, data[b"BODY[]"], flags_kept, data[b"INTERNALDATE"]
                    )
                    copied += 1
    finally:
        for client in (src, dst):
            client.logout()
    return copied


def check_copy(
    dovecot: RunningDovecot,
    user: str,
    expected: dict[Any, Counter[Attributes]],
    what: str,
) -> None:
    """Abort loudly unless ``user`` holds exactly the corpus (keys, flags, dates)."""
    client = connect(dovecot, user)
    try:
        got = read_attributes(client)
    finally:
        client.logout()
    if got == expected:
        return
    lines = []
    for path in sorted(set(got) | set(expected)):
        have, want = got.get(path, Counter()), expected.get(path, Counter())
        if have != want:
            lines.append(
                f"{'/'.join(path)}: {sum((want - have).values())} missing, "
                f"{sum((have - want).values())} extra (of {sum(want.values())})"
            )
    raise RuntimeError(f"{what} did not copy the corpus exactly: " + "; ".join(lines))


def run_import(
    dovecot: RunningDovecot, home: Path, label: str, profile: str
) -> dict[str, Any]:
    """Our import in a child process; returns what it measured (seconds, RSS, counts)."""
    job = {
        "host": dovecot.host,
        "port": dovecot.port,
        "source_user": SOURCE,
        "source_password": PASSWORD,
        "master_user": dovecot.master_user,
        "master_password": dovecot.master_password,
        "passwd_file": str(dovecot.passwd_file),
        "destination": DESTINATION,
        "home": str(home),
        "profile": profile,
    }
    root = str(Path(benchmarks.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=root)
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks._importrun"],
        input=json.dumps(job),  # the passwords go through a pipe, never argv
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {label} import failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@group("import", "IMAP import: our import vs a naive imapclient loop, re-run")
def run(options: Options, report: Report) -> None:
    messages, total_mb = _size(options)
    with scratch_dir("import") as root:
        dovecot = start_dovecot(root / "dovecot")
        try:
            _measure(dovecot, root, messages, total_mb, report)
        finally:
            dovecot.stop()


def _measure(
    dovecot: RunningDovecot, root: Path, messages: int, total_mb: float, report: Report
) -> None:
    for user in (SOURCE, NAIVE):  # the engine makes the destination its own way
        dovecot.add_user(user, PASSWORD)
    corpus = generate(SEED, messages, total_mb)
    began = time.perf_counter()
    client = connect(dovecot, SOURCE)
    try:
        load_into(client, corpus)
    finally:
        client.logout()
    loading = time.perf_counter() - began
    expected = expected_attributes(corpus)
    count = sum(sum(c.values()) for c in expected.values())
    size = sum(key.size * n for c in expected.values() for (key, _, _), n in c.items())
    report.note(
        f"corpus: {count} messages, {size / MB:.1f} MB in {len(expected)} folders "
        f"(seed {SEED}), loaded in {loading:.1f} s with MULTIAPPEND; Dovecot on 127.0.0.1"
    )
    began = time.perf_counter()
    naive = naive_copy(dovecot, SOURCE, NAIVE)
    naive_seconds = time.perf_counter() - began
    check_copy(dovecot, NAIVE, expected, "the naive loop")
    naive_rate = naive / naive_seconds
    report.figure(
        "import_naive_msgs_per_s", naive_rate, "msg/s", "1 connection, 1 APPEND each"
    )
    profile = os.environ.get("MAILHOST_BENCH_IMPORT_PROFILE", "")
    first = run_import(dovecot, root / "home", "first", profile)
    check_copy(dovecot, DESTINATION, expected, "our import")
    second = run_import(
        dovecot, root / "home", "second", profile and profile + ".rerun"
    )
    check_copy(dovecot, DESTINATION, expected, "our re-run")
    if second.get("copied", 0):
        raise RuntimeError(f"the re-run copied {second['copied']} messages again")
    report.note(f"our import: {first}; re-run: {second}")
    rate = count / first["seconds"]
    report.figure(
        "import_msgs_per_s", rate, "msg/s", f"{count} messages, {first['mode']}"
    )
    report.figure("import_mb_per_s", size / MB / first["seconds"], "MB/s")
    report.figure(
        "import_peak_rss_mb", first["peak_rss_mb"], "MB", "ru_maxrss of the importer"
    )
    report.figure(
        "import_vs_naive_ratio", ratio(rate, naive_rate), "x", f"goal >= {RATIO_GOAL}"
    )
    report.figure(
        "import_rerun_fraction",
        ratio(second["seconds"], first["seconds"]),
        "x",
        f"second run / first run, goal < {RERUN_GOAL}",
    )
