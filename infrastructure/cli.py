"""The ``mailhost`` command: operator commands and the demo.

Conventions for every command: ``--home DIR`` (or MAILHOST_HOME), ``--json`` where it
prints data, bad input on stderr with exit status 2, any other failure exit status 1.
Every line goes through ``commandline.say``/``emit``: no control character of an input
or an exception reaches the terminal.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

from application.ports import ActivityEntry
from domain.address import shown
from domain.errors import DomainError
from domain.text import neutralise
from infrastructure.bootstrap import open_engine
from infrastructure.commandline import Parser, emit, engine_for, read_password, say
from infrastructure.settings import ConfigurationError

EXAMPLES = """\
examples:
  mailhost demo                         run the demo scenario in ./.mailhost
  mailhost demo --home /tmp/mh          ... with everything under /tmp/mh
  mailhost org create "Example Co"
  printf '%s' "$PW" | mailhost user create ann@example.org --org "Example Co" --password-stdin
  mailhost activity ann@example.org --json
  mailhost run                          follow the log: projections, job relay
                                        (and, embedded, the workers) until Ctrl-C
"""


# More entries than any screen or script wants; the read model is asked for no more.
MAX_ACTIVITY_LIMIT = 10_000


class BadInput(Exception):  # noqa: N818 - named for what it is to the user
    pass


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high``, else a usage error.

    ``int`` alone takes any number of digits, and a 31-digit limit then fails far
    from the command line (an SQLite integer overflows): exit 1 where bad input
    deserves exit 2 and the option's name.
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            msg = f"{shown(text)} is not a whole number"
            raise argparse.ArgumentTypeError(msg) from None
        if not low <= value <= high:
            msg = f"must be from {low} to {high}"
            raise argparse.ArgumentTypeError(msg)
        return value

    parse.__name__ = "whole number"
    return parse


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help(sys.stderr)
        return 2
    try:
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - the last line of defence prints, not a trace
        return _refusal(e)


def _refusal(error: Exception) -> int:
    """The exit status for ``error`` and its one line on stderr (no traceback).

    Bad input is status 2, whichever layer noticed it: a refusal of the engine, a value
    a command could not read (a ``ValueError``: a date, a number) or bytes that are not
    UTF-8. Anything else is status 1, its text neutralised as outside text: it may
    quote anything. ``say`` keeps every line free of characters a terminal obeys.
    """
    match error:
        case UnicodeError():
            # Its text would quote bytes of the input, which may be a password.
            say("mailhost: the input is not valid UTF-8", err=True)
            return 2
        case DomainError() | ConfigurationError() | BadInput() | ValueError():
            say(f"mailhost: {error}", err=True)
            return 2
    name = type(error).__name__
    say(f"mailhost: failed: {name}: {neutralise(str(error), max_length=500)}", err=True)
    return 1


def _parser() -> argparse.ArgumentParser:
    common = Parser(add_help=False)
    common.add_argument(
        "--home", help="engine folder (default: $MAILHOST_HOME or ./.mailhost)"
    )
    parser = Parser(
        prog="mailhost",
        description="Event-sourced engine for a mail-hosting provider's accounts.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(title="commands", parser_class=Parser)

    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="run a realistic scenario on the embedded defaults",
        epilog="example: mailhost demo --home /tmp/mh",
    )
    demo.add_argument("--json", action="store_true", help="print the activity as JSON")
    demo.add_argument(
        "--window",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="failed-login alert window for the demo (default 3 s)",
    )
    demo.set_defaults(handler=_demo)

    org = sub.add_parser("org", help="organisations").add_subparsers(
        parser_class=Parser
    )
    create = org.add_parser(
        "create",
        parents=[common],
        help="found an organisation",
        epilog='example: mailhost org create "Example Co"',
    )
    create.add_argument("name")
    create.add_argument("--json", action="store_true")
    create.set_defaults(handler=_org_create)

    user = sub.add_parser("user", help="user accounts").add_subparsers(
        parser_class=Parser
    )
    ucreate = user.add_parser(
        "create",
        parents=[common],
        help="register a user in an organisation",
        epilog="example: mailhost user create ann@example.org --org 'Example Co' "
        "--password-stdin < pw.txt",
    )
    ucreate.add_argument("login")
    ucreate.add_argument("--org", required=True)
    ucreate.add_argument("--name", default="", help="display name")
    ucreate.add_argument(
        "--password-stdin",
        action="store_true",
        required=True,
        help="read the password from standard input (never an argument)",
    )
    ucreate.add_argument("--json", action="store_true")
    ucreate.set_defaults(handler=_user_create)

    activity = sub.add_parser(
        "activity",
        parents=[common],
        help="a user's recent activity (SEC-3)",
        epilog="example: mailhost activity ann@example.org --limit 20 --json",
    )
    activity.add_argument("login")
    activity.add_argument(
        "--limit",
        type=bounded_int(1, MAX_ACTIVITY_LIMIT),
        default=50,
        help=f"newest entries to show (1 to {MAX_ACTIVITY_LIMIT}, default 50)",
    )
    activity.add_argument("--json", action="store_true")
    activity.set_defaults(handler=_activity)

    run = sub.add_parser(
        "run",
        parents=[common],
        help="follow the log (projections, job relay; embedded: workers) until stopped",
        epilog="example: MAILHOST_BROKER_URL=redis://127.0.0.1:6379/0 mailhost run",
    )
    run.set_defaults(handler=_run)

    from infrastructure import mailcli  # noqa: PLC0415 - its commands import the engine

    mailcli.register(sub, common)
    from infrastructure import respondercli  # noqa: PLC0415

    respondercli.register(sub, common)
    return parser


def _org_create(args: argparse.Namespace) -> int:
    with engine_for(args) as engine:
        org_id = engine.host.organisations.found(args.name)
    emit(
        args,
        {"organisation_id": str(org_id), "name": args.name},
        f"organisation {args.name!r} founded ({org_id})",
    )
    return 0


def _user_create(args: argparse.Namespace) -> int:
    password = read_password()
    with engine_for(args) as engine:
        account_id = engine.host.accounts.register(
            args.org, args.login, password, display_name=args.name
        )
    emit(
        args,
        {"account_id": str(account_id), "login": args.login},
        f"user {args.login} registered ({account_id})",
    )
    return 0


def _activity(args: argparse.Namespace) -> int:
    with engine_for(args) as engine:
        engine.runner.catch_up()
        account = engine.host.accounts.get(args.login)
        entries = engine.host.activity.recent(account.id, args.limit)
    emit(args, [entry_json(e) for e in entries], activity_table(entries))
    return 0


def _run(args: argparse.Namespace) -> int:
    engine = open_engine(args.home)
    say(f"following the log in {engine.settings.home} (Ctrl-C to stop)", err=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        engine.close()


def entry_json(entry: ActivityEntry) -> dict[str, str | int]:
    return {
        "at": entry.at.isoformat(),
        "kind": entry.kind,
        "outcome": entry.outcome,
        "place": entry.place,
        "network": entry.network,
        "device": entry.device,
        "detail": entry.detail,
        "count": entry.count,
    }


def activity_table(entries: Sequence[ActivityEntry]) -> str:
    """Newest first, as the user's recent-activity page would list them.

    Places and devices came from outside (geolocation, the browser's User-Agent): each
    is neutralised (ADV-5), so the table carries no control character and no link.
    """
    header = ("when (UTC)", "what", "outcome", "place", "device", "detail")
    rows = [
        (
            f"{e.at:%Y-%m-%d %H:%M:%S}",
            neutralise(e.kind),
            neutralise(e.outcome if e.count == 1 else f"{e.outcome} x{e.count}"),
            neutralise(e.place or e.network),
            _device(e.device),
            neutralise(e.detail, max_length=200) if e.detail else "",
        )
        for e in entries
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _device(device: str) -> str:
    """The User-Agent neutralised, the device fingerprint tag kept whole after it."""
    client, separator, tag = device.rpartition(" [")
    if not separator:
        return neutralise(device) if device else ""
    return f"{neutralise(client) or 'unknown device'} [{neutralise(tag, max_length=20)}"


def _demo(args: argparse.Namespace) -> int:
    from infrastructure.demo import run_demo  # noqa: PLC0415 - only the demo needs it

    return run_demo(home=args.home, window=args.window, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
