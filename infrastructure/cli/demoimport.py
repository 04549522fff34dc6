"""The import part of ``mailhost demo``: a real IMAP mailbox copied in, then again.

A source is configured by environment variables (read through ``Settings.env``):

``MAILHOST_DEMO_IMPORT_HOST``
    The source IMAP server. Unset: the demo only says how to try an import.
``MAILHOST_DEMO_IMPORT_USER``, ``MAILHOST_DEMO_IMPORT_PASSWORD``
    The login there (the password never on a command line; in the demo's environment,
    which only this user's processes can read).
``MAILHOST_DEMO_IMPORT_PORT``, ``MAILHOST_DEMO_IMPORT_SECURITY``
    Optional: ``tls`` (993) by default; ``none`` is accepted only for a server on this
    machine (``localhost``, ``127.0.0.1``).

The mailbox is imported into the demo's own ``ann@`` address, then imported again: the
second job copies nothing (IMP-3). The copy runs in the demo engine's in-process worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from uuid import UUID

from application.imports import SourceRequest
from domain.errors import DomainError
from domain.importsource import ImportSource, Security
from infrastructure.bootstrap import Engine
from infrastructure.cli.importview import reason_text

PREFIX = "MAILHOST_DEMO_IMPORT_"
WAIT_S = 1800.0  # a demo mailbox is small; a big one is for `mailhost import start`
POLL_S = 0.25

Say = Callable[[str], None]


def demo_import(
    engine: Engine, domain: str, say: Say, step: int, *, by: UUID | None
) -> None:
    """Import the configured mailbox into ann@``domain`` twice, or say how to.

    ``by``: the user the address is linked to, importing into her own mailbox.
    """
    env = engine.settings.env
    destination = f"ann@{domain}"
    if not env.get(f"{PREFIX}HOST"):
        say(_how_to(step, destination))
        return
    try:
        source, password = _source(env)
    except DomainError as e:
        say(f"\n{step}. Mailbox import skipped: {PREFIX}* is not usable: {e}")
        return
    where = f"{source.user} at {source.host}:{source.port} ({source.security.value})"
    say(f"\n{step}. Import of the mailbox {where} into {destination} (IMP-1):")
    for attempt in (1, 2):
        job_id = engine.host.imports.start(
            destination, [SourceRequest(source, source.user, password)], by=by
        )
        if not _wait(engine, job_id):
            say(
                f"    still running after {WAIT_S:g} s; `mailhost import status "
                f"{job_id}` follows it"
            )
            return
        job = engine.host.imports.get(job_id)
        counts = job.counts
        label = "first import" if attempt == 1 else "the same import again"
        say(
            f"    {label}: {job.state.value}, copied {counts.copied}, skipped as "
            f"present already {counts.skipped}, failed {counts.failed}"
        )
        if job.reason is not None:
            say(f"    reason: {reason_text(job.reason.value)}")
            return
    engine.host.settle()
    say(
        "    nothing was doubled (IMP-3); a confirmation mail for each went to the "
        "addresses involved (IMP-4)."
    )


def _source(env: Mapping[str, str]) -> tuple[ImportSource, str]:
    security = env.get(f"{PREFIX}SECURITY") or Security.TLS.value
    source = ImportSource.of(
        env[f"{PREFIX}HOST"],
        env.get(f"{PREFIX}PORT") or None,
        security,
        env.get(f"{PREFIX}USER", ""),
    )
    return source, env.get(f"{PREFIX}PASSWORD", "")


def _wait(engine: Engine, job_id: UUID) -> bool:
    """True once the job is over; the relay's in-process worker runs it."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if engine.host.imports.get(job_id).is_over:
            return True
        time.sleep(POLL_S)
    return False


def _how_to(step: int, destination: str) -> str:
    return (
        f"\n{step}. Mailbox import (IMP-1): no source IMAP server is configured. Any "
        "IMAP server you can log in to will do (a Dovecot on this machine: install "
        "dovecot-imapd). Then run the demo with\n"
        f"      {PREFIX}HOST=imap.example.net {PREFIX}USER=you "
        f"{PREFIX}PASSWORD=... [{PREFIX}PORT=993 {PREFIX}SECURITY=tls]\n"
        "    or import into any address yourself:\n"
        f"      mailhost import start --destination {destination} --host "
        "imap.example.net --user you --password-stdin --wait"
    )
