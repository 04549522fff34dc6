"""The importing process of the ``import`` benchmark: one import, measured from inside.

Run as ``python -m benchmarks._importrun`` with a JSON job on stdin (the passwords
travel through the pipe, never argv); prints one JSON line: the seconds the import
took, the process's peak RSS (so the benchmark's corpus generation does not count),
the mode and the counts. The import is the application's use case
(``host.imports.start`` + ``run``) on an engine whose store is the benchmark's Dovecot
(``MAILHOST_IMAP_URL`` and the master user); the engine's home persists between the
first run and the re-run, so the re-run is the repeat a user would do.
"""

from __future__ import annotations

import cProfile
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from application.authorization import OPERATOR
from application.host import MailHost
from application.imports import SourceRequest
from benchmarks._core import EMBEDDED_ENV, peak_rss_mb
from domain.errors import AlreadyExists
from domain.importsource import ImportSource
from infrastructure.bootstrap import Engine, open_engine

ORGANISATION = "Import Bench Org"
PASSWD_RELOAD = 1.1  # seconds: past Dovecot's once-a-second look at its passwd-file


def engine_env(job: dict[str, Any]) -> dict[str, str]:
    return {
        **EMBEDDED_ENV,
        "MAILHOST_IMAP_URL": f"imap://{job['host']}:{job['port']}",
        "MAILHOST_IMAP_MASTER_USER": job["master_user"],
        "MAILHOST_IMAP_MASTER_PASSWORD": job["master_password"],
        "MAILHOST_IMAP_PASSWD_FILE": job["passwd_file"],
    }


def ensure_destination(engine: Engine, address: str) -> None:
    """The destination as a mailbox of a service (done once; the re-run finds it).

    The jobs of the creation write Dovecot's passwd-file; Dovecot looks at the file at
    most once a second, so the first login waits into the next second.
    """
    host = engine.host
    domain = address.rsplit("@", 1)[1]
    try:
        host.organisations.found(ORGANISATION, by=OPERATOR)
        host.services.create(ORGANISATION, domain, quota=4, by=OPERATOR)
        host.addresses.create_unassigned(address, by=OPERATOR)
    except AlreadyExists:
        return
    engine.drain()
    time.sleep(PASSWD_RELOAD)


def use_case(host: MailHost, job: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    source = ImportSource.of(job["host"], job["port"], "none", job["source_user"])
    request = SourceRequest(source, job["source_user"], job["source_password"])

    def run() -> dict[str, Any]:
        job_id = host.imports.start(job["destination"], [request], by=None)
        host.imports.run(job_id)
        done = host.imports.get(job_id)
        counts = done.counts
        return {
            "mode": "use case",
            "state": str(done.state),
            "copied": counts.copied,
            "skipped": counts.skipped,
            "failed": counts.failed,
        }

    return run


def main() -> int:
    job = json.loads(sys.stdin.read())
    home = Path(job["home"])
    engine = open_engine(home, engine_env(job), background=False)
    try:
        ensure_destination(engine, job["destination"])
        work = use_case(engine.host, job)
        profiler = cProfile.Profile() if job.get("profile") else None
        began = time.perf_counter()
        if profiler is not None:
            result = profiler.runcall(work)
            profiler.dump_stats(job["profile"])
        else:
            result = work()
        seconds = time.perf_counter() - began
    finally:
        engine.close()
    result.update(seconds=seconds, peak_rss_mb=peak_rss_mb())
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
