"""The pending half of a two-step login: a short-lived, single-use token.

After the right password of an account with two-step verification on, the client gets a
token, not a session: the session opens only when ``Accounts.complete_login`` sees the
second factor. The token lives in the credential store under an id derived from its
keyed digest (the token itself is never stored) and is *taken* (read and deleted in one
step) by each completion, so two completions of one token cannot both open a session.
A wrong code puts it back until it expires or the factor locks. A row left behind
(never completed) names its account as owner and no event ever names it, so the orphan
sweep removes it.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from uuid import UUID, uuid5

from attrs import field, frozen

from application.credentials import OwnedRows
from application.ports import CredentialStore, Fingerprints
from domain.errors import NotPermitted
from domain.security import LoginContext

PENDING_NAMESPACE = UUID("3f0a64a2-6c1e-5d38-9d0b-8d3e7b1c2f55")
MAX_TOKEN = 256


class PendingExpired(NotPermitted):
    def __init__(self) -> None:
        super().__init__(
            "this sign-in has expired or was completed already; sign in again"
        )


@frozen
class PendingLogin:
    """What the second step needs of the first: who, from where, until when."""

    account_id: UUID
    context: LoginContext
    persistent: bool
    expires_at: datetime
    # The push or security-key challenge started for this sign-in, if any.
    challenge_id: UUID | None = None
    token: str = field(default="", repr=False)

    def encoded(self) -> str:
        return json.dumps(
            {
                "account": str(self.account_id),
                "device": self.context.device,
                "network": self.context.network,
                "place": self.context.place,
                "agent": self.context.user_agent,
                "persistent": self.persistent,
                "expires": self.expires_at.isoformat(),
                "challenge": None
                if self.challenge_id is None
                else str(self.challenge_id),
            },
            sort_keys=True,
        )

    @staticmethod
    def stored_as(raw: str) -> bool:
        """Whether a stored row is a pending sign-in, not a hash or digest beside it."""
        if not raw.startswith("{"):
            return False
        try:
            data = json.loads(raw)
        except ValueError:
            return False
        return isinstance(data, dict) and {"account", "agent"} <= data.keys()

    @classmethod
    def decoded(cls, raw: str, token: str) -> PendingLogin:
        data = json.loads(raw)
        return cls(
            account_id=UUID(data["account"]),
            context=LoginContext(
                device=data["device"],
                network=data["network"],
                place=data["place"],
                user_agent=data["agent"],
            ),
            persistent=bool(data["persistent"]),
            expires_at=datetime.fromisoformat(data["expires"]),
            challenge_id=UUID(data["challenge"]) if data["challenge"] else None,
            token=token,
        )


@frozen
class PendingLogins:
    credentials: CredentialStore
    fingerprints: Fingerprints

    def start(
        self,
        account_id: UUID,
        context: LoginContext,
        *,
        persistent: bool,
        at: datetime,
        expiry: timedelta,
    ) -> PendingLogin:
        token = self.fingerprints.new_token()
        pending = PendingLogin(
            account_id, context, persistent, at + expiry, token=token
        )
        self.credentials.put_secret(
            self._row(token), pending.encoded(), owner=account_id
        )
        return pending

    def peek(self, token: str, at: datetime) -> PendingLogin:
        """The pending sign-in, left in place (to start a push or key challenge)."""
        raw = self.credentials.secret(self._row(token))
        return self._live(raw, token, at)

    def take(self, token: str, at: datetime) -> PendingLogin:
        """The pending sign-in, removed: only one completion can hold it."""
        raw = self.credentials.take_secret(self._row(token))
        return self._live(raw, token, at)

    def put_back(self, pending: PendingLogin) -> None:
        """After a wrong code: the same token works again until it expires."""
        self.credentials.put_secret(
            self._row(pending.token), pending.encoded(), owner=pending.account_id
        )

    def attach(self, pending: PendingLogin, challenge_id: UUID) -> PendingLogin:
        """Bind a push or key challenge to this sign-in (compare-and-set)."""
        bound = PendingLogin(
            pending.account_id,
            pending.context,
            pending.persistent,
            pending.expires_at,
            challenge_id,
            token=pending.token,
        )
        if not self.credentials.swap_secret(
            self._row(pending.token), pending.encoded(), bound.encoded()
        ):
            raise PendingExpired
        return bound

    def _live(self, raw: str | None, token: str, at: datetime) -> PendingLogin:
        if raw is None:
            raise PendingExpired
        pending = PendingLogin.decoded(raw, token)
        if at >= pending.expires_at:
            raise PendingExpired
        return pending

    def _row(self, token: str) -> UUID:
        if not (
            isinstance(token, str)
            and token.isascii()
            and token.isprintable()
            and 0 < len(token) <= MAX_TOKEN
        ):
            raise PendingExpired
        digest = self.fingerprints.digest(f"pending-login:{token}")
        return uuid5(PENDING_NAMESPACE, digest)


def cancel_pending_logins(store: OwnedRows, account_id: UUID) -> int:
    """Delete the account's unfinished sign-ins; how many went.

    Each holds where it came from (network, place, user agent) in plain beside the log,
    out of reach of the person's keys, so forgetting the person deletes it: that
    sign-in must start again. The password hash and the digests the account owns stay.
    """
    gone = 0
    for row, raw in store.owned_secrets(account_id):
        if PendingLogin.stored_as(raw) and store.take_secret(row) is not None:
            gone += 1
    return gone
