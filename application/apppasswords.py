"""Application passwords (MFA-4): one per sync tool, shown once, revoked one by one.

Once two-step verification is on, an IMAP/SMTP/CalDAV client cannot answer a second
factor, so it logs in with a generated password of its own. The password is found by a
keyed digest (its credential row's id is derived from it), not by trying every stored
hash: one row read per login, whatever the number of app passwords. The row holds a
salted hash as well, checked before the login is accepted (MFA-5: nothing readable).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from uuid import UUID, uuid4, uuid5

from attrs import frozen

from application.credentials import staged_secret
from application.log import MailHostLog
from application.ports import Clock, CredentialStore, Fingerprints, PasswordHasher
from application.secondfactor import opened
from domain.errors import InvalidInput
from domain.ids import two_step_id
from domain.twostep import TwoStep

APP_NAMESPACE = UUID("5d7c2a90-41e3-5b6f-8a12-c3e9f0b4d621")
ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no l, o, 0, 1: read aloud safely
LENGTH = 20  # 100 bits
GROUP = 4
MAX_PASSWORD = 64


@frozen
class CreatedAppPassword:
    app_id: UUID
    name: str
    # Shown once; only its digest and hash are stored.
    password: str


@frozen
class AppPasswordView:
    app_id: UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None
    last_protocol: str | None


def generate() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i : i + GROUP] for i in range(0, LENGTH, GROUP))


def normalised(password: str) -> str | None:
    """The password as generated (case and separators forgiven), or None."""
    if len(password) > MAX_PASSWORD or not password.isascii():
        return None
    plain = password.replace("-", "").replace(" ", "").lower()
    if len(plain) != LENGTH or any(c not in ALPHABET for c in plain):
        return None
    return plain


@frozen
class AppPasswords:
    log: MailHostLog
    credentials: CredentialStore
    hasher: PasswordHasher
    fingerprints: Fingerprints
    clock: Clock

    def row(self, account_id: UUID, plain: str) -> UUID:
        digest = self.fingerprints.digest(f"app-password:{account_id}:{plain}")
        return uuid5(APP_NAMESPACE, digest)

    def create(self, account_id: UUID, name: str) -> CreatedAppPassword:
        password = generate()
        plain = normalised(password)
        if plain is None:  # pragma: no cover - generate() makes only valid ones
            raise InvalidInput("generated app password is malformed")
        app_id = uuid4()
        credential_id = self.row(account_id, plain)
        encoded = self.hasher.hash_generated(plain)
        owner = opened(self.log, account_id, self.clock)
        with staged_secret(self.credentials, credential_id, encoded, owner=owner):
            two_step = self.log.update(
                owner,
                TwoStep,
                "two-step",
                lambda t: t.create_app_password(
                    app_id, name, credential_id, at=self.clock.now()
                ),
            )
        del two_step
        shown = self.log.load(owner, TwoStep, "two-step").app_password(app_id).name
        return CreatedAppPassword(app_id, shown, password)

    def list(self, account_id: UUID) -> list[AppPasswordView]:
        two_step = self.log.find(two_step_id(account_id), TwoStep)
        if two_step is None:
            return []
        return sorted(
            (
                AppPasswordView(
                    a.app_id, a.name, a.created_at, a.last_used_at, a.last_protocol
                )
                for a in two_step.app_passwords
            ),
            key=lambda v: (v.created_at, str(v.app_id)),
        )

    def revoke(self, account_id: UUID, app_id: UUID) -> None:
        owner = two_step_id(account_id)
        credential_id = self.log.update(
            owner, TwoStep, "two-step", lambda t: _revoke(t, app_id, self.clock.now())
        )
        self.credentials.forget_secret(credential_id)

    def revoke_all(self, account_id: UUID, reason: str) -> None:
        """SEC-4: a new account password ends every sync tool's access."""
        owner = two_step_id(account_id)
        two_step = self.log.find(owner, TwoStep)
        if two_step is None or not two_step.app_passwords:
            return
        rows = [a.credential_id for a in two_step.app_passwords]

        def decide(t: TwoStep) -> None:
            if t.app_passwords:
                t.revoke_all_app_passwords(reason, at=self.clock.now())

        self.log.update(owner, TwoStep, "two-step", decide)
        for row in rows:
            self.credentials.forget_secret(row)

    def check(self, account_id: UUID, password: str, protocol: str) -> bool:
        """Whether ``password`` is a live app password of the account; records its use."""
        plain = normalised(password)
        if plain is None:
            return False
        credential_id = self.row(account_id, plain)
        encoded = self.credentials.secret(credential_id)
        if encoded is None or not self.hasher.verify(encoded, plain):
            return False
        owner = two_step_id(account_id)
        two_step = self.log.find(owner, TwoStep)
        if two_step is None:
            return False
        app = next(
            (a for a in two_step.app_passwords if a.credential_id == credential_id),
            None,
        )
        if app is None:
            return False
        self.log.update(
            owner,
            TwoStep,
            "two-step",
            lambda t: t.record_app_password_use(
                app.app_id, protocol, at=self.clock.now()
            ),
        )
        return True


def _revoke(two_step: TwoStep, app_id: UUID, at: datetime) -> UUID:
    app = two_step.passwords.get(app_id)
    if app is None:
        raise InvalidInput(f"app password {app_id} does not exist")
    two_step.revoke_app_password(app_id, at=at)
    return app.credential_id
