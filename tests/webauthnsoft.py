"""A small software FIDO2 authenticator for the tests, on ``cryptography`` and ``cbor2``.

It plays browser and key at once: given the options the engine made, it returns the
registration and assertion responses in the JSON shape browsers send (base64url fields,
``PublicKeyCredential.toJSON()``), with an ES256 key and attestation "none". Every
field an attack would bend can be bent: the origin, the RP id, the challenge, the
user-presence flag, and the signature counter (settable, or always 0 as some
authenticators report). ``soft-webauthn`` is unmaintained and pins an old fido2, hence
this one.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import struct
from typing import Any, TypedDict, Unpack

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_AT = 0x40
AAGUID = bytes(16)  # "none" attestation: no maker named
COSE_EC2, COSE_ES256, COSE_P256 = 2, -7, 1


class Bent(TypedDict, total=False):
    """What a test may bend in a response: the RP id, the challenge, user presence."""

    rp_id: str | None
    challenge: bytes | None
    user_present: bool


class SoftAuthenticator:
    """One credential on one software key; ``counter`` is the next value minus one."""

    def __init__(self, *, always_zero: bool = False) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets.token_bytes(32)
        self.counter = 0
        self.always_zero = always_zero
        self.user_handle: bytes | None = None

    @property
    def credential_id_b64(self) -> str:
        return bytes_to_base64url(self.credential_id)

    def create(
        self,
        options: dict[str, Any],
        origin: str,
        *,
        statement: dict[str, Any] | None = None,
        **bent: Unpack[Bent],
    ) -> dict[str, Any]:
        """The response to ``navigator.credentials.create(options)`` on ``origin``.

        ``statement``: an attestation statement to send with format "none" (which must
        have none), to see a bad attestation refused.
        """
        self.user_handle = base64url_to_bytes(options["user"]["id"])
        client_data, auth_data = self._signed_parts(
            "webauthn.create", options, options["rp"]["id"], origin, bent
        )
        attestation = cbor2.dumps(
            {"fmt": "none", "attStmt": statement or {}, "authData": auth_data}
        )
        return self._credential(
            clientDataJSON=bytes_to_base64url(client_data),
            attestationObject=bytes_to_base64url(attestation),
            transports=["usb"],
        )

    def get(
        self, options: dict[str, Any], origin: str, **bent: Unpack[Bent]
    ) -> dict[str, Any]:
        """The response to ``navigator.credentials.get(options)`` on ``origin``."""
        client_data, auth_data = self._signed_parts(
            "webauthn.get", options, options["rpId"], origin, bent
        )
        signature = self._key.sign(
            auth_data + hashlib.sha256(client_data).digest(),
            ec.ECDSA(hashes.SHA256()),
        )
        return self._credential(
            clientDataJSON=bytes_to_base64url(client_data),
            authenticatorData=bytes_to_base64url(auth_data),
            signature=bytes_to_base64url(signature),
            userHandle=bytes_to_base64url(self.user_handle or b""),
        )

    def _signed_parts(
        self,
        kind: str,
        options: dict[str, Any],
        rp_id: str,
        origin: str,
        bent: Bent,
    ) -> tuple[bytes, bytes]:
        """The client data and authenticator data of one ceremony, bent as asked."""
        client_data = _client_data(
            kind, bent.get("challenge") or _challenge(options), origin
        )
        auth_data = self._auth_data(
            bent.get("rp_id") or rp_id,
            user_present=bent.get("user_present", True),
            attested=kind == "webauthn.create",
        )
        return client_data, auth_data

    def _credential(self, **response: object) -> dict[str, Any]:
        """``PublicKeyCredential.toJSON()`` around one ceremony's ``response``."""
        return {
            "id": self.credential_id_b64,
            "rawId": self.credential_id_b64,
            "type": "public-key",
            "response": response,
            "clientExtensionResults": {},
            "authenticatorAttachment": "cross-platform",
        }

    def _auth_data(self, rp_id: str, *, user_present: bool, attested: bool) -> bytes:
        if not self.always_zero:
            self.counter += 1
        count = 0 if self.always_zero else self.counter
        flags = (
            (FLAG_UP if user_present else 0) | FLAG_UV | (FLAG_AT if attested else 0)
        )
        data = hashlib.sha256(rp_id.encode()).digest() + struct.pack(
            ">BI", flags, count
        )
        if attested:
            data += AAGUID + struct.pack(">H", len(self.credential_id))
            data += self.credential_id + self._cose_key()
        return data

    def _cose_key(self) -> bytes:
        numbers = self._key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: COSE_EC2,
                3: COSE_ES256,
                -1: COSE_P256,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )


def _challenge(options: dict[str, Any]) -> bytes:
    return base64url_to_bytes(options["challenge"])


def _client_data(kind: str, challenge: bytes, origin: str) -> bytes:
    return json.dumps(
        {
            "type": kind,
            "challenge": bytes_to_base64url(challenge),
            "origin": origin,
            "crossOrigin": False,
        },
        separators=(",", ":"),
    ).encode()
