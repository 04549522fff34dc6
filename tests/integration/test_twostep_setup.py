"""The two-step adapters from MAILHOST_* variables: defaults, gateways, refusals naming
the variable and never echoing a key."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from infrastructure.pushgateway import HttpPushGateway, OutboxPushGateway
from infrastructure.secrets import SecretKey
from infrastructure.securitykeys import WebAuthnSecurityKeys
from infrastructure.settings import ConfigurationError, Settings
from infrastructure.smsgateway import HttpSmsGateway, OutboxSmsGateway
from infrastructure.twostepsetup import two_step_adapters

KEY_HEX = secrets.token_hex(32)


def build(tmp_path: Path, **env: str) -> object:
    settings = Settings.from_env(env, home=tmp_path)
    return two_step_adapters(settings, SecretKey(b"k" * 32))


def test_defaults_are_embedded(tmp_path: Path) -> None:
    settings = Settings.from_env({}, home=tmp_path)
    adapters = two_step_adapters(settings, SecretKey(b"k" * 32))
    assert isinstance(adapters.push, OutboxPushGateway)
    assert isinstance(adapters.sms, OutboxSmsGateway)
    assert adapters.push.path == tmp_path / "outbox" / "push.jsonl"
    assert isinstance(adapters.keys, WebAuthnSecurityKeys)
    assert (adapters.rp_id, adapters.origins) == ("localhost", ("https://localhost",))
    assert adapters.issuer == "Mailhost"
    sealed = adapters.sealer.seal(b"seed", context="f")
    assert adapters.sealer.unseal(sealed, context="f") == b"seed"


def test_configured_gateways_and_relying_party(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "MAILHOST_TOTP_ISSUER": "Example Mail",
            "MAILHOST_WEBAUTHN_RP_ID": "example.org",
            "MAILHOST_WEBAUTHN_ORIGINS": "https://mail.example.org, https://example.org/",
            "MAILHOST_PUSH_GATEWAY_URL": "https://push.example.org/v1",
            "MAILHOST_PUSH_GATEWAY_KEY": KEY_HEX,
            "MAILHOST_SMS_GATEWAY_URL": "https://sms.example.org/v1",
            "MAILHOST_SMS_GATEWAY_KEY": KEY_HEX,
            "MAILHOST_GATEWAY_TIMEOUT": "5",
        },
        home=tmp_path,
    )
    adapters = two_step_adapters(settings, SecretKey(b"k" * 32))
    assert isinstance(adapters.push, HttpPushGateway)
    assert isinstance(adapters.sms, HttpSmsGateway)
    assert adapters.origins == ("https://mail.example.org", "https://example.org")
    assert adapters.issuer == "Example Mail"
    assert isinstance(adapters.keys, WebAuthnSecurityKeys)
    assert adapters.keys.rp_name == "Example Mail"
    assert KEY_HEX not in repr(adapters)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"MAILHOST_PUSH_GATEWAY_URL": "https://push.example.org/"}, "KEY"),
        ({"MAILHOST_SMS_GATEWAY_KEY": KEY_HEX}, "MAILHOST_SMS_GATEWAY_KEY"),
        (
            {
                "MAILHOST_SMS_GATEWAY_URL": "https://s.example/",
                "MAILHOST_SMS_GATEWAY_KEY": "ab",
            },
            "MAILHOST_SMS_GATEWAY_KEY",
        ),
        (
            {
                "MAILHOST_PUSH_GATEWAY_URL": "http://push.example.org/",
                "MAILHOST_PUSH_GATEWAY_KEY": KEY_HEX,
            },
            "MAILHOST_PUSH_GATEWAY_URL",
        ),
        ({"MAILHOST_WEBAUTHN_RP_ID": "https://example.org"}, "MAILHOST_WEBAUTHN_RP_ID"),
        (
            {
                "MAILHOST_WEBAUTHN_RP_ID": "example.org",
                "MAILHOST_WEBAUTHN_ORIGINS": "https://evil.net",
            },
            "MAILHOST_WEBAUTHN_ORIGINS",
        ),
        (
            {
                "MAILHOST_WEBAUTHN_RP_ID": "example.org",
                "MAILHOST_WEBAUTHN_ORIGINS": "http://example.org",
            },
            "MAILHOST_WEBAUTHN_ORIGINS",
        ),
        (
            {"MAILHOST_WEBAUTHN_ORIGINS": "https://localhost/path"},
            "MAILHOST_WEBAUTHN_ORIGINS",
        ),
        ({"MAILHOST_TOTP_ISSUER": "a:b"}, "MAILHOST_TOTP_ISSUER"),
        ({"MAILHOST_GATEWAY_TIMEOUT": "inf"}, "MAILHOST_GATEWAY_TIMEOUT"),
        ({"MAILHOST_GATEWAY_TIMEOUT": "0"}, "MAILHOST_GATEWAY_TIMEOUT"),
    ],
)
def test_bad_values_name_their_variable(
    tmp_path: Path, env: dict[str, str], variable: str
) -> None:
    with pytest.raises(ConfigurationError, match=variable) as caught:
        build(tmp_path, **env)
    assert KEY_HEX not in str(caught.value)


def test_http_origins_only_on_localhost(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"MAILHOST_WEBAUTHN_ORIGINS": "http://localhost:8080"}, home=tmp_path
    )
    adapters = two_step_adapters(settings, SecretKey(b"k" * 32))
    assert adapters.origins == ("http://localhost:8080",)
