"""``mailhost demo``: accounts, a mail service and a responder, as a new user would try them."""

from __future__ import annotations

import argparse
import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict
from uuid import UUID

from application.accounts import Accounts, LoginRefused, account_key
from application.authorization import OPERATOR
from application.context import Actor, acting
from domain.errors import AlreadyExists
from domain.mailservice import service_id
from infrastructure.bootstrap import Engine, open_engine
from infrastructure.cli import output
from infrastructure.cli.accounts import activity_table
from infrastructure.cli.addresses import directory_table
from infrastructure.cli.arguments import Command, Subcommands, argument, flag
from infrastructure.cli.bulkreport import report_text
from infrastructure.cli.demoimport import demo_import
from infrastructure.cli.demotwostep import demo_two_step
from infrastructure.cli.importcsv import bulk_creation
from infrastructure.settings import ConfigurationError, Settings

# Documentation address ranges (RFC 5737) with sample places, so the demo shows
# geolocation without shipping a real GeoIP database.
SAMPLE_PLACES = """\
# first,last,place (sample data for the demo)
192.0.2.0,192.0.2.255,"Geneva, CH"
198.51.100.0,198.51.100.255,"Lisbon, PT"
203.0.113.0,203.0.113.255,"Unknown hosting network"
"""
ORGANISATION = "Example Co"
BURST = 30
DEMO_MARK = "demo-home"  # names the event store an earlier demo run started empty
DELIVERY = Actor.system("delivery")


class Client(TypedDict):
    ip: str
    user_agent: str


LAPTOP = Client(ip="192.0.2.10", user_agent="Firefox 133 on Linux")

Say = Callable[[str], None]


def register(sub: Subcommands, common: output.Parser) -> None:
    Command(
        "demo",
        "run a realistic scenario on the embedded defaults",
        _demo,
        (
            flag("--json", "print the activity as JSON"),
            argument(
                "--window",
                type=float,
                default=3.0,
                metavar="SECONDS",
                help="failed-login alert window for the demo (default 3 s)",
            ),
        ),
        example="mailhost demo --home /tmp/mh",
    ).add_to(sub, common)


def _demo(args: argparse.Namespace) -> int:
    return run_demo(home=args.home, window=args.window, as_json=args.json)


def run_demo(*, home: str | None, window: float, as_json: bool) -> int:
    folder = Path(home or ".mailhost").absolute()
    env = {"MAILHOST_FAILED_LOGIN_WINDOW": str(window)}
    _claim_for_the_demo(folder, env)
    places = folder / "demo-places.csv"
    places.write_text(SAMPLE_PLACES, encoding="utf-8")
    env["MAILHOST_GEOIP_CSV"] = str(places)

    def tell(text: str) -> None:
        """The story; on stderr under ``--json``, which keeps stdout for the data."""
        output.say(text, err=as_json)

    engine = open_engine(folder, env)
    try:
        login, password = _scenario(engine, tell, window)
        engine.host.settle()
        _report(engine, login, tell, as_json=as_json)
        domain = _mail_service(engine, login, tell)
        ann = engine.host.accounts.get(login).id
        _responder(engine, domain, ann, tell)
        demo_import(engine, domain, tell, step=20, by=ann)
        demo_two_step(engine, login, password, tell, step=21)
        engine.host.settle()  # the two-step notices are jobs: sent before the count
        _where(engine, tell)
    finally:
        engine.close()
    return 0


def _claim_for_the_demo(folder: Path, env: dict[str, str]) -> None:
    """Refuse a home whose event store holds data the demo did not make.

    The demo founds an organisation, registers an admin and prints its password: run
    on an operator's home it would do that inside their real data. An empty store is
    claimed with a mark naming it; a later demo run on that same store may go on.
    """
    probe = open_engine(folder, env, background=False)
    try:
        store = _store_name(probe.settings)
        mark = folder / DEMO_MARK
        if probe.host.log.recorder.max_notification_id():
            made_by_demo = mark.is_file() and mark.read_text("utf-8").strip() == store
            if not made_by_demo:
                raise ConfigurationError(
                    f"{folder} already holds data ({store}); the demo needs an empty"
                    " home: run it with --home and a new folder"
                )
        else:
            mark.write_text(f"{store}\n", encoding="utf-8")
    finally:
        probe.close()


def _store_name(settings: Settings) -> str:
    """Which event store the home uses, without credentials."""
    if settings.uses_postgres:
        env = settings.env
        return (
            f"postgresql://{env.get('POSTGRES_HOST', '')}:"
            f"{env.get('POSTGRES_PORT', '5432')}/{env['POSTGRES_DBNAME']}"
        )
    return str(settings.events_file)


def _scenario(engine: Engine, say: Say, window: float) -> tuple[str, str]:
    host = engine.host
    try:
        host.organisations.found(ORGANISATION, by=OPERATOR)
        say(f"1. Organisation {ORGANISATION!r} founded.")
    except AlreadyExists:
        say(f"1. Organisation {ORGANISATION!r} exists already (earlier demo run).")
    login = _free_login(engine)
    password = secrets.token_urlsafe(12)
    host.accounts.register(
        ORGANISATION,
        login,
        password,
        display_name="Ann Example",
        admin=True,
        by=OPERATOR,
    )
    say(f"2. User {login} registered. Demo password (shown once): {password}")

    laptop = host.accounts.login(login, password, **LAPTOP)
    say(
        "3. First sign-in from the home laptop in Geneva: "
        f"alert mail = {laptop.alerted} (the account had seen no device yet)."
    )
    again = host.accounts.login(
        login, password, **LAPTOP, device_token=laptop.device_token
    )
    say(
        "4. Sign-in again from the same laptop (known device): "
        f"alert mail = {again.alerted}"
    )
    travel = host.accounts.login(
        login, password, ip="198.51.100.7", user_agent="Safari 18 on iPhone"
    )
    say(f"5. Sign-in from a new phone in Lisbon: alert mail = {travel.alerted}")

    _burst(host.accounts, login, say, window)

    new_password = secrets.token_urlsafe(12)
    ended = host.accounts.change_password(
        login, password, new_password, keep_session_token=laptop.session_token
    )
    say(
        f"7. Password changed from the laptop: {len(ended)} other session(s) ended; "
        f"new demo password (shown once): {new_password}"
    )
    return login, new_password


def _burst(accounts: Accounts, login: str, say: Say, window: float) -> None:
    """Wrong passwords from many addresses, then a wait for the alert window to close."""
    refused = 0
    started = time.monotonic()
    for i in range(BURST):
        try:
            accounts.login(
                login,
                f"guess-{i}",
                ip=f"203.0.113.{i % 250 + 1}",
                user_agent="curl/8.5",
            )
        except LoginRefused:
            refused += 1
    say(
        f"6. {refused} wrong passwords from a hosting network: all refused; one "
        f"aggregated alert mail goes out when the {window:g} s window closes."
    )
    # The window opened with the first wrong password; wait for it to close.
    time.sleep(max(0.0, window - (time.monotonic() - started)) + 0.2)


def _report(engine: Engine, login: str, say: Say, *, as_json: bool) -> None:
    account = engine.host.accounts.get(login)
    entries = engine.host.activity.recent(account.id)
    if as_json:
        # JSON needs no neutralising (json.dumps escapes every control character).
        output.say(json.dumps([output.as_json(e) for e in entries], indent=2))
    else:
        say(f"\nRecent activity of {login} (newest first):\n")
        say(activity_table(entries))


def _free_login(engine: Engine) -> str:
    """ann@example.org on the first run, ann+2@... on the next, so runs never collide."""
    return _first_free(
        engine,
        lambda n: "ann@example.org" if n == 1 else f"ann+{n}@example.org",
        account_key,
    )


def _first_free(
    engine: Engine, nth: Callable[[int], str], key: Callable[[str], UUID]
) -> str:
    """The first of ``nth(1)``, ``nth(2)``, ... whose aggregate (``key``) is not logged."""
    n = 1
    while engine.host.log.exists(key(nth(n))):
        n += 1
    return nth(n)


BAD_ROW_CSV = b"""address,kind,users,targets
alice,mailbox,,
bob.smith,mailbox,,
bad..dots,mailbox,,
team,redirect,,alice@DOMAIN;bob.smith@DOMAIN
"""


def _mail_service(engine: Engine, login: str, say: Say) -> str:
    """The mail-service part: quota, three ways to create, a CSV import, a deletion.

    All by the organisation's admin (the demo's user), not the operator who set up.
    """
    host = engine.host
    domain = _free_domain(engine)
    say(f"\n8. Mail service {domain} created with 8 address slots.")
    me = host.accounts.get(login).id
    host.services.create(ORGANISATION, domain, quota=8, by=me)
    host.addresses.create_for_self(f"ann@{domain}", secrets.token_urlsafe(12), by=me)
    host.settle()
    say(
        f"9. ann@{domain} created for yourself, with your own password; your mail app "
        f"lists it at once: {', '.join(host.directory.mail_app(me))}"
    )
    others = host.addresses.create_for_users(f"sales@{domain}", [login], by=me)
    say(
        f"10. sales@{domain} created for users of the organisation; generated password "
        f"(shown once): {others.password}"
    )
    unassigned = host.addresses.create_unassigned(f"info@{domain}", by=me)
    say(
        f'11. {unassigned.address} created unassigned ("I don\'t know yet"); password '
        f"(shown once): {unassigned.password}"
    )
    bulk = bulk_creation(host)
    data = BAD_ROW_CSV.replace(b"DOMAIN", domain.encode())
    report = bulk.apply(domain, data, by=me)
    say(f"12. CSV import of {report.rows} rows refused, nothing created:")
    for line in report_text(report).splitlines():
        say(f"      {line}")
    fixed = bulk.apply(domain, data.replace(b"bad..dots", b"carol"), by=me)
    say(
        f"13. The corrected file imported: {len(fixed.created)} addresses created, "
        "each with a generated password shown once (not repeated here)."
    )
    deleted = host.addresses.delete([f"info@{domain}"], by=me)
    say(
        f"14. Deleted {', '.join(deleted)}: its content is destroyed, its slot is free."
    )
    host.settle()
    directory = host.directory.directory(domain)
    if directory is not None:
        say("")
        say(directory_table(directory))
    say("")
    for advice in host.advise(domain):
        say(f"[{advice.rule}] {advice.text}")
    return domain


def _free_domain(engine: Engine) -> str:
    return _first_free(
        engine, lambda n: "example.org" if n == 1 else f"example{n}.org", service_id
    )


def _incoming(sender: str, to: str, subject: str, extra: str = "") -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{secrets.token_hex(8)}@example.net>\r\n{extra}\r\nHello!\r\n"
    ).encode()


def _responder(engine: Engine, domain: str, me: UUID, say: Say) -> None:
    """The auto-responder part: two messages, one active, the 7-day window, a reset.

    The user manages her own responder; mail arrives as the delivery (system:delivery).
    """
    host = engine.host
    ann = f"ann@{domain}"
    responders = host.responders
    responders.add(
        ann,
        "Holidays",
        body="I am on holiday until 4 January.",
        time_zone="Europe/Zurich",
        exclusions=["@spam.example"],
        by=me,
    )
    responders.add(ann, "Conference", body="I am at a conference this week.", by=me)
    responders.activate(ann, "Conference", by=me)
    responders.activate(ann, "Holidays", by=me)
    say(
        f"\n15. Two responder messages saved for {ann}; activating 'Holidays' "
        "deactivated 'Conference' (one active at a time)."
    )
    steps = [
        (
            "16. Bob writes",
            "bob@example.net",
            _incoming("bob@example.net", ann, "Lunch?"),
        ),
        (
            "17. Bob writes again",
            "bob@example.net",
            _incoming("bob@example.net", ann, "Re: Lunch?"),
        ),
        (
            "18. A mailing list writes",
            "news@lists.example",
            _incoming(
                "news@lists.example",
                ann,
                "Weekly digest",
                "List-Id: <weekly.lists.example>\r\n",
            ),
        ),
    ]
    for label, sender, raw in steps:
        with acting(DELIVERY):
            decision = responders.deliver(ann, sender, raw)
        say(f"{label}: reply = {decision.reply} ({decision.reason})")
    responders.reset(ann, "Holidays", by=me)
    with acting(DELIVERY):
        decision = responders.deliver(
            ann, "bob@example.net", _incoming("bob@example.net", ann, "One more thing")
        )
    say(
        f"19. After a reset of 'Holidays', Bob writes: reply = {decision.reply} "
        f"({decision.reason})"
    )
    host.settle()
    _replies(engine, ann, say)


def _replies(engine: Engine, ann: str, say: Say) -> None:
    """The responder's read models: its state, and each reply it sent or queued."""
    responders = engine.host.responders
    status = responders.status(ann)
    if status is not None:
        say(f"\nResponder of {ann} ({status.time_zone}): active = {status.active}")
    for entry in responders.history(ann):
        state = "sent" if entry.sent else "queued"
        say(
            f"  {entry.at:%Y-%m-%d %H:%M:%S} UTC  reply to {entry.sender}: "
            f"{entry.message!r} ({state}, {entry.message_id})"
        )


def _where(engine: Engine, say: Say) -> None:
    outbox = engine.settings.outbox
    mails = sorted(outbox.glob("*.eml")) if outbox.exists() else []
    say(f"\nEvent store: {engine.settings.events_file}")
    say(f"Outbox:      {outbox} ({len(mails)} mail(s) in all)")
    say(f"Read models: {engine.settings.home / 'views.sqlite'}")
    say(
        f"Mail store:  {engine.settings.home / 'mail'} (maildirs and their passwd-file)"
    )
