"""A writer process of the concurrency test: the same commands on the same aggregates.

Run as ``python -m tests.integration.concurrentwriter N START`` with the engine's
settings in the environment; it waits for the wall clock to reach START (so every
writer begins at once), runs its rounds and prints what it saw as one JSON line.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable

from application.authorization import OPERATOR
from domain.errors import DomainError
from infrastructure.bootstrap import open_engine

DOMAIN = "example.org"
INFO = f"info@{DOMAIN}"
SHARED = tuple(f"shared{k}@{DOMAIN}" for k in range(3))
OWN = 3  # addresses of its own each writer tries, beyond the shared ones
MESSAGES = tuple(f"Message {k}" for k in range(4))
SENDER = "bob@example.net"
TARGET = "ann@example.org"
ROUNDS = 5


def _counted(outcomes: dict[str, int], name: str, call: Callable[[], object]) -> None:
    try:
        call()
        outcomes[f"{name}:ok"] = outcomes.get(f"{name}:ok", 0) + 1
    except DomainError as e:
        key = f"{name}:{type(e).__name__}"
        outcomes[key] = outcomes.get(key, 0) + 1


def main(writer: int, start_at: float) -> None:
    engine = open_engine(background=False)
    host = engine.host
    outcomes: dict[str, int] = {}
    raw = (
        f"From: <{SENDER}>\r\nTo: {INFO}\r\nSubject: hello\r\n"
        f"Message-ID: <w{writer}@example.net>\r\n\r\nHello.\r\n"
    ).encode()
    time.sleep(max(0.0, start_at - time.time()))
    try:
        for n in range(ROUNDS):
            for address in (*SHARED, f"w{writer}-{n}@{DOMAIN}"[:64] if n < OWN else ""):
                if address:
                    _counted(
                        outcomes,
                        "create",
                        functools.partial(
                            host.addresses.create_unassigned, address, by=OPERATOR
                        ),
                    )
            message = MESSAGES[(writer + n) % len(MESSAGES)]
            _counted(
                outcomes,
                "activate",
                functools.partial(host.responders.activate, INFO, message, by=OPERATOR),
            )
            decision = host.responders.deliver(INFO, SENDER, raw)
            outcomes[f"reply:{decision.reply}"] = (
                outcomes.get(f"reply:{decision.reply}", 0) + 1
            )
            _counted(
                outcomes,
                "login",
                lambda: host.accounts.login(
                    TARGET, "a wrong guess", ip=f"198.51.100.{writer + 1}"
                ),
            )
    finally:
        engine.close()
    print(json.dumps(outcomes))  # noqa: T201 - the parent reads it


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]))
