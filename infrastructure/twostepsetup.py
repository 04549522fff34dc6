"""The two-step adapters built from configuration (``MAILHOST_*`` variables).

Read at start-up, checked with the variable named in every refusal; the gateway keys are
never echoed. Unset gateways mean the embedded outbox files (``push.jsonl``,
``sms.jsonl`` in the outbox), as unset ``MAILHOST_SMTP_URL`` means ``.eml`` files.

- ``MAILHOST_TOTP_ISSUER`` (``Mailhost``): the provider's name in authenticator apps.
- ``MAILHOST_WEBAUTHN_RP_ID`` (``localhost``): the site's domain, bound into every key.
- ``MAILHOST_WEBAUTHN_RP_NAME`` (the issuer): the name browsers show.
- ``MAILHOST_WEBAUTHN_ORIGINS`` (``https://`` + RP id): comma-separated exact origins.
- ``MAILHOST_PUSH_GATEWAY_URL`` / ``MAILHOST_PUSH_GATEWAY_KEY`` (hex, >= 32 bytes).
- ``MAILHOST_SMS_GATEWAY_URL`` / ``MAILHOST_SMS_GATEWAY_KEY`` (hex, >= 32 bytes).
- ``MAILHOST_GATEWAY_TIMEOUT`` (10 seconds).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from application.ports import Fingerprints
from application.twostepports import PushGateway, SmsGateway, TwoStepAdapters
from infrastructure.backupcodes import KeyedBackupCodes
from infrastructure.gateways import DEFAULT_TIMEOUT_S, MIN_KEY_BYTES
from infrastructure.pushgateway import HttpPushGateway, OutboxPushGateway
from infrastructure.sealing import AesGcmSealer
from infrastructure.securitykeys import WebAuthnSecurityKeys
from infrastructure.settings import ConfigurationError, Settings, positive_number
from infrastructure.smsgateway import HttpSmsGateway, OutboxSmsGateway
from infrastructure.totp import PyotpTotp

ISSUER = "MAILHOST_TOTP_ISSUER"
RP_ID = "MAILHOST_WEBAUTHN_RP_ID"
RP_NAME = "MAILHOST_WEBAUTHN_RP_NAME"
ORIGINS = "MAILHOST_WEBAUTHN_ORIGINS"
PUSH_URL, PUSH_KEY = "MAILHOST_PUSH_GATEWAY_URL", "MAILHOST_PUSH_GATEWAY_KEY"
SMS_URL, SMS_KEY = "MAILHOST_SMS_GATEWAY_URL", "MAILHOST_SMS_GATEWAY_KEY"
TIMEOUT = "MAILHOST_GATEWAY_TIMEOUT"
MAX_TIMEOUT_S = 300.0

G = TypeVar("G")


def two_step_adapters(
    settings: Settings, fingerprints: Fingerprints
) -> TwoStepAdapters:
    env = settings.env
    issuer = _name(env, ISSUER, "Mailhost")
    rp_id = _rp_id(env)
    origins = _origins(env, rp_id)
    timeout = _timeout(env)
    push: PushGateway = _chosen(
        settings,
        PUSH_URL,
        PUSH_KEY,
        timeout,
        http=HttpPushGateway,
        outbox=OutboxPushGateway,
    )
    sms: SmsGateway = _chosen(
        settings,
        SMS_URL,
        SMS_KEY,
        timeout,
        http=HttpSmsGateway,
        outbox=OutboxSmsGateway,
    )
    return TwoStepAdapters(
        totp=PyotpTotp(),
        backup_codes=KeyedBackupCodes(fingerprints),
        sealer=AesGcmSealer.derived_from(fingerprints),
        keys=WebAuthnSecurityKeys(rp_id, _name(env, RP_NAME, issuer)),
        push=push,
        sms=sms,
        rp_id=rp_id,
        origins=origins,
        issuer=issuer,
    )


def _name(env: Mapping[str, str], variable: str, default: str) -> str:
    raw = (env.get(variable) or default).strip()
    if ":" in raw or not raw.isprintable() or len(raw) > 64:  # noqa: PLR2004 - a label
        raise ConfigurationError(
            f"{variable} must be a short printable name without a colon"
        )
    return raw


def _rp_id(env: Mapping[str, str]) -> str:
    """A bare domain (no scheme, port or path), as WebAuthn binds keys to it."""
    raw = (env.get(RP_ID) or "localhost").strip().lower().rstrip(".")
    labels = raw.split(".")
    if not raw or any(
        not label
        or not all(c.isalnum() or c == "-" for c in label)
        or not label.isascii()
        for label in labels
    ):
        raise ConfigurationError(f"{RP_ID} must be a domain such as mail.example.org")
    return raw


def _origins(env: Mapping[str, str], rp_id: str) -> tuple[str, ...]:
    """Exact origins on the RP id or below it; https, or http only on localhost."""
    raw = env.get(ORIGINS) or f"https://{rp_id}"
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    if not origins:
        raise ConfigurationError(f"{ORIGINS} must list at least one origin")
    for origin in origins:
        try:
            parts = urlsplit(origin)
            _port = parts.port
        except ValueError:
            raise ConfigurationError(
                f"{ORIGINS}: {origin!r} is not an origin"
            ) from None
        host = parts.hostname or ""
        if parts.path or parts.query or parts.fragment or parts.username:
            raise ConfigurationError(
                f"{ORIGINS}: {origin!r} must be scheme://host[:port] only"
            )
        if parts.scheme != "https" and not (
            parts.scheme == "http" and host == "localhost"
        ):
            raise ConfigurationError(
                f"{ORIGINS}: {origin!r} must be https (http only for localhost)"
            )
        if host != rp_id and not host.endswith("." + rp_id):
            raise ConfigurationError(
                f"{ORIGINS}: {origin!r} is not on {RP_ID} {rp_id!r} or below it"
            )
    return origins


def _gateway(env: Mapping[str, str], url_name: str, key_name: str) -> tuple[str, bytes]:
    url = (env.get(url_name) or "").strip()
    hex_key = (env.get(key_name) or "").strip()
    if not url:
        if hex_key:
            raise ConfigurationError(f"{key_name} is set but {url_name} is not")
        return "", b""
    if not hex_key:
        raise ConfigurationError(f"{url_name} is set but {key_name} is not")
    try:
        key = bytes.fromhex(hex_key)
    except ValueError:
        raise ConfigurationError(f"{key_name} is not a hex string") from None
    if len(key) < MIN_KEY_BYTES:
        raise ConfigurationError(f"{key_name} must have at least {MIN_KEY_BYTES} bytes")
    return url, key


def _chosen(
    settings: Settings,
    url_name: str,
    key_name: str,
    timeout: float,
    *,
    http: Callable[[str, bytes, float], G],
    outbox: Callable[[Path], G],
) -> G:
    """The HTTP gateway where its URL is configured, else the outbox file."""
    url, key = _gateway(settings.env, url_name, key_name)
    try:
        return http(url, key, timeout) if url else outbox(settings.outbox)
    except ValueError as e:
        raise ConfigurationError(f"{url_name}: {e}") from None


def _timeout(env: Mapping[str, str]) -> float:
    return positive_number(env, TIMEOUT, DEFAULT_TIMEOUT_S, MAX_TIMEOUT_S)
