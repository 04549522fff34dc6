"""Which stored fields are a person's data, whose key seals them, what they read as once forgotten.

The domain's events say nothing of privacy (they stay pure); this registry, keyed by
event class and field name, does. Each personal field is sealed on its own with its
subject's key (AES-256-GCM, infrastructure.personkeys) as the mapper writes the event,
as the JSON of its stored value, so the stored bytes hold ciphertext only. A sealed
field is stored as ``{"$sealed": "<key id>.<base64 nonce+ciphertext+tag>"}``: the one
key tells it apart from any plain value (events of releases before sealing, or written
without a key store, are read as they are). Authenticated with the event's originator
id and version, a sealed value moved to another event does not open.

When the subject's key is gone (or was replaced after a forget), the field reads as its
``FORGOTTEN`` value, of the field's own type, so the aggregates still replay and every
projection still rebuilds: "[forgotten]" wherever text stood.

Whose key (the subject): the aggregate the event belongs to, its originator id. For a
user account that is the account id; its two-step settings live in their own aggregate
(``domain.ids.two_step_id(account)``), which ``subjects_of`` names beside it.

Not sealed, on purpose: the login (the hosted address the account is known and found
by, the organisation's rather than the person's), keyed fingerprints of devices and
tokens outside ``LoginContext``. Not covered yet: addresses of outside correspondents in
auto-reply plans, import source user names, the invitation's outside address (their
subjects are not a person of this engine).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping
from typing import Any, Protocol, TypeGuard
from uuid import UUID

from cryptography.exceptions import InvalidTag

from domain.account import UserAccount
from domain.ids import two_step_id
from domain.twostep import TwoStep
from infrastructure.personkeys import NONCE_BYTES, PersonKey

FORGOTTEN = "[forgotten]"
SEALED = "$sealed"

_CONTEXT = {
    "device": FORGOTTEN,
    "network": FORGOTTEN,
    "place": FORGOTTEN,
    "user_agent": FORGOTTEN,
}

# Event class -> personal field -> its stored (unstructured) value once forgotten.
PERSONAL: dict[type[Any], dict[str, Any]] = {
    UserAccount.Registered: {"display_name": FORGOTTEN},
    UserAccount.LoggedIn: {"context": _CONTEXT},
    UserAccount.LoginFailed: {"context": _CONTEXT},
    UserAccount.LoginThrottled: {"context": _CONTEXT},
    UserAccount.RecoveryPhoneChanged: {"phone": {"e164": FORGOTTEN}},
    TwoStep.EnrolmentStarted: {"label": FORGOTTEN, "phone": FORGOTTEN},
    TwoStep.AppPasswordCreated: {"name": FORGOTTEN},
}

# Aggregates whose snapshots hold a person's data: the whole state is sealed.
PERSONAL_SNAPSHOTS: frozenset[type[Any]] = frozenset({UserAccount, TwoStep})


def subjects_of(account_id: UUID) -> tuple[UUID, ...]:
    """Every subject whose key holds the data of the person with this account."""
    return (account_id, two_step_id(account_id))


class KeyRing(Protocol):
    def sealing_key(self, subject: UUID) -> PersonKey: ...

    def opening_key(self, subject: UUID) -> PersonKey | None: ...


class Forgotten(Exception):  # noqa: N818 - a signal to the field's reader, not an error
    pass


def aad_of(originator_id: UUID, version: int) -> bytes:
    """What a sealed field of an event is bound to: its event, so it cannot be moved."""
    return f"{originator_id}:{version}".encode()


def seal(key: PersonKey, value: object, aad: bytes) -> dict[str, str]:
    plain = json.dumps(
        value, separators=(",", ":"), ensure_ascii=False, default=sorted_list
    ).encode("utf-8", "surrogatepass")
    nonce = secrets.token_bytes(NONCE_BYTES)
    body = base64.b64encode(nonce + key.aead.encrypt(nonce, plain, aad)).decode()
    return {SEALED: f"{key.key_id}.{body}"}


def sorted_list(value: object) -> list[Any]:
    """Sets are stored sorted, so equal states store equal bytes (sealed or not)."""
    if isinstance(value, set | frozenset):
        return sorted(value)
    msg = f"cannot store a {type(value).__name__}"
    raise TypeError(msg)


def is_sealed(value: object) -> TypeGuard[dict[str, str]]:
    return isinstance(value, dict) and len(value) == 1 and SEALED in value


def unseal(key: PersonKey | None, sealed: Mapping[str, str], aad: bytes) -> Any:  # noqa: ANN401 - any stored JSON value
    return json.loads(plaintext(key, sealed, aad).decode("utf-8", "surrogatepass"))


def plaintext(key: PersonKey | None, sealed: Mapping[str, str], aad: bytes) -> bytes:
    """The sealed value's JSON bytes; ``Forgotten`` when ``key`` cannot open it."""
    key_id, _, body = sealed[SEALED].partition(".")
    if key is None or key.key_id != key_id:
        raise Forgotten
    raw = base64.b64decode(body)
    try:
        return key.aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad)
    except InvalidTag:
        msg = "a sealed personal field was altered"
        raise ValueError(msg) from None


def seal_fields(
    keys: KeyRing,
    cls: type[Any],
    originator_id: UUID,
    version: int,
    state: dict[str, Any],
) -> None:
    """Seal the personal fields of an event's stored dict in place."""
    fields = PERSONAL.get(cls)
    if not fields:
        return
    key = keys.sealing_key(originator_id)
    aad = aad_of(originator_id, version)
    for name in fields:
        if name in state and state[name] is not None:
            state[name] = seal(key, state[name], aad)


def open_fields(
    keys: KeyRing | None,
    cls: type[Any],
    originator_id: UUID,
    version: int,
    raw: dict[str, Any],
) -> None:
    """Open the sealed fields of a stored dict in place; forgotten ones read as such."""
    fields = PERSONAL.get(cls)
    if not fields:
        return
    aad = aad_of(originator_id, version)
    key: PersonKey | None = None
    looked = False
    for name, forgotten in fields.items():
        value = raw.get(name)
        if not isinstance(value, dict) or not is_sealed(value):
            continue  # plain: written before sealing, or without a key store
        if not looked:
            key = None if keys is None else keys.opening_key(originator_id)
            looked = True
        try:
            raw[name] = unseal(key, value, aad)
        except Forgotten:
            raw[name] = forgotten


def seal_snapshot(
    keys: KeyRing | None,
    aggregate_cls: type[Any],
    originator_id: UUID,
    version: int,
    state: Any,  # noqa: ANN401 - an aggregate's stored state
) -> Any:  # noqa: ANN401 - the same, or its sealed form
    if keys is None or aggregate_cls not in PERSONAL_SNAPSHOTS:
        return state
    return seal(keys.sealing_key(originator_id), state, aad_of(originator_id, version))


def open_snapshot(
    keys: KeyRing | None,
    originator_id: UUID,
    version: int,
    state: Any,  # noqa: ANN401 - stored state
) -> Any:  # noqa: ANN401 - the aggregate's stored state
    """A forgotten person's snapshot cannot stand in for a replay: it refuses."""
    if not is_sealed(state):
        return state
    key = None if keys is None else keys.opening_key(originator_id)
    try:
        return unseal(key, state, aad_of(originator_id, version))
    except Forgotten:
        msg = "the snapshot's person was forgotten: delete it, the events replay"
        raise LookupError(msg) from None
