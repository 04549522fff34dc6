"""Security keys (YubiKey and any FIDO2 authenticator) through py_webauthn 3.x.

py_webauthn checks the challenge, the exact origin (from a list), the RP id hash, the
user-presence flag, the signature and the signature counter in one call. This adapter
builds the options the browser needs and turns every refusal into ``KeyRefused`` with a
*named* reason, so the application can tell a cloned key (to be mailed, rule MFA-1) from
a response made for another site or a stale challenge.

Two things the library does not do, and the application must: keep each challenge
single-use and expiring (an authenticator whose counter is always 0 skips the counter
check, so a replayed assertion with the same challenge verifies again), and store the
new counter atomically (compare-and-set) so two concurrent logins cannot both pass.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final
from uuid import UUID

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    options_to_json_dict,
    parse_authentication_credential_json,
    parse_authenticator_data,
)
from webauthn.helpers.exceptions import (
    InvalidAuthenticatorDataStructure,
    InvalidCBORData,
    InvalidJSONStructure,
    WebAuthnException,
)
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from application.twostepports import KeyRefused, RegisteredKey

MIN_CHALLENGE_BYTES: Final = 16
CEREMONY_TIMEOUT_MS: Final = 120_000
# The library's messages (py_webauthn 3.0.x), first match wins; the reasons are ours.
# tests/integration/test_securitykeys.py provokes each one, so a release that rewords
# a message fails there instead of silently becoming "invalid_response".
_REASONS: Final = (
    ("malformed", "invalid_response"),
    ("challenge was not expected", "wrong_challenge"),
    ("client data origin", "wrong_origin"),
    ("rp id hash", "wrong_rp_id"),
    ("not present", "user_not_present"),
    ("presence was required", "user_not_present"),
    ("sign count", "clone_suspected"),
    ("client data type", "wrong_ceremony"),
    ("signature", "bad_signature"),
    ("public key alg", "unsupported_algorithm"),
    ("attestation type", "bad_attestation"),
    ("attestation statement", "bad_attestation"),
)
EXPLAINED: Final = {
    "wrong_challenge": "the response answers another (or an expired) challenge",
    "wrong_origin": "the response was made on a site that is not this one",
    "wrong_rp_id": "the response was made for another relying party",
    "user_not_present": "the security key was not touched",
    "clone_suspected": "the key's signature counter went backwards: it may be cloned",
    "wrong_ceremony": "a registration was sent as a login, or the other way round",
    "bad_signature": "the response's signature does not verify",
    "unsupported_algorithm": "the key uses a signature algorithm not accepted here",
    "bad_attestation": "the key's attestation is not acceptable",
    "invalid_response": "the response is not a valid WebAuthn response",
}


def refused(reason: str) -> KeyRefused:
    """The port's refusal with our sentence for the reason (never the library's text,
    which echoes the origin the response claims)."""
    return KeyRefused(reason, EXPLAINED.get(reason, EXPLAINED["invalid_response"]))


class WebAuthnSecurityKeys:
    """The ``SecurityKeys`` port on py_webauthn, for one relying party."""

    def __init__(self, rp_id: str, rp_name: str) -> None:
        if not rp_id or not rp_name:
            raise ValueError("a WebAuthn relying party needs an id and a name")
        self.rp_id = rp_id
        self.rp_name = rp_name

    def __repr__(self) -> str:
        return f"WebAuthnSecurityKeys({self.rp_id!r})"

    def registration_options(
        self,
        user_id: UUID | bytes,
        user_name: str,
        challenge: bytes,
        exclude: Sequence[str] = (),
    ) -> dict[str, Any]:
        """``navigator.credentials.create`` options, bytes as base64url (JSON-ready).

        A second factor, not a passkey: no resident key (a YubiKey has few slots), user
        verification preferred (a PIN when the key has one), attestation "none" (the
        provider does not restrict key makers, and asking for more reveals the model).
        """
        _check_challenge(challenge)
        options = generate_registration_options(
            rp_id=self.rp_id,
            rp_name=self.rp_name,
            user_id=user_id.bytes if isinstance(user_id, UUID) else user_id,
            user_name=user_name,
            challenge=challenge,
            timeout=CEREMONY_TIMEOUT_MS,
            attestation=AttestationConveyancePreference.NONE,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.DISCOURAGED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
            exclude_credentials=_descriptors(exclude),
        )
        return options_to_json_dict(options)

    def authentication_options(
        self, challenge: bytes, allow: Sequence[str]
    ) -> dict[str, Any]:
        """``navigator.credentials.get`` options naming the account's own keys."""
        _check_challenge(challenge)
        options = generate_authentication_options(
            rp_id=self.rp_id,
            challenge=challenge,
            timeout=CEREMONY_TIMEOUT_MS,
            allow_credentials=_descriptors(allow),
            user_verification=UserVerificationRequirement.PREFERRED,
        )
        return options_to_json_dict(options)

    def verify_registration(
        self,
        response_json: str | Mapping[str, Any],
        challenge: bytes,
        origins: Sequence[str],
        rp_id: str,
    ) -> RegisteredKey:
        _check_challenge(challenge)
        try:
            verified = verify_registration_response(
                credential=_as_json(response_json),
                expected_challenge=challenge,
                expected_rp_id=rp_id,
                expected_origin=list(_origins(origins)),
                require_user_presence=True,
            )
        except _BROKEN as exc:
            raise refused(_reason(exc)) from None
        return RegisteredKey(
            credential_id_b64=bytes_to_base64url(verified.credential_id),
            public_key_b64=bytes_to_base64url(verified.credential_public_key),
            sign_count=verified.sign_count,
        )

    def verify_authentication(
        self,
        response_json: str | Mapping[str, Any],
        challenge: bytes,
        origins: Sequence[str],
        rp_id: str,
        key: RegisteredKey,
    ) -> int:
        """The key's new counter, to store (compare-and-set) in place of its stored one.

        A counter not above the stored one (unless both are 0) is ``clone_suspected`` only
        once the signature is shown to be the key's own: otherwise anyone could send a
        low counter with a junk signature and have the owner warned of a clone.
        """
        _check_challenge(challenge)
        credential = _as_json(response_json)

        def verify(count: int) -> int:
            return verify_authentication_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=rp_id,
                expected_origin=list(_origins(origins)),
                credential_public_key=base64url_to_bytes(key.public_key_b64),
                credential_current_sign_count=count,
            ).new_sign_count

        try:
            return verify(key.sign_count)
        except _BROKEN as exc:
            reason = _reason(exc)
        if reason == "clone_suspected":
            try:
                verify(0)  # every other check again, the counter's aside
            except _BROKEN as exc:
                reason = _reason(exc)
            if reason == "clone_suspected" and not _counter_at_most(
                credential, key.sign_count
            ):
                reason = "invalid_response"
        raise refused(reason)


def credential_id_of(response_json: str | Mapping[str, Any]) -> str:
    """The credential id a login response names, to find the stored key it claims."""
    try:
        return parse_authentication_credential_json(_as_json(response_json)).id
    except _BROKEN:
        raise refused("invalid_response") from None


# What a hostile or truncated response can make py_webauthn raise besides its own errors
# (base64 and CBOR decoding, missing keys, wrong JSON types).
_BROKEN: Final = (WebAuthnException, ValueError, TypeError, KeyError, IndexError)


_STRUCTURE: Final = (
    InvalidJSONStructure,
    InvalidCBORData,
    InvalidAuthenticatorDataStructure,
)


def _reason(exc: Exception) -> str:
    if not isinstance(exc, WebAuthnException) or isinstance(exc, _STRUCTURE):
        return "invalid_response"
    message = str(exc).lower()
    for fragment, reason in _REASONS:
        if fragment in message:
            return reason
    return "invalid_response"


def _counter_at_most(credential: str, stored_count: int) -> bool:
    """What the library's message claims, read from the signed authenticator data."""
    parsed = parse_authentication_credential_json(credential)
    data = parse_authenticator_data(bytes(parsed.response.authenticator_data))
    return data.sign_count <= stored_count


def _as_json(response: str | Mapping[str, Any]) -> str:
    """A JSON string: py_webauthn parses a str and a dict alike, but a dict must be a dict."""
    if isinstance(response, str):
        return response
    try:
        return json.dumps(dict(response))
    except (TypeError, ValueError):
        raise refused("invalid_response") from None


def _origins(origins: Sequence[str]) -> Sequence[str]:
    """Exact origins (``https://mail.example.org``), never a bare string to iterate."""
    if isinstance(origins, str) or not origins:
        raise ValueError("origins must be a non-empty list of exact origins")
    return origins


def _check_challenge(challenge: bytes) -> None:
    if len(challenge) < MIN_CHALLENGE_BYTES:
        raise ValueError(
            f"a WebAuthn challenge needs at least {MIN_CHALLENGE_BYTES} bytes"
        )


def _descriptors(ids: Sequence[str]) -> list[PublicKeyCredentialDescriptor]:
    return [PublicKeyCredentialDescriptor(id=base64url_to_bytes(i)) for i in ids]
