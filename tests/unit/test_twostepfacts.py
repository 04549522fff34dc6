"""The values and rules of two-step verification: time steps, the policy's bounds, the
SMS country rule (MFA-1) and the challenges kept for the rate limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidInput
from domain.twostepfacts import (
    MAX_KEPT_CHALLENGES,
    SMS_REGIONS,
    Challenge,
    ChallengeKind,
    TwoStepPolicy,
    issued_within,
    kept_challenges,
    sms_allowed,
    sms_number,
    totp_step,
)
from tests.strategies import SMS_EXAMPLES, sms_examples, utc_datetimes


@given(at=utc_datetimes())
def test_the_time_step_is_the_unix_time_floored_to_30_seconds(at: datetime) -> None:
    # rule MFA-3 (RFC 6238: T = floor((unix - T0) / X), X = 30 s)
    step = totp_step(at)
    assert step == int(at.timestamp()) // 30
    start = datetime.fromtimestamp(step * 30, UTC)
    assert start <= at < start + timedelta(seconds=30)


@given(at=utc_datetimes(), seconds=st.integers(1, 300))
def test_the_time_step_follows_the_policy(at: datetime, seconds: int) -> None:
    policy = TwoStepPolicy(totp_step=timedelta(seconds=seconds))
    assert totp_step(at, policy) == int(at.timestamp()) // seconds


def test_a_time_step_in_another_zone_is_the_same_instant_and_a_naive_one_is_refused() -> (
    None
):
    at = datetime(2025, 3, 1, 12, 0, 15, tzinfo=UTC)
    zurich = at.astimezone(timezone(timedelta(hours=1)))
    assert totp_step(zurich) == totp_step(at)
    with pytest.raises(InvalidInput, match="time zone"):
        totp_step(at.replace(tzinfo=None))


def test_the_documented_defaults() -> None:
    p = TwoStepPolicy()
    assert p.totp_step == timedelta(seconds=30)
    assert p.totp_drift_steps == 1
    assert (p.max_failures, p.lock) == (5, timedelta(minutes=15))
    assert (p.push_expiry, p.push_per_window, p.push_window) == (
        timedelta(seconds=60),
        3,
        timedelta(minutes=10),
    )
    assert (p.sms_expiry, p.sms_per_window, p.sms_window) == (
        timedelta(minutes=5),
        3,
        timedelta(hours=1),
    )
    assert p.backup_codes == 10
    assert p.reauth_window == p.challenge_expiry == timedelta(minutes=5)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("totp_step", timedelta(seconds=0), "totp_step"),
        ("totp_step", timedelta(seconds=30.5), "whole number"),
        ("totp_drift_steps", -1, "totp_drift_steps"),
        ("totp_drift_steps", 11, "totp_drift_steps"),
        ("max_failures", 0, "max_failures"),
        ("lock", timedelta(0), "lock must be positive"),
        ("push_per_window", MAX_KEPT_CHALLENGES + 1, "push_per_window"),
        ("push_window", timedelta(days=2), "push_window is over a day"),
        ("sms_window", timedelta(seconds=-1), "sms_window must be positive"),
        ("backup_codes", 0, "backup_codes"),
        ("reauth_window", timedelta(0), "reauth_window"),
    ],
)
def test_a_policy_out_of_bounds_is_refused_by_name(
    field: str, value: object, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        TwoStepPolicy(**{field: value})  # type: ignore[arg-type]


# -- SMS: CH, FR, BE, DE mobile numbers only (MFA-1) --------------------------------------


def test_the_table_covers_the_four_countries_and_their_look_alikes() -> None:
    regions = {region for _, region, _ in SMS_EXAMPLES}
    assert SMS_REGIONS | {"RE", "YT", "LI", "MC", "AT"} <= regions
    assert len({code for code, _, _ in SMS_EXAMPLES}) > 400


@given(example=sms_examples())
def test_sms_is_refused_for_every_region_and_kind_but_the_four_mobiles(
    example: tuple[str, str, bool],
) -> None:
    # rule MFA-1: the table over the calling codes 1..999, mobile vs fixed line
    e164, region, mobile = example
    allowed = region in SMS_REGIONS and mobile
    if allowed:
        sms_allowed(region, mobile)
        assert sms_number(e164) == e164
        return
    with pytest.raises(InvalidInput, match="MFA-1"):
        sms_allowed(region, mobile)
    with pytest.raises(InvalidInput, match="MFA-1"):
        sms_number(e164)


def test_every_row_of_the_table_gets_the_verdict_of_the_rule() -> None:
    # rule MFA-1: the whole table, not a sample
    verdicts = {}
    for e164, region, mobile in SMS_EXAMPLES:
        try:
            sms_number(e164)
        except InvalidInput:
            verdicts[e164] = False
        else:
            verdicts[e164] = True
        assert verdicts[e164] is (region in SMS_REGIONS and mobile), (e164, region)
    assert sum(verdicts.values()) == 4


@pytest.mark.parametrize(
    ("number", "named"),
    [
        ("+262692123456", "of RE"),  # Réunion, a French overseas region: not FR
        ("+262639012345", "of YT"),  # Mayotte
        ("+423660234567", "of LI"),  # Liechtenstein, next to CH: not CH
        ("+41212345678", "CH number is not a mobile"),
        ("+4930123456", "DE number is not a mobile"),
        ("+393123456789", "of IT"),
    ],
)
def test_look_alikes_are_refused_naming_the_rule_and_the_region(
    number: str, named: str
) -> None:
    # rule MFA-1
    assert named in _refusal(number, "MFA-1")


def _refusal(number: str, rule: str) -> str:
    """The message ``number`` is refused with; it must name ``rule``."""
    with pytest.raises(InvalidInput, match=rule) as refused:
        sms_number(number)
    return str(refused.value)


@pytest.mark.parametrize("typed", ["0781234567", "+41 78 123", "", "+999123", "abc"])
def test_a_number_that_is_no_valid_international_number_is_refused(typed: str) -> None:
    with pytest.raises(InvalidInput, match="SMS number"):
        sms_number(typed)


@pytest.mark.parametrize("typed", ["+41 78 123", "+999123", "0781234567"])
def test_an_invalid_number_is_refused_naming_the_rule(typed: str) -> None:
    # rule MFA-1: the refusal says which numbers do work
    with pytest.raises(InvalidInput) as refused:
        sms_number(typed)
    assert (
        "SMS codes go only to mobile numbers of CH, FR, BE or DE (rule MFA-1)"
        in str(refused.value)
    )


def test_a_number_typed_with_separators_is_kept_normalised() -> None:
    assert sms_number("+41 78 123 45 67") == "+41781234567"


# -- challenges kept ---------------------------------------------------------------------


def _challenge(n: int, kind: ChallengeKind, at: datetime) -> Challenge:
    return Challenge(UUID(int=n), kind, at, at + timedelta(minutes=1))


@given(
    start=utc_datetimes(),
    issued=st.lists(
        st.tuples(st.sampled_from(ChallengeKind), st.integers(0, 7200)), max_size=120
    ),
)
def test_the_challenges_kept_are_bounded_per_kind_and_hold_the_rate_window(
    start: datetime, issued: list[tuple[ChallengeKind, int]]
) -> None:
    kept: dict[UUID, Challenge] = {}
    history: list[Challenge] = []
    at = start
    for n, (kind, gap) in enumerate(issued):
        at += timedelta(seconds=gap)
        new = _challenge(n, kind, at)
        kept = kept_challenges(kept, new)
        history.append(new)
        assert new.challenge_id in kept
        for k in ChallengeKind:
            assert sum(c.kind is k for c in kept.values()) <= MAX_KEPT_CHALLENGES
            # Any window of up to a day counts what the whole history counts, up to
            # the largest limit a policy may set.
            window = timedelta(hours=1)
            full = sum(1 for c in history if c.kind is k and c.issued_at > at - window)
            counted = issued_within(kept, k, at, window)
            assert min(counted, MAX_KEPT_CHALLENGES) == min(full, MAX_KEPT_CHALLENGES)
