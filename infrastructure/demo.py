"""``mailhost demo``: the account-security slice, as a new user would try it."""

from __future__ import annotations

import json
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path

from application.accounts import LoginRefused, account_key
from domain.errors import AlreadyExists
from infrastructure.bootstrap import Engine, open_engine
from infrastructure.cli import activity_table, entry_json

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
LAPTOP = {"ip": "192.0.2.10", "user_agent": "Firefox 133 on Linux"}

Say = Callable[[str], None]


def run_demo(*, home: str | None, window: float, as_json: bool) -> int:
    folder = Path(home or ".mailhost").absolute()
    folder.mkdir(parents=True, exist_ok=True)
    places = folder / "demo-places.csv"
    places.write_text(SAMPLE_PLACES, encoding="utf-8")
    env = {
        "MAILHOST_GEOIP_CSV": str(places),
        "MAILHOST_FAILED_LOGIN_WINDOW": str(window),
    }
    out = sys.stderr if as_json else sys.stdout

    def say(text: str) -> None:
        print(text, file=out)

    engine = open_engine(folder, env)
    try:
        login = _scenario(engine, say, window)
        engine.host.settle()
        _report(engine, login, say, as_json=as_json)
    finally:
        engine.close()
    return 0


def _scenario(engine: Engine, say: Say, window: float) -> str:
    host = engine.host
    try:
        host.organisations.found(ORGANISATION)
        say(f"1. Organisation {ORGANISATION!r} founded.")
    except AlreadyExists:
        say(f"1. Organisation {ORGANISATION!r} exists already (earlier demo run).")
    login = _free_login(engine)
    password = secrets.token_urlsafe(12)
    host.accounts.register(ORGANISATION, login, password, display_name="Ann Example")
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

    refused = 0
    started = time.monotonic()
    for i in range(BURST):
        try:
            host.accounts.login(
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

    new_password = secrets.token_urlsafe(12)
    ended = host.accounts.change_password(
        login, password, new_password, keep_session_token=laptop.session_token
    )
    say(
        f"7. Password changed from the laptop: {len(ended)} other session(s) ended; "
        f"new demo password (shown once): {new_password}"
    )
    return login


def _report(engine: Engine, login: str, say: Say, *, as_json: bool) -> None:
    account = engine.host.accounts.get(login)
    entries = engine.host.activity.recent(account.id)
    if as_json:
        print(json.dumps([entry_json(e) for e in entries], indent=2))
    else:
        say(f"\nRecent activity of {login} (newest first):\n")
        say(activity_table(entries))
    outbox = engine.settings.outbox
    mails = sorted(outbox.glob("*.eml")) if outbox.exists() else []
    say(f"\nEvent store: {engine.settings.events_file}")
    say(f"Outbox:      {outbox} ({len(mails)} mail(s) in all)")
    say(f"Read models: {engine.settings.home / 'views.sqlite'}")


def _free_login(engine: Engine) -> str:
    """ann@example.org on the first run, ann+2@... on the next, so runs never collide."""
    n = 1
    while True:
        login = "ann@example.org" if n == 1 else f"ann+{n}@example.org"
        if not engine.host.log.exists(account_key(login)):
            return login
        n += 1
