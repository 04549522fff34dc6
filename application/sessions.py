"""A support desk's view of an account's sessions: which are open, and ending them.

The account keeps only the ids of its open sessions (what a login decision needs);
where and when each began is in its ``LoggedIn`` event, read back here from the
account's own history. Ending a session by id is what an operator does for a user
who lost a device: the token is gone with the device, so ``Accounts.log_out`` (which
takes the token) cannot serve.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from attrs import frozen

from application.authorization import require_self_or_admin
from application.context import command
from application.log import MailHostLog
from application.ports import Clock, CredentialStore
from domain.account import UserAccount


@frozen
class SessionView:
    """One open session as its login recorded it (no token: the store has only digests)."""

    session_id: UUID
    started_at: datetime
    place: str
    network: str
    user_agent: str
    persistent: bool
    restricted: bool


@frozen
class Sessions:
    log: MailHostLog
    credentials: CredentialStore
    clock: Clock

    def active(self, account_id: UUID) -> list[SessionView]:
        """The account's open sessions, oldest first."""
        account = self.log.load(account_id, UserAccount, "account")
        views: dict[UUID, SessionView] = {}
        for event in self.log.repository.event_store.get(account_id):
            if not isinstance(event, UserAccount.LoggedIn):
                continue
            if event.session_id in account.active_sessions:
                views[event.session_id] = SessionView(
                    session_id=event.session_id,
                    started_at=event.timestamp,
                    place=event.context.place,
                    network=event.context.network,
                    user_agent=event.context.user_agent,
                    persistent=event.persistent,
                    restricted=event.restricted,
                )
        return sorted(views.values(), key=lambda v: v.started_at)

    @command
    def end(
        self, account_id: UUID, session_id: UUID | None, *, by: UUID | None
    ) -> tuple[UUID, ...]:
        """End one open session (``NotFound`` when it is not open), or all with None.

        The log decides first, then the token rows go: a token whose session the log
        ended opens nothing even if its row outlived a crash (``Accounts.session``).
        ``by``: the account itself, its organisation's admin, or the operator.
        """
        require_self_or_admin(
            self.log, self.log.load(account_id, UserAccount, "account"), by
        )

        def decide(account: UserAccount) -> tuple[UUID, ...]:
            at = self.clock.now()
            ending = (
                tuple(sorted(account.active_sessions))
                if session_id is None
                else (session_id,)
            )
            for each in ending:
                account.log_out(each, at=at)
            return ending

        ended = self.log.update(account_id, UserAccount, "account", decide)
        self.credentials.forget_sessions(ended)
        return ended
