"""Where an import reads from: checked fields, plaintext only to loopback, presets (IMP-6)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidInput
from domain.importsource import (
    GOOGLE,
    MICROSOFT,
    PRESETS,
    ImportSource,
    Security,
    is_loopback,
    needs_oauth,
    preset,
    preset_for,
)


def test_a_source_is_normalised() -> None:
    source = ImportSource.of(" IMAP.Example.COM. ", "993", "TLS", " ann@example.com ")
    assert source == ImportSource(
        "imap.example.com", 993, Security.TLS, "ann@example.com"
    )


@pytest.mark.parametrize(
    ("security", "port"), [("tls", 993), ("starttls", 143), ("none", 143)]
)
def test_no_port_is_the_default_port_of_the_security(security: str, port: int) -> None:
    assert ImportSource.of("127.0.0.1", None, security, "u").port == port


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("[::1]", "::1"),
        ("192.0.2.7", "192.0.2.7"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("localhost", "localhost"),
        ("mail-1.example.org", "mail-1.example.org"),
    ],
)
def test_hosts_names_and_ip_literals(host: str, expected: str) -> None:
    assert ImportSource.of(host, 993, "tls", "u").host == expected


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        (("", 993, "tls", "u"), "host"),
        (("a..b", 993, "tls", "u"), "host"),
        (("-a.example", 993, "tls", "u"), "host"),
        (("a b.example", 993, "tls", "u"), "host"),
        (("1.2.3.999", 993, "tls", "u"), "host"),
        (("x" * 64 + ".example", 993, "tls", "u"), "host"),
        (("h.exa\x00mple", 993, "tls", "u"), "host"),
        (("h.example", 0, "tls", "u"), "port"),
        (("h.example", 65536, "tls", "u"), "port"),
        (("h.example", "99x", "tls", "u"), "port"),
        (("h.example", "", "tls", "u"), "port"),
        (("h.example", "١٢٣", "tls", "u"), "port"),
        (("h.example", True, "tls", "u"), "port"),
        (("h.example", 993, "ssl", "u"), "security"),
        (("h.example", 993, "", "u"), "security"),
        (("h.example", 993, "tls", ""), "user"),
        (("h.example", 993, "tls", "   "), "user"),
        (("h.example", 993, "tls", "ann\nx"), "user"),
        (("h.example", 993, "tls", "x" * 321), "user"),
    ],
)
def test_bad_input_names_the_field(fields: tuple[object, ...], named: str) -> None:
    with pytest.raises(InvalidInput, match=f"^{named} "):
        ImportSource.of(*fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]
)
def test_plaintext_to_loopback_is_allowed(host: str) -> None:
    assert is_loopback(host)
    assert ImportSource.of(host, 143, "none", "u").security is Security.NONE


def test_plaintext_elsewhere_needs_insecure() -> None:
    with pytest.raises(InvalidInput, match=r"^security none"):
        ImportSource.of("imap.example.com", 143, "none", "u")
    source = ImportSource.of("imap.example.com", 143, "none", "u", insecure=True)
    assert source.insecure


def test_a_host_that_only_looks_local_is_not_loopback() -> None:
    assert not is_loopback("localhost.example.com")
    # A resolver need not map .localhost names to loopback: the adapter would then
    # send a password in clear to wherever the name points.
    assert not is_loopback("mail.localhost")
    assert not is_loopback("10.0.0.1")
    with pytest.raises(InvalidInput):
        ImportSource.of("127.0.0.1.example.com", 143, "none", "u")


def test_a_ca_file_for_a_private_ca() -> None:
    source = ImportSource.of("h.example", 993, "tls", "u", ca_file="/etc/ca.pem")
    assert source.ca_file == "/etc/ca.pem"
    with pytest.raises(InvalidInput, match=r"^ca_file"):
        ImportSource.of("127.0.0.1", 143, "none", "u", ca_file="/etc/ca.pem")
    with pytest.raises(InvalidInput, match=r"^ca_file"):
        ImportSource.of("h.example", 993, "tls", "u", ca_file=" ")


@given(st.text(max_size=30))
def test_any_host_text_is_accepted_or_refused_naming_the_host(text: str) -> None:
    try:
        source: ImportSource | None = ImportSource.of(text, 993, "tls", "u")
    except InvalidInput as e:
        source, refusal = None, str(e)
    if source is None:
        assert refusal.startswith("host ")
    else:
        assert source.host == source.host.strip().lower()
        assert source.host


# -- presets (IMP-6) and providers needing OAuth (IMP-8) ----------------------------


@pytest.mark.parametrize(
    "name", ["outlook", "yahoo", "icloud", "gmx", "aol", "fastmail", "zoho", "gmail"]
)
def test_common_providers_have_presets(name: str) -> None:
    # rule IMP-6
    found = preset(name.upper())
    assert found is PRESETS[name]
    source = found.source("someone@example.com")
    assert source.security is Security.TLS
    assert source.port == 993


def test_an_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match=r"known presets: .*yahoo"):
        preset("nope")


def test_a_preset_for_an_address() -> None:
    assert preset_for("Ann@GMX.de") is PRESETS["gmx"]
    assert preset_for("ann@me.com") is PRESETS["icloud"]
    assert preset_for("ann@example.com") is None
    assert preset_for("no address") is None


@pytest.mark.parametrize(
    ("host", "user", "provider"),
    [
        ("imap.gmail.com", "x", GOOGLE),
        ("IMAP.GoogleMail.com.", "x", GOOGLE),
        ("mail.example.com", "ann@gmail.com", GOOGLE),
        ("mail.example.com", "ann@googlemail.com", GOOGLE),
        ("outlook.office365.com", "x", MICROSOFT),
        ("imap-mail.outlook.com", "x", MICROSOFT),
        ("mail.example.com", "ann@Outlook.com", MICROSOFT),
        ("mail.example.com", "ann@hotmail.com", MICROSOFT),
        ("mail.example.com", "ann@live.com", MICROSOFT),
        ("imap.mail.yahoo.com", "ann@yahoo.com", None),
        ("imap.example.com", "ann@example.com", None),
    ],
)
def test_providers_that_refuse_passwords(
    host: str, user: str, provider: str | None
) -> None:
    # rule IMP-8: Google (and Microsoft 365) need XOAUTH2
    assert needs_oauth(host, user) == provider
    assert ImportSource.of(host, 993, "tls", user).oauth_provider == provider
