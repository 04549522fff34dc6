"""Snapshots restore exactly the state a full replay builds (SQLite, real mapper)."""

from __future__ import annotations

import contextlib
from datetime import datetime
from pathlib import Path

from application.accounts import LoginRefused
from application.authorization import OPERATOR
from domain.account import UserAccount
from domain.ids import organisation_key
from domain.organisation import Organisation, Role
from tests.integration.support import LOGIN, ORG, PASSWORD, engine, with_user


def test_account_loaded_from_a_snapshot_equals_its_full_replay(tmp_path: Path) -> None:
    with engine(tmp_path, {"MAILHOST_LOGIN_THROTTLE": "1000"}, background=False) as e:
        with_user(e)
        for i in range(130):
            with contextlib.suppress(LoginRefused):
                e.host.accounts.login(
                    LOGIN, PASSWORD if i % 3 else "wrong-pass", ip=f"192.0.2.{i % 7}"
                )
        account = e.host.accounts.get(LOGIN)
        snapshots = (
            list(e.host.log.snapshots.get(account.id)) if e.host.log.snapshots else []
        )
        assert [s.originator_version for s in snapshots] == [50, 100]
        replayed: UserAccount | None = None
        for event in e.host.log.events.get(account.id):
            assert isinstance(event, UserAccount.Event)
            replayed = event.mutate(replayed)
        assert replayed == account
        assert isinstance(next(iter(account.active_sessions)), type(account.id))
        assert account.recent_failures
        assert all(isinstance(t, datetime) for t in account.recent_failures)


def test_an_organisation_loaded_from_a_snapshot_equals_its_full_replay(
    tmp_path: Path,
) -> None:
    # Sign-ins read the organisation (ORG-2): it is snapshotted like the account.
    with engine(tmp_path, background=False) as e:
        with_user(e)
        for i in range(105):
            e.host.accounts.register(
                ORG, f"member{i}@example.org", PASSWORD, by=OPERATOR
            )
        e.host.organisations.enforce_two_step(ORG, by=LOGIN)
        org_id = organisation_key(ORG)
        org = e.host.log.load(org_id, Organisation, "organisation")
        assert e.host.log.snapshots is not None
        assert [s.originator_version for s in e.host.log.snapshots.get(org_id)] == [100]
        replayed: Organisation | None = None
        for event in e.host.log.events.get(org_id):
            assert isinstance(event, Organisation.Event)
            replayed = event.mutate(replayed)
        assert replayed == org
        assert org.two_step_enforced
        assert {type(k) for k in org.members} == {type(org_id)}
        assert {type(r) for r in org.members.values()} == {Role}
