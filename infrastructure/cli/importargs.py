"""The arguments of ``mailhost import start|batch|status``, as their ``--help`` lists them.

Apart from the handlers (``infrastructure.cli.imports``): a source's options are
declared twice over (the first source and ``--second-*``), and ``start`` has the
longest argument list of any command.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from domain.importsource import Security
from infrastructure.cli.arguments import (
    JSON,
    Declares,
    OneOf,
    Section,
    argument,
    bounded_int,
    flag,
)

START_EPILOG = """\
the source (one of):
  --host H [--port P] [--security tls|starttls|none] [--ca-file F] [--insecure]
  --preset NAME       a provider's server (yahoo, icloud, outlook, gmx, ...)
  --hosted            an address of this provider (--user is that address)
a second source (IMP-7): --second-user U2 --second-password-fd N, on the first
source's server unless --second-host/--second-preset/--second-hosted says otherwise.

examples:
  printf '%s' "$PW" | mailhost import start --destination ann@example.org \\
      --host imap.old.example --user ann --password-stdin --wait
  mailhost import start --destination ann@example.org --preset icloud \\
      --user ann@icloud.com --password-stdin 3<pw2.txt \\
      --second-user ann.work@icloud.com --second-password-fd 3 < pw.txt
"""


class NoPasswordOnArgv(argparse.Action):
    """``--password`` refused without echoing its value (argv is public: ``ps``)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        del namespace, values
        parser.error(
            f"{option_string}: a password is never taken from the command line (every "
            "user of the machine can read it); give it on standard input with "
            "--password-stdin, a second one with --second-password-fd N"
        )


def _source_options(prefix: str, *, required: bool) -> tuple[Declares, ...]:
    """Where a source is (``--host``, ``--preset`` or ``--hosted``) and how to reach it."""
    return (
        OneOf(
            (
                argument(f"--{prefix}host", metavar="H", help="the IMAP server"),
                argument(
                    f"--{prefix}preset", metavar="NAME", help="a provider's server"
                ),
                flag(f"--{prefix}hosted", "an address of this provider (IMP-5)"),
            ),
            required=required,
        ),
        argument(f"--{prefix}port", type=bounded_int(1, 65535), metavar="P"),
        argument(
            f"--{prefix}security", choices=[s.value for s in Security], default=None
        ),
        argument(f"--{prefix}ca-file", metavar="F", help="PEM file of a private CA"),
        flag(
            f"--{prefix}insecure",
            "allow --security none to a server that is not this machine",
        ),
    )


def start_arguments() -> tuple[Declares, ...]:
    return (
        argument("--destination", required=True, metavar="ADDR"),
        *_source_options("", required=True),
        argument("--user", required=True, help="the login at the source"),
        flag(
            "--password-stdin",
            "read the source password from standard input (never an argument)",
            required=True,
        ),
        Section(
            "a second source (IMP-7)",
            (
                *_source_options("second-", required=False),
                argument("--second-user", metavar="U2"),
                argument(
                    "--second-password-fd",
                    type=bounded_int(0, 65535),
                    metavar="N",
                    help="read the second password from file descriptor N (3 or more)",
                ),
            ),
        ),
        argument(
            "--by",
            metavar="LOGIN",
            help="the requesting user: the destination must be linked to their mail "
            "app (IMP-7); default: the operator",
        ),
        flag("--wait", "follow the job to its end (exit 0 completed, 1 failed)"),
        JSON,
        argument(
            "--password",
            "--second-password",
            nargs="?",
            action=NoPasswordOnArgv,
            help=argparse.SUPPRESS,
        ),
    )


def batch_arguments() -> tuple[Declares, ...]:
    return (
        argument("domain"),
        argument("file", type=Path),
        flag("--check", "validate only, request nothing"),
        argument("--by", metavar="LOGIN", help="an admin of the organisation"),
        flag("--wait", "follow every job to its end"),
        JSON,
    )


def status_arguments() -> tuple[Declares, ...]:
    return (
        argument("job", nargs="?", metavar="JOB"),
        argument(
            "--destination",
            metavar="ADDR",
            help="only the imports into this address",
        ),
        JSON,
    )
