"""The ports of two-step verification (MFA-1): what a real provider plugs in.

TOTP, backup codes, security keys (WebAuthn), push and SMS each sit behind a Protocol,
so the use cases in ``application.twostep*`` never import pyotp, py_webauthn or an
HTTP client; ``infrastructure/`` holds the adapters (``totp``, ``backupcodes``,
``securitykeys``, ``pushgateway``, ``smsgateway``) and ``MailHost.assemble`` takes any
object with these methods (``twostep=TwoStepAdapters(...)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from attrs import field, frozen

from application.ports import Sealer
from domain.twostepfacts import TwoStepPolicy


class TotpVerifier(Protocol):
    def new_seed(self) -> str:
        """A fresh random seed (base32), shown once in the provisioning URI."""
        ...

    def provisioning_uri(self, seed: str, account_name: str, issuer: str) -> str: ...

    def matching_step(
        self, seed: str, code: str, at: datetime, drift: int
    ) -> int | None:
        """The time step ``code`` belongs to within +-``drift`` steps, or None.

        A malformed code is None too: the caller refuses it like a wrong one.
        """
        ...


class BackupCodes(Protocol):
    def generate(self, n: int) -> list[str]:
        """``n`` codes of >= 112 random bits each, in groups a person can type."""
        ...

    def digest(self, code: str) -> str:
        """A keyed digest: what the credential store keeps (MFA-5)."""
        ...

    def matches(self, code: str, digest: str) -> bool:
        """Constant time; False for a malformed code, never an exception."""
        ...


@frozen
class RegisteredKey:
    """What a verified WebAuthn registration leaves: the public half only.

    A login is checked against it as last stored (its count the one to beat).
    """

    credential_id_b64: str
    public_key_b64: str
    sign_count: int


class KeyRefused(ValueError):  # noqa: N818 - reads as what happened
    """A WebAuthn response the server does not accept; ``reason`` names why.

    Reasons include ``clone_suspected`` (the signature counter did not increase),
    ``wrong_origin`` and ``wrong_challenge``.
    """

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or f"security key refused: {reason.replace('_', ' ')}")
        self.reason = reason


class SecurityKeys(Protocol):
    def registration_options(
        self,
        user_id: bytes,
        user_name: str,
        challenge: bytes,
        exclude: Sequence[str],
    ) -> dict[str, Any]: ...

    def verify_registration(
        self,
        response_json: str,
        challenge: bytes,
        origins: Sequence[str],
        rp_id: str,
    ) -> RegisteredKey:
        """The registered key, or ``KeyRefused``."""
        ...

    def authentication_options(
        self, challenge: bytes, allow: Sequence[str]
    ) -> dict[str, Any]: ...

    def verify_authentication(
        self,
        response_json: str,
        challenge: bytes,
        origins: Sequence[str],
        rp_id: str,
        key: RegisteredKey,
    ) -> int:
        """The authenticator's new signature count, or ``KeyRefused``."""
        ...


class PushGateway(Protocol):
    def send(self, device_label: str, challenge_id: str, text: str) -> None:
        """Hand a push challenge to the provider's app; returning means accepted.

        No number: the sign-in page shows it and the user types it on the device
        (number matching is worth nothing if the push tells the device the answer).
        """
        ...


class SmsGateway(Protocol):
    def send(self, e164: str, text: str) -> None:
        """Hand a text message to the SMS provider; returning means accepted."""
        ...


@frozen
class TwoStepAdapters:
    """The two-step adapters and where security keys may be used.

    ``rp_id`` is the WebAuthn relying party (the site's domain) and ``origins`` the
    exact origins a browser may report; ``issuer`` names the provider in TOTP apps.
    """

    totp: TotpVerifier
    backup_codes: BackupCodes
    # Seals TOTP seeds and SMS codes at rest with the engine's key (bound to their ids).
    sealer: Sealer
    keys: SecurityKeys | None = None
    push: PushGateway | None = None
    sms: SmsGateway | None = None
    rp_id: str = "localhost"
    origins: tuple[str, ...] = ("https://localhost",)
    issuer: str = "Mail"
    policy: TwoStepPolicy = field(factory=TwoStepPolicy)
