"""What the projection properties share: an engine per example, accounts to act on.

Hypothesis runs a test's body once per example, and a pytest fixture would give all
examples one folder: each example opens its own engine on a folder of its own.
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import uuid4

from domain.account import UserAccount
from domain.address import EmailAddress
from domain.security import LoginContext, NotificationPreferences, SecurityPolicy
from infrastructure.bootstrap import open_engine
from infrastructure.sql import SqliteDatabase

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from datetime import datetime
    from uuid import UUID

    from infrastructure.bootstrap import Engine
    from projections.runner import BatchProjection


@contextmanager
def scratch_engine() -> Iterator[tuple[Engine, Path]]:
    """An engine (no background threads) and its folder, both gone after the block."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_engine(Path(tmp) / "home", background=False)
        try:
            yield engine, Path(tmp)
        finally:
            engine.close()


def registered(
    organisation_id: UUID, logins: Iterable[str], *, at: datetime
) -> list[UserAccount]:
    """One account a login in the organisation, each with a credential of its own."""
    return [
        UserAccount.register(
            organisation_id,
            EmailAddress.parse(login),
            credential_id=uuid4(),
            at=at,
        )
        for login in logins
    ]


# Throttles after a few failures within minutes, so short drawn logs reach SEC-3.
QUICK_THROTTLE = SecurityPolicy(
    failed_login_window=timedelta(minutes=5), throttle_limit=4
)


def act(account: UserAccount, action: str, context: LoginContext, at: datetime) -> None:
    """One drawn step of an account's life, as a login server would drive it."""
    policy = QUICK_THROTTLE
    if account.is_throttled(at, policy, context):
        account.record_throttled(context, at=at, policy=policy)
    elif action == "fail":
        account.fail_login(context, at=at, policy=policy)
    elif action == "logout" and account.active_sessions:
        account.log_out(min(account.active_sessions), at=at)
    elif action == "password":
        account.change_password(uuid4(), keep_session=None, at=at)
    elif action == "preferences":
        preferences = NotificationPreferences(failed_login=context.device == "d1")
        account.choose_notifications(preferences, at=at)
    else:
        account.log_in(uuid4(), context, at=at, policy=policy)


def one_by_one_and_paged(
    kind: type[BatchProjection], items: Sequence[tuple[object, int]], folder: Path
) -> tuple[SqliteDatabase, SqliteDatabase]:
    """Two stores of ``kind``: each event in its own transaction, and one page at once.

    The runner and the rebuild hand a projection whole pages; what they write must be
    what the events one at a time would. The caller compares and closes both.
    """
    one, page = (
        SqliteDatabase(folder / f"{kind.name}-{side}.sqlite")
        for side in ("one", "page")
    )
    single, batch = kind(), kind()
    for database in (one, page):
        database.ensure_schema(single.schema)
    for event, position in items:
        with one.transaction() as cursor:
            single.process(event, position, cursor)
    with page.transaction() as cursor:
        batch.process_many(items, cursor)
    return one, page
