"""Who acted, on every event (issue 11): the caller is explicit, never defaulted.

An embedder who forgets ``by`` on a user's request must not act with the operator's
rights: every use case that changes state refuses to run without it, before it reads
or writes anything. A use case whose caller proves who they are (a password, a token,
a code) takes no ``by`` and records the account proven. The demo, a run of every kind
of command, leaves no event whose actor nobody bound.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID, uuid4

import attrs
import pytest
from eventsourcing.domain import Snapshot

from application.accounts import LoginRefused
from application.authorization import OPERATOR
from application.context import (
    KIND_OF_COMMAND,
    UNBOUND,
    Actor,
    CommandContext,
    correlated,
    recorded,
)
from application.delegation import Delegated
from application.host import MailHost
from application.importbatch import ImportBatch
from application.sessions import Sessions
from infrastructure.bootstrap import Engine
from infrastructure.cli.demo import run_demo
from infrastructure.cli.importcsv import bulk_creation
from tests.integration.support import LOGIN, ORG, PASSWORD, engine, with_user

DOMAIN = "example.org"
LOGIN_IP = "192.0.2.10"


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[Engine]:
    with engine(tmp_path, background=False) as e:
        yield e


def _groups(host: MailHost) -> dict[str, object]:
    """Every object of the engine whose methods are use cases, by its name."""
    found: dict[str, object] = {
        field.name: getattr(host, field.name)
        for field in attrs.fields(MailHost)
        if field.name not in {"log", "background"}
        and getattr(host, field.name) is not None
    }
    addresses = host.addresses
    found |= {
        "addresses.creation": addresses.creation,
        "addresses.invitations": addresses.invitations,
        "addresses.deletion": addresses.deletion,
        "addresses.password_changes": addresses.password_changes,
        "responders.verification": host.responders.verification,
        "bulk": bulk_creation(host),
        "import batch": ImportBatch(host.log, host.services, host.imports),
        "sessions": Sessions(host.log, host.accounts.credentials, host.accounts.clock),
    }
    return found


def _marked(group: object, kind: str) -> list[str]:
    """The group's methods marked as ``kind`` ("by" or "self"), Delegated ones too."""
    names = []
    for cls in type(group).__mro__:
        for name, member in vars(cls).items():
            method = member.method if isinstance(member, Delegated) else member
            if getattr(method, KIND_OF_COMMAND, None) == kind:
                names.append(name)
    return sorted(set(names))


def _takes_by(group: object) -> list[str]:
    """The group's public methods with a ``by`` parameter, decorated or not."""
    names = []
    for name, member in inspect.getmembers(type(group)):
        method = member.method if isinstance(member, Delegated) else member
        if name.startswith("_") or not callable(method):
            continue
        try:
            parameters = inspect.signature(method).parameters
        except (TypeError, ValueError):
            continue
        if "by" in parameters:
            names.append(name)
    return names


def test_every_command_refuses_to_run_without_by(opened: Engine) -> None:
    host = opened.host
    before = host.log.recorder.max_notification_id()
    refused: list[str] = []
    for label, group in _groups(host).items():
        commands = _marked(group, "by")
        # A use case that takes a caller and is not a @command would take it unchecked.
        assert sorted(_takes_by(group)) == commands, label
        for name in commands:
            # Arguments it could not even parse: only the missing ``by`` may be named.
            with pytest.raises(TypeError, match=r"needs by="):
                getattr(group, name)(object(), object())
            refused.append(f"{label}.{name}")
    # The walk reached the engine's groups (not an empty list that passes trivially).
    assert len(refused) >= 45, refused
    for expected in (
        "organisations.found",
        "accounts.register",
        "services.create",
        "addresses.create_for_users",
        "addresses.delete",
        "responders.add",
        "imports.start",
        "sending.send",
    ):
        assert expected in refused
    # Refused before touching the log: nothing was stored.
    assert host.log.recorder.max_notification_id() == before


def test_self_service_use_cases_take_no_by(opened: Engine) -> None:
    """Where the caller proves who they are, a ``by`` could only contradict the proof."""
    host = opened.host
    assert host.twostep is not None
    proven = {
        f"{label}.{name}"
        for label, group in _groups(host).items()
        for name in _marked(group, "self")
    }
    for expected in (
        "accounts.login",
        "accounts.complete_login",
        "accounts.protocol_login",
        "accounts.change_password",
        "accounts.log_out",
        "addresses.accept_invitation",
        "twostep.enrol",
        "twostep.disable",
        "twostep.start_push",
    ):
        assert expected in proven
        label, name = expected.split(".")
        method = getattr(_groups(host)[label], name)
        assert "by" not in inspect.signature(method).parameters


def test_the_demo_leaves_no_event_unbound(tmp_path: Path) -> None:
    """A use case that saves without @command (or before it knew its account) shows up
    here as ``system:unbound``; the demo runs every kind of command."""
    assert run_demo(home=str(tmp_path), window=0.5, as_json=False) == 0
    with engine(tmp_path, background=False) as e:
        log = e.host.log
        contexts: list[CommandContext] = []
        unbound: list[str] = []
        for notification in log.recorder.select_notifications(start=1, limit=100_000):
            event = log.mapper.to_domain_event(notification)
            if isinstance(event, Snapshot):
                continue
            context = recorded(event)
            assert context is not None, notification.topic
            contexts.append(context)
            if context.actor == UNBOUND:
                unbound.append(f"{notification.id} {notification.topic}")
    assert not unbound, unbound
    kinds = {c.actor.kind for c in contexts}
    # Set-up by the operator, the admin's and the user's own changes, the jobs, the
    # delivery: ``mailhost audit counts --by actor`` shows each.
    assert kinds == {"operator", "account", "worker", "system"}, kinds


def test_one_request_id_correlates_its_commands(opened: Engine) -> None:
    host = opened.host
    with_user(opened)  # the organisation's first user: its admin
    admin = host.accounts.get(LOGIN).id
    request = uuid4()
    with correlated(request):
        host.services.create(ORG, DOMAIN, quota=5, by=OPERATOR)
        created = host.addresses.create_unassigned(f"info@{DOMAIN}", by=admin)
    service = host.services.get(DOMAIN)
    # The service's creation, then the address's claim on it; the new mailbox.
    founded, claimed = _contexts(opened, service.id)
    (mailbox_context,) = _contexts(opened, created.mailbox_id)
    assert founded.correlation_id == claimed.correlation_id == request
    assert mailbox_context.correlation_id == request
    assert founded.actor == Actor.operator()
    assert claimed.actor == mailbox_context.actor == Actor.account(admin)
    assert str(mailbox_context.actor) == f"account:{admin}"
    # Outside a request, each command is its own correlation.
    host.addresses.set_signature(f"info@{DOMAIN}", "Info desk", by=admin)
    host.addresses.set_signature(f"info@{DOMAIN}", "The info desk", by=OPERATOR)
    first, second = _contexts(opened, created.mailbox_id)[-2:]
    assert first.correlation_id != second.correlation_id != request
    assert (first.actor, second.actor) == (Actor.account(admin), Actor.operator())


def test_a_login_records_the_account_it_proves(opened: Engine) -> None:
    host = opened.host
    with_user(opened)
    account = host.accounts.get(LOGIN).id
    request = uuid4()
    with correlated(request):
        host.accounts.login(LOGIN, PASSWORD, ip=LOGIN_IP)
        with pytest.raises(LoginRefused):
            host.accounts.login(LOGIN, "not the password", ip=LOGIN_IP)
    signed_in, failed = _contexts(opened, account)[-2:]
    assert signed_in.actor == failed.actor == Actor.account(account)
    assert signed_in.correlation_id == failed.correlation_id == request


def _contexts(opened: Engine, aggregate_id: UUID) -> list[CommandContext]:
    events = opened.host.log.repository.event_store.get(aggregate_id)
    found = [recorded(event) for event in events]
    return [c for c in found if c is not None]
