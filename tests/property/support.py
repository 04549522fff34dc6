"""What the projection properties share: an engine per example, accounts to act on.

Hypothesis runs a test's body once per example, and a pytest fixture would give all
examples one folder: each example opens its own engine on a folder of its own.
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import uuid4

from domain.account import UserAccount
from domain.address import EmailAddress
from infrastructure.bootstrap import open_engine

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from datetime import datetime
    from uuid import UUID

    from infrastructure.bootstrap import Engine


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
