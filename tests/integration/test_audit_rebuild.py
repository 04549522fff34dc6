"""Every read model, audit ones included, rebuilds to the live rows (issue 11).

Random command sequences under random actors (the operator, an admin, a member, the
system) are caught up live at arbitrary points; then the whole log is replayed into a
fresh store of the same kind (an SQLite file, a PostgreSQL schema) and every table of
every projection compared row by row, as ``mailhost audit rebuild`` compares them.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from application.context import Actor, acting
from domain.account import UserAccount
from domain.address import EmailAddress
from domain.errors import DomainError
from domain.mailservice import MailService
from domain.organisation import Organisation, Role
from infrastructure.bootstrap import Engine, open_engine
from infrastructure.cli.auditrebuild import fresh_store, rebuilt_differences
from tests.integration.stack import store_env
from tests.property.test_projection_rebuild import (
    START,
    _apply,
    _mail_step,
    contexts,
)

ACTORS = st.sampled_from(["operator", "admin", "member", "system"])
STEPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("mail"),
            st.sampled_from(["create", "create", "alias", "delete", "assign", "deny"]),
            st.sampled_from(["ann", "Bob", "info"]),
            st.integers(0, 3),
            ACTORS,
        ),
        st.tuples(
            st.just("account"),
            st.sampled_from(["login", "fail", "password", "sent"]),
            contexts,
            st.integers(0, 1),
            ACTORS,
        ),
        st.tuples(st.just("sync")),
    ),
    max_size=25,
)


@contextmanager
def _engine(store: str, request: pytest.FixtureRequest) -> Iterator[Engine]:
    with tempfile.TemporaryDirectory() as tmp, store_env(store, request) as env:
        engine = open_engine(Path(tmp) / "home", env=env, background=False)
        try:
            yield engine
        finally:
            engine.close()


def _user(organisation_id: UUID, login: str) -> UserAccount:
    address = EmailAddress.parse(login)
    return UserAccount.register(
        organisation_id, address, credential_id=uuid4(), at=START
    )


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=STEPS)
def test_rebuilt_read_models_equal_the_live_ones(
    store: str, request: pytest.FixtureRequest, steps: list[tuple[object, ...]]
) -> None:
    # rule ADR-1, rule ORG-3, rule SEC-3: the views those rules are read from
    with _engine(store, request) as engine:
        log, runner = engine.host.log, engine.runner
        org = Organisation.found("Example Co", at=START)
        users = [_user(org.id, login) for login in ("u0@example.net", "u1@example.net")]
        org.admit(users[0].id, role=Role.ADMIN, at=START)
        org.admit(users[1].id, role=Role.MEMBER, at=START)
        service = MailService.create(org.id, "example.org", quota=3, at=START)
        with acting(Actor.operator()):
            log.save(org, *users, service)
        actors = {
            "operator": Actor.operator(),
            "admin": Actor.account(users[0].id),
            "member": Actor.account(users[1].id),
            "system": Actor.system("test"),
        }
        at = START
        for step in steps:
            at += timedelta(minutes=1)
            if step[0] == "sync":
                runner.catch_up()
                continue
            with acting(actors[str(step[-1])]), contextlib.suppress(DomainError):
                if step[0] == "mail":
                    _, action, local, n, _ = step
                    _mail_step(
                        log,
                        service.id,
                        action=str(action),
                        local=str(local),
                        n=int(str(n)),
                        users=[u.id for u in users],
                        at=at,
                    )
                else:
                    _, action, context, which, _ = step
                    account = log.load(
                        users[int(str(which))].id, UserAccount, "account"
                    )
                    _apply(account, str(action), context, at)  # type: ignore[arg-type]
                    log.save(account)
        _, found = rebuilt_differences(
            engine, list(runner.projections), fresh_store(engine)
        )
        assert found == []
