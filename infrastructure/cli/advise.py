"""``mailhost advise``: what the operator should look at on a domain (ADV-1..4)."""

from __future__ import annotations

import argparse

from infrastructure.cli.arguments import JSON, Command, Subcommands, argument
from infrastructure.cli.output import Parser, emit, engine_for


def register(sub: Subcommands, common: Parser) -> None:
    _command().add_to(sub, common)


def _advise(args: argparse.Namespace) -> int:
    with engine_for(args) as e:
        e.runner.catch_up()
        found = e.host.advise(args.domain)
    lines = [f"[{a.rule}] {a.address}: {a.text}" for a in found]
    emit(
        args,
        [{"rule": a.rule, "address": a.address, "text": a.text} for a in found],
        "\n".join(lines) or f"{args.domain}: nothing to advise",
    )
    return 0


def _command() -> Command:
    return Command(
        "advise",
        "advisories (ADV-1..4)",
        _advise,
        (argument("domain"), JSON),
        example="mailhost advise example.org --json",
    )
