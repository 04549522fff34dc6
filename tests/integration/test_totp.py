"""TOTP through the real pyotp: which step a code belongs to, drift, malformed codes,
time zones, and the provisioning URI an authenticator app reads (rule MFA-3)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidInput
from infrastructure.totp import STEP_SECONDS, PyotpTotp, is_totp_code, step_start

TOTP = PyotpTotp()
SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
AT = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)
STEP = int(AT.timestamp()) // STEP_SECONDS


def code_for(step: int, seed: str = SEED) -> str:
    return pyotp.TOTP(seed).at(step * STEP_SECONDS)


def test_rfc6238_vector_through_the_adapter() -> None:
    # RFC 6238 appendix B, SHA-1, T = 59 s: 94287082 -> its last six digits.
    rfc_seed = base64.b32encode(b"12345678901234567890").decode()
    at = datetime.fromtimestamp(59, UTC)
    assert TOTP.matching_step(rfc_seed, "287082", at, 0) == 1


def test_the_current_code_gives_the_current_step() -> None:
    # rule MFA-3: the step, not the code, is what the aggregate records.
    assert TOTP.matching_step(SEED, code_for(STEP), AT, 1) == STEP


def test_one_step_of_drift_either_way_and_no_more() -> None:
    assert TOTP.matching_step(SEED, code_for(STEP - 1), AT, 1) == STEP - 1
    assert TOTP.matching_step(SEED, code_for(STEP + 1), AT, 1) == STEP + 1
    assert TOTP.matching_step(SEED, code_for(STEP - 2), AT, 1) is None
    assert TOTP.matching_step(SEED, code_for(STEP + 2), AT, 1) is None
    assert TOTP.matching_step(SEED, code_for(STEP - 1), AT, 0) is None


def test_step_boundaries() -> None:
    start = step_start(STEP)
    assert TOTP.matching_step(SEED, code_for(STEP), start, 0) == STEP
    last = start + timedelta(seconds=STEP_SECONDS - 1, microseconds=999_999)
    assert TOTP.matching_step(SEED, code_for(STEP), last, 0) == STEP
    after = start + timedelta(seconds=STEP_SECONDS)
    assert TOTP.matching_step(SEED, code_for(STEP), after, 0) is None


def test_another_seed_code_is_refused() -> None:
    other = TOTP.new_seed()
    assert TOTP.matching_step(SEED, code_for(STEP, other), AT, 1) is None


@pytest.mark.parametrize(
    "code",
    [
        "",
        "12345",
        "1234567",
        " 123456",
        "12345a",
        "١٢٣٤٥٦",  # Arabic-Indic digits: isdigit() is true for them
        "¹²³⁴⁵⁶",  # superscripts, also isdigit()
        "123 456",
        "+12345",
    ],
)
def test_malformed_codes_are_none_not_errors(code: str) -> None:
    assert not is_totp_code(code)
    assert TOTP.matching_step(SEED, code, AT, 1) is None


def test_an_aware_time_in_another_zone_is_the_same_instant() -> None:
    geneva = AT.astimezone(timezone(timedelta(hours=1)))
    assert TOTP.matching_step(SEED, code_for(STEP), geneva, 0) == STEP


def test_naive_times_are_refused() -> None:
    # pyotp reads a naive datetime as local time: the adapter never lets one through.
    with pytest.raises(ValueError, match="aware"):
        TOTP.matching_step(SEED, code_for(STEP), AT.replace(tzinfo=None), 0)


def test_the_result_does_not_depend_on_the_process_time_zone() -> None:
    # A child process with TZ far from UTC finds the same step for the same instant.
    script = (
        "from datetime import datetime;"
        "from infrastructure.totp import PyotpTotp;"
        f"print(PyotpTotp().matching_step({SEED!r}, {code_for(STEP)!r}, "
        f"datetime.fromisoformat({AT.isoformat()!r}), 0))"
    )
    env = {**os.environ, "TZ": "Pacific/Kiritimati"}
    out = subprocess.check_output([sys.executable, "-c", script], env=env, text=True)
    assert out.strip() == str(STEP)


def test_drift_is_bounded() -> None:
    with pytest.raises(ValueError, match="drift"):
        TOTP.matching_step(SEED, "123456", AT, 11)
    with pytest.raises(ValueError, match="drift"):
        TOTP.matching_step(SEED, "123456", AT, -1)


def test_new_seeds_are_160_bit_base32_and_distinct() -> None:
    seeds = {TOTP.new_seed() for _ in range(50)}
    assert len(seeds) == 50
    for seed in seeds:
        assert len(seed) == 32
        assert len(base64.b32decode(seed)) == 20


def test_a_short_or_broken_seed_is_refused() -> None:
    with pytest.raises(InvalidInput, match="160 bits"):
        TOTP.matching_step("JBSWY3DPEHPK3PXP", "123456", AT, 0)
    with pytest.raises(InvalidInput, match="base32"):
        TOTP.matching_step("not base32 at all!", "123456", AT, 0)


def test_provisioning_uri_follows_the_key_uri_format() -> None:
    uri = TOTP.provisioning_uri(SEED, "alice@example.org", "Example Mail")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert unquote(parts.path) == "/Example Mail:alice@example.org"
    query = parse_qs(parts.query)
    assert query["secret"] == [SEED]
    assert query["issuer"] == ["Example Mail"]
    # pyotp itself reads it back to the same generator an app would build.
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert parsed.at(AT) == code_for(STEP)
    assert (parsed.interval, parsed.digits) == (30, 6)


@pytest.mark.parametrize(
    ("account", "issuer"), [("a:b", "X"), ("a", "X:Y"), ("a", " ")]
)
def test_provisioning_uri_refuses_ambiguous_labels(account: str, issuer: str) -> None:
    with pytest.raises(InvalidInput):
        TOTP.provisioning_uri(SEED, account, issuer)


@given(st.integers(min_value=1, max_value=8_000_000_000))
def test_any_step_code_matches_exactly_its_step(step: int) -> None:
    at = step_start(step) + timedelta(seconds=7)
    assert TOTP.matching_step(SEED, code_for(step), at, 1) == step
