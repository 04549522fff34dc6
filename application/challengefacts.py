"""The facts around two-step challenges: row ids, stored shapes, refusals.

Split from ``application.challenges`` (the use cases) to keep each module short; the
names are imported from there too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from uuid import UUID, uuid5

from attrs import frozen

from application.secondfactor import SecondFactorRefused
from domain.errors import InvalidInput
from domain.twostep import TwoStep

CHALLENGE_NAMESPACE = UUID("a41f2b7e-9c3d-5e08-b6f1-0d2c4e6a8b13")
CHALLENGE_BYTES = 32  # WebAuthn asks for at least 16 random bytes
SMS_DIGITS = 6
MAX_RESPONSE = 64 * 1024


def sms_context(challenge_id: UUID) -> str:
    return f"mailhost/sms-code:{challenge_id}"


def key_row(challenge_id: UUID) -> UUID:
    """The credential row of a WebAuthn challenge's bytes, derived from its id."""
    return uuid5(CHALLENGE_NAMESPACE, f"key-challenge:{challenge_id}")


class SecurityKeyRefused(SecondFactorRefused):
    """A security key's response refused; ``reason`` names why (``clone_suspected``,
    ``wrong_origin``, ``wrong_challenge``...), as the SecurityKeys port does."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class WrongPushNumber(SecondFactorRefused):
    """The device approved with a number the sign-in page did not show."""

    def __init__(self) -> None:
        super().__init__(
            "the number does not match the one shown on the sign-in page: refused"
        )


def push_row(challenge_id: UUID) -> UUID:
    """The credential row that makes an approved push single use, derived from its id."""
    return uuid5(CHALLENGE_NAMESPACE, f"push-challenge:{challenge_id}")


def push_use(factor_id: UUID | None) -> str:
    """What a push may be used for: a sign-in, or confirming one device's factor."""
    return "sign-in" if factor_id is None else f"confirm:{factor_id}"


@frozen
class Issue:
    """A challenge ready to issue: the decision, and the rows stored before it is saved
    (``Challenges.issuing``); ``number`` is what the sign-in page shows for a push.

    Enrolment runs the decision in the same save as the new factor, so a refusal
    (the rate limit) leaves neither behind.
    """

    challenge_id: UUID
    decide: Callable[[TwoStep], None]
    rows: tuple[tuple[UUID, str], ...]
    number: int | None = None


@frozen
class StoredKey:
    """A registered key's public half, as its credential row holds it (JSON)."""

    credential_id_b64: str
    public_key_b64: str
    sign_count: int

    def encoded(self) -> str:
        return json.dumps(
            [self.credential_id_b64, self.public_key_b64, self.sign_count]
        )

    @classmethod
    def decoded(cls, raw: str) -> StoredKey:
        cid, key, count = json.loads(raw)
        return cls(str(cid), str(key), int(count))


def bounded_response(response_json: str) -> None:
    if not isinstance(response_json, str) or len(response_json) > MAX_RESPONSE:
        raise InvalidInput("the security-key response is malformed")


def response_id(response_json: str) -> str:
    try:
        data: Any = json.loads(response_json)
    except ValueError:
        raise InvalidInput("the security-key response is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise InvalidInput("the security-key response names no credential id")
    return str(data["id"])
