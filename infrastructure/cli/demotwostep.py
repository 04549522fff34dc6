"""``mailhost demo``, its two-step part: what a user sees turning on an authenticator app.

The demo plays the user's phone too: pyotp reads the provisioning URI the engine
showed, as an authenticator app reads its QR code, and computes the codes. The next
time step's code (inside the one step of drift allowed) stands in for "the app, half
a minute later", so the demo never waits for the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pyotp

from application.accounts import Accounts
from application.twostep import Reauth
from domain.errors import NotPermitted
from infrastructure.bootstrap import Engine
from infrastructure.settings import ConfigurationError

Say = Callable[[str], None]
STEP_S = 30  # RFC 6238's time step, as TwoStepPolicy has it
IP = "192.0.2.10"  # the demo's home laptop in Geneva
AGENT = "Firefox 133 on Linux"


def demo_two_step(
    engine: Engine, login: str, password: str, say: Say, step: int
) -> None:
    """Steps ``step`` to ``step + 5``: enrol TOTP, sign in with a code, a replay
    refused, an app password for IMAP, a backup code used once."""
    twostep = engine.host.twostep
    if twostep is None:
        raise ConfigurationError("two-step verification is not configured here")
    clock = engine.host.accounts.clock
    enrolment = twostep.enrol(login, "totp", Reauth(password=password))
    uri = enrolment.otpauth_uri or ""
    app = pyotp.parse_uri(uri)
    if not isinstance(app, pyotp.TOTP):  # pragma: no cover - the engine's URI is TOTP
        raise TypeError("the provisioning URI is not a TOTP one")
    codes = list(enrolment.backup_codes)
    say(
        f"\n{step}. Authenticator app enrolled for {login}: its QR code holds {uri} "
        f"(this once); {len(codes)} backup codes issued with it, first "
        f"{codes[0] if codes else '-'} (kept by the user, never stored readable)."
    )
    confirmed_at = clock.now()
    twostep.confirm(login, enrolment.factor_id, code=app.at(confirmed_at))
    say(f"{step + 1}. Confirmed with the code the app showed: two-step is on.")

    accounts = engine.host.accounts
    asked = accounts.login(login, password, ip=IP, user_agent=AGENT)
    # One browser throughout: its device token makes it known after the first
    # sign-in, so one new-device mail goes out, not one per attempt (SEC-1).
    device = asked.device_token
    later = _next_code(app, confirmed_at)
    signed = accounts.login(
        login, password, ip=IP, user_agent=AGENT, device_token=device, code=later
    )
    say(
        f"{step + 2}. Sign-in with the password alone: {asked.outcome}; with the app's next "
        f"code {later}: {signed.outcome}."
    )
    replayed = _attempt(accounts, login, password, later, device)
    say(f"{step + 3}. The same code {later} again: {replayed} (MFA-3).")

    created = twostep.create_app_password(
        login, "Thunderbird", Reauth(password=password, code=codes[1])
    )
    accounts.protocol_login(login, created.password, "imap")
    try:
        accounts.protocol_login(login, password, "imap")
        alone = "accepted"
    except NotPermitted:
        alone = "refused"
    say(
        f"{step + 4}. App password 'Thunderbird' created, {created.password} (this once): "
        f"IMAP login with it accepted; with the account password alone {alone} (MFA-4)."
    )
    first = _attempt(accounts, login, password, codes[0], device)
    again = _attempt(accounts, login, password, codes[0], device)
    say(
        f"{step + 5}. Backup code {codes[0]}: {first}; the same code again: "
        f"{again} (MFA-2)."
    )


def _next_code(app: pyotp.TOTP, confirmed_at: datetime) -> str:
    """The code of the step after the confirmed one, as the app shows it next."""
    return app.at(confirmed_at.timestamp() + STEP_S)


def _attempt(
    accounts: Accounts, login: str, password: str, code: str, device: str
) -> str:
    """A sign-in with ``code``: its outcome, or "refused"."""
    try:
        result = accounts.login(
            login, password, ip=IP, user_agent=AGENT, device_token=device, code=code
        )
    except NotPermitted:
        return "refused"
    return str(result.outcome)
