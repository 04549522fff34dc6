"""The world every hostile case starts from, built once in a process of its own.

Run as ``python -m tests.hostile.seed HOME``: it prints the ids the cases need as one JSON
object. A separate process keeps the embedded broker and its worker threads (needed so
that every job the seed caused is done before the snapshots) out of the test process,
where a later ``deliver`` or ``demo`` subprocess would otherwise find work left over.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from application.authorization import OPERATOR
from domain.invitation import LoginChoice
from infrastructure.bootstrap import open_engine

ORG = "Example Co"
DOMAIN = "example.org"
ANN = "ann@example.org"
BOB = "bob@example.org"
PASSWORD = "a long passphrase"
INVITED = "new@example.org"
PENDING_SENDER = "office@example.org"
SIGNATURE_TEMPLATE = "Standard"
RESPONDER_TEMPLATE = "Closed"
MESSAGE = "Holidays"

_INVITATION = re.compile(r"Invitation: (\S+)\s+Code: (\S+)")


def build(home: Path) -> dict[str, str]:
    """Organisation, two users, a service, a mailbox with an active responder, an
    invitation waiting, a sender verification pending, one template of each kind."""
    engine = open_engine(home, {})
    try:
        host = engine.host
        host.organisations.found(ORG, by=OPERATOR)
        ann = host.accounts.register(
            ORG, ANN, PASSWORD, display_name="Ann", by=OPERATOR
        )
        bob = host.accounts.register(
            ORG, BOB, PASSWORD, display_name="Bob", by=OPERATOR
        )
        host.services.create(ORG, DOMAIN, quota=10, by=OPERATOR)
        host.services.save_signature_template(
            DOMAIN, SIGNATURE_TEMPLATE, "Ann\nExample Co", by=OPERATOR
        )
        host.responders.save_template(
            DOMAIN,
            RESPONDER_TEMPLATE,
            body="Closed until January.",
            subject="Closed",
            by=OPERATOR,
        )
        host.addresses.create_for_users(ANN, [ANN, BOB], by=OPERATOR)
        host.responders.add(
            ANN, MESSAGE, body="Back on Monday.", time_zone="Europe/Zurich", by=OPERATOR
        )
        host.responders.activate(ANN, MESSAGE, by=OPERATOR)
        invitation = host.addresses.invite(
            INVITED,
            send_to="new.person@example.net",
            login_choice=LoginChoice.OWN_CHOICE,
            by=OPERATOR,
        )
        host.responders.request_sender_verification(ANN, PENDING_SENDER, by=OPERATOR)
        host.settle()
        engine.runner.catch_up()
    finally:
        engine.close()
    token = ""
    for mail in sorted((home / "outbox").glob("*.eml")):
        found = _INVITATION.search(mail.read_text(encoding="utf-8", errors="replace"))
        if found and found.group(1) == str(invitation):
            token = found.group(2)
    if not token:
        msg = f"the invitation mail for {invitation} is not in the outbox"
        raise RuntimeError(msg)
    return {
        "ann_id": str(ann),
        "bob_id": str(bob),
        "invitation_id": str(invitation),
        "token": token,
    }


if __name__ == "__main__":
    print(json.dumps(build(Path(sys.argv[1]))))  # noqa: T201 - the parent reads it
