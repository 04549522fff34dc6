"""Mail services and addresses end to end on the embedded defaults (ADR, ORG-3, PWD, SND, ADV)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from application.authorization import OPERATOR
from domain.errors import AlreadyExists, InvalidInput, NotFound, NotPermitted
from domain.invitation import LoginChoice
from domain.mailservice import QuotaExceeded
from domain.permissions import Permission
from infrastructure.bootstrap import Engine
from tests.integration.support import ORG, PASSWORD, engine, stored_bytes, with_user
from tests.servers import ReceivedMessage, SmtpSink
from tests.servers.process import LOCALHOST, free_port

DOMAIN = "example.org"
ADMIN = "admin@example.net"
BOB = "bob@example.net"


@pytest.fixture
def mh(tmp_path: Path, smtp: SmtpSink) -> Iterator[Engine]:
    with engine(tmp_path / "home", {"MAILHOST_SMTP_URL": smtp.url}) as e:
        with_user(e, ADMIN)
        with_user(e, BOB)
        e.host.services.create(ORG, DOMAIN, quota=3, by=OPERATOR)
        yield e


def admin_id(e: Engine) -> object:
    return e.host.accounts.get(ADMIN).id


def test_quota_is_enforced_and_can_be_increased(mh: Engine) -> None:
    # rule ADR-1
    addresses = mh.host.addresses
    for name in ("a", "b", "c"):
        addresses.create_unassigned(f"{name}@{DOMAIN}", by=OPERATOR)
    head = mh.runner.log_position()
    with pytest.raises(QuotaExceeded, match="3 of 3 used"):
        addresses.create_unassigned(f"d@{DOMAIN}", by=OPERATOR)
    assert mh.runner.log_position() == head
    assert mh.host.services.increase_quota(DOMAIN, 2, by=OPERATOR) == 5
    addresses.create_unassigned(f"d@{DOMAIN}", by=OPERATOR)
    addresses.add_alias(f"a@{DOMAIN}", "alpha", by=OPERATOR)  # aliases take no slot
    assert mh.host.services.get(DOMAIN).used == 4


def test_local_parts_are_unique_case_insensitively_and_validated(mh: Engine) -> None:
    # rule ADR-2
    addresses = mh.host.addresses
    addresses.create_unassigned(f"Ann.Smith@{DOMAIN}", by=OPERATOR)
    head = mh.runner.log_position()
    with pytest.raises(AlreadyExists):
        addresses.create_unassigned(f"ann.smith@{DOMAIN}", by=OPERATOR)
    with pytest.raises(AlreadyExists):
        addresses.add_alias(f"ann.smith@{DOMAIN}", "ANN.SMITH", by=OPERATOR)
    for bad in ("ann..smith", ".ann", "ann smith", "a" * 65, "jürg"):
        with pytest.raises(InvalidInput):
            addresses.create_unassigned(f"{bad}@{DOMAIN}", by=OPERATOR)
    with pytest.raises(NotFound):  # no such mail service
        addresses.create_unassigned("ann@other.org", by=OPERATOR)
    assert mh.runner.log_position() == head


def test_for_yourself_is_linked_at_once(mh: Engine) -> None:
    # rule ADR-3
    me = mh.host.accounts.get(ADMIN).id
    with pytest.raises(InvalidInput):
        mh.host.addresses.create_for_self(f"me@{DOMAIN}", "short", by=me)
    created = mh.host.addresses.create_for_self(
        f"me@{DOMAIN}", "a strong passphrase", by=me
    )
    assert created.password is None
    mh.host.settle()
    assert mh.host.directory.mail_app(me) == [f"me@{DOMAIN}"]
    bob = mh.host.accounts.get(BOB).id
    with pytest.raises(NotPermitted):  # bob is a member, not an admin
        mh.host.addresses.create_for_self(
            f"bob@{DOMAIN}", "a strong passphrase", by=bob
        )


def test_for_others_gets_defaults_a_signature_and_a_password_shown_once(
    mh: Engine, tmp_path: Path
) -> None:
    # rule ADR-4, rule ORG-3
    mh.host.services.save_signature_template(
        DOMAIN, "Standard", "Example Co\nSales", by=OPERATOR
    )
    created = mh.host.addresses.create_for_users(
        f"sales@{DOMAIN}", [ADMIN, BOB], signature="Standard", by=OPERATOR
    )
    assert created.password is not None
    assert len(created.password) >= 20
    assert created.password not in repr(created)
    _, mailbox = mh.host.services.mailbox(f"sales@{DOMAIN}")
    assert mailbox.signature == "Example Co\nSales"
    assert mh.host.addresses.allows(f"sales@{DOMAIN}", BOB, Permission.CHANGE_PASSWORD)
    mh.host.settle()
    bob = mh.host.accounts.get(BOB).id
    assert mh.host.directory.mail_app(bob) == [f"sales@{DOMAIN}"]
    with pytest.raises(NotFound):
        mh.host.addresses.create_for_users(
            f"x@{DOMAIN}", ["stranger@example.net"], by=OPERATOR
        )
    assert created.password.encode() not in stored_bytes(
        tmp_path / "home" / "events.sqlite"
    )


def test_invitation_by_mail_then_accepted(mh: Engine, smtp: SmtpSink) -> None:
    # rule ADR-5
    invitation = mh.host.addresses.invite(
        f"carol@{DOMAIN}",
        send_to="carol@private.example",
        login_choice=LoginChoice.OWN_CHOICE,
        by=OPERATOR,
    )
    [mail] = smtp.wait_for(1)
    assert mail.rcpt_tos == ["carol@private.example"]
    code = re.search(r"Code: (\S+)", mail.message.get_content())
    assert code is not None
    with pytest.raises(NotPermitted):
        mh.host.addresses.accept_invitation(
            invitation,
            "wrong-code",
            password="carol passphrase",
            login="carol@private.example",
        )
    account = mh.host.addresses.accept_invitation(
        invitation,
        code.group(1),
        password="carol passphrase",
        login="carol@private.example",
    )
    mh.host.settle()
    assert mh.host.directory.mail_app(account) == [f"carol@{DOMAIN}"]
    assert mh.host.accounts.login(
        "carol@private.example", "carol passphrase", ip="192.0.2.1"
    )
    with pytest.raises(NotPermitted):
        mh.host.addresses.accept_invitation(
            invitation,
            code.group(1),
            password="carol passphrase",
            login="c2@private.example",
        )


def test_unassigned_is_linked_to_nobody(mh: Engine) -> None:
    # rule ADR-6
    created = mh.host.addresses.create_unassigned(
        f"info@{DOMAIN}", password="info passphrase", by=OPERATOR
    )
    assert created.password is None
    mh.host.settle()
    directory = mh.host.directory.directory(DOMAIN)
    assert directory is not None
    [entry] = directory.entries
    assert (entry.address, entry.users, entry.linked) == (f"info@{DOMAIN}", (), ())


def test_generic_addresses_and_one_catch_all(mh: Engine) -> None:
    # rule ADR-8, rule ADR-10
    a = mh.host.addresses
    a.create_no_reply(f"no-reply@{DOMAIN}", by=OPERATOR)
    a.create_unassigned(f"info@{DOMAIN}", by=OPERATOR)
    a.create_redirect(
        f"team@{DOMAIN}", [f"info@{DOMAIN}", "boss@example.net"], by=OPERATOR
    )
    mh.host.services.set_catch_all(DOMAIN, f"info@{DOMAIN}", by=OPERATOR)
    with pytest.raises(InvalidInput):
        mh.host.services.set_catch_all(
            DOMAIN, f"team@{DOMAIN}", by=OPERATOR
        )  # a redirect, not a mailbox
    mh.host.services.set_catch_all(DOMAIN, None, by=OPERATOR)
    mh.host.services.set_catch_all(DOMAIN, f"info@{DOMAIN}", by=OPERATOR)
    mh.host.settle()
    directory = mh.host.directory.directory(DOMAIN)
    assert directory is not None
    assert [e.address for e in directory.entries if e.catch_all] == [f"info@{DOMAIN}"]
    assert {e.kind for e in directory.entries} == {"no_reply", "mailbox", "redirect"}


def test_delete_destroys_content_and_frees_the_slot(mh: Engine, tmp_path: Path) -> None:
    # rule ADR-11
    a = mh.host.addresses
    for name in ("a", "b", "c"):
        a.create_unassigned(f"{name}@{DOMAIN}", by=OPERATOR)
    a.add_alias(f"a@{DOMAIN}", "alpha", by=OPERATOR)
    mh.host.settle()  # the jobs of the creations made the maildirs
    maildir = tmp_path / "home" / "mail" / DOMAIN / "a"
    assert maildir.exists()
    (maildir / "Maildir" / "cur").mkdir(parents=True, exist_ok=True)
    (maildir / "Maildir" / "cur" / "1.eml").write_text("Subject: hi\n\nbody\n")
    deleted = a.delete([f"a@{DOMAIN}", f"B@{DOMAIN}"], by=OPERATOR)
    assert set(deleted) == {f"a@{DOMAIN}", f"alpha@{DOMAIN}", f"b@{DOMAIN}"}
    mh.host.settle()  # the deletion's job destroys the content
    assert not maildir.exists()
    assert mh.host.services.get(DOMAIN).used == 1
    a.create_unassigned(
        f"a@{DOMAIN}", by=OPERATOR
    )  # the slot and the name are free again
    with pytest.raises(NotFound):
        a.delete([f"zz@{DOMAIN}"], by=OPERATOR)


def test_signature_template_applied_to_every_mailbox(mh: Engine) -> None:
    # rule ADR-12
    a = mh.host.addresses
    a.create_unassigned(f"a@{DOMAIN}", by=OPERATOR)
    a.create_unassigned(f"b@{DOMAIN}", by=OPERATOR)
    mh.host.services.save_signature_template(
        DOMAIN, "Legal", "Example Co, Geneva", by=OPERATOR
    )
    assert a.apply_signature_template(DOMAIN, "Legal", by=OPERATOR) == 2
    assert mh.host.services.mailbox(f"b@{DOMAIN}")[1].signature == "Example Co, Geneva"
    assert a.apply_signature_template(DOMAIN, "Legal", by=OPERATOR) == 0


def test_withdrawn_permission_is_enforced_on_every_later_command(mh: Engine) -> None:
    # rule ORG-3, rule PWD-1, rule PWD-2, rule ADR-7
    a = mh.host.addresses
    created = a.create_for_users(f"bob@{DOMAIN}", [BOB], by=OPERATOR)
    assert created.password is not None
    bob = mh.host.accounts.get(BOB).id
    kept = a.change_password(
        f"bob@{DOMAIN}", "bob new passphrase", by=bob, old_password=created.password
    )
    assert kept == (bob,)  # the linked mail app keeps its access (ADR-7)
    with pytest.raises(NotPermitted):
        a.change_password(
            f"bob@{DOMAIN}", "another passphrase", by=bob, old_password="wrong pw"
        )
    a.change_password(  # PWD-2: the account password instead of the unknown old one
        f"bob@{DOMAIN}", "another passphrase", by=bob, account_password=PASSWORD
    )
    a.set_permission(
        f"bob@{DOMAIN}", BOB, Permission.CHANGE_PASSWORD, allowed=False, by=OPERATOR
    )
    with pytest.raises(NotPermitted, match="change_password"):
        a.change_password(
            f"bob@{DOMAIN}",
            "third passphrase",
            by=bob,
            old_password="another passphrase",
        )
    mh.host.services.set_default_permissions(DOMAIN, [Permission.SEND], by=OPERATOR)
    a.set_permission(
        f"bob@{DOMAIN}", BOB, Permission.CHANGE_PASSWORD, allowed=None, by=OPERATOR
    )
    assert not a.allows(f"bob@{DOMAIN}", BOB, Permission.CHANGE_PASSWORD)  # default now
    with pytest.raises(NotPermitted):
        a.set_permission(
            f"bob@{DOMAIN}", BOB, Permission.CHANGE_PASSWORD, allowed=True, by=bob
        )


def test_bcc_never_reaches_to_and_cc(mh: Engine, smtp: SmtpSink) -> None:
    # rule SND-1, rule SND-2
    mh.host.addresses.create_unassigned(f"ann@{DOMAIN}", by=OPERATOR)
    sent = mh.host.sending.send(
        f"ann@{DOMAIN}",
        to=["to@example.net"],
        cc=["cc@example.net"],
        bcc=["hidden@example.net"],
        subject="Meeting",
        body="See you at 10.",
        by=OPERATOR,
    )
    assert set(sent.recipients) == {
        "to@example.net",
        "cc@example.net",
        "hidden@example.net",
    }
    [mail] = smtp.wait_for(1)
    assert sorted(mail.rcpt_tos) == [
        "cc@example.net",
        "hidden@example.net",
        "to@example.net",
    ]
    assert b"hidden@example.net" not in mail.data
    assert mail.message["Bcc"] is None
    assert mail.message["To"] == "to@example.net"
    assert mail.message["Cc"] == "cc@example.net"


def test_sending_limits_refuse_with_the_reason(tmp_path: Path, smtp: SmtpSink) -> None:
    # rule SND-3
    env = {
        "MAILHOST_SMTP_URL": smtp.url,
        "MAILHOST_MAX_RECIPIENTS": "3",
        "MAILHOST_MAX_MESSAGES_PER_DAY": "2",
    }
    with engine(tmp_path, env) as e:
        with_user(e, ADMIN)
        e.host.services.create(ORG, DOMAIN, quota=1, by=OPERATOR)
        e.host.addresses.create_unassigned(f"ann@{DOMAIN}", by=OPERATOR)
        with pytest.raises(NotPermitted, match="mass-mailing"):
            e.host.sending.send(
                f"ann@{DOMAIN}",
                to=["a@x.example", "b@x.example"],
                bcc=["c@x.example", "d@x.example"],
                by=OPERATOR,
            )
        for _ in range(2):
            e.host.sending.send(f"ann@{DOMAIN}", to=["a@x.example"], by=OPERATOR)
        with pytest.raises(NotPermitted, match="24 hours"):
            e.host.sending.send(f"ann@{DOMAIN}", to=["a@x.example"], by=OPERATOR)
        assert len(smtp.wait_for(2)) == 2


def test_advisories_from_recorded_facts(mh: Engine) -> None:
    # rule ADV-1, rule ADV-2, rule ADV-3, rule ADV-4
    a = mh.host.addresses
    a.create_unassigned(f"info@{DOMAIN}", by=OPERATOR)
    a.create_unassigned(f"ann@{DOMAIN}", by=OPERATOR)
    mh.host.settle()
    assert {x.rule for x in mh.host.advise(DOMAIN)} == {"ADV-4"}
    mh.host.services.set_catch_all(DOMAIN, f"info@{DOMAIN}", by=OPERATOR)
    a.record_usage(f"info@{DOMAIN}", 950, 1000, by=OPERATOR)
    a.set_allow_list(
        f"ann@{DOMAIN}", [f"ann@{DOMAIN}", "@partner.example"], by=OPERATOR
    )
    a.record_client_access(f"ann@{DOMAIN}", "pop3", keeps_copy=True, by=OPERATOR)
    a.record_client_access(f"ann@{DOMAIN}", "imap", by=OPERATOR)
    mh.host.services.record_dmarc(DOMAIN, "v=DMARC1; p=quarantine", by=OPERATOR)
    mh.host.settle()
    found = {(x.rule, x.address) for x in mh.host.advise(DOMAIN)}
    assert found == {
        ("ADV-1", f"ann@{DOMAIN}"),
        ("ADV-2", f"info@{DOMAIN}"),
        ("ADV-3", f"ann@{DOMAIN}"),
    }
    with pytest.raises(InvalidInput):
        mh.host.services.record_dmarc(DOMAIN, "v=spf1 -all", by=OPERATOR)


def test_services_on_postgres(tmp_path: Path, postgres_env: dict[str, str]) -> None:
    # rule ADR-1, rule ADR-2, rule ADR-11
    with engine(tmp_path, postgres_env) as e:
        with_user(e, ADMIN)
        e.host.services.create(ORG, "bücher.example", quota=2, by=OPERATOR)
        e.host.addresses.create_for_users("ann@bücher.example", [ADMIN], by=OPERATOR)
        e.host.addresses.create_unassigned("ANN2@xn--bcher-kva.example", by=OPERATOR)
        with pytest.raises(QuotaExceeded):
            e.host.addresses.create_unassigned("x@bücher.example", by=OPERATOR)
        e.host.addresses.delete(["ann2@bücher.example"], by=OPERATOR)
        e.host.settle()
        directory = e.host.directory.directory("xn--bcher-kva.example")
        assert directory is not None
        assert directory.display_domain == "bücher.example"
        assert [x.address for x in directory.entries] == ["ann@xn--bcher-kva.example"]
        assert directory.used == 1


def test_an_invitation_waits_for_a_mail_server_that_is_down_and_is_mailed_once(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    # rule ADR-5: the mail is a job derived from the invitation's event. The address and
    # its invitation are saved while the mail server is down; the job mails the code
    # when it answers, once however often it runs. The code is never in the log, and
    # sealed in the credential store only until it is mailed.
    home = tmp_path / "home"
    down = {"MAILHOST_SMTP_URL": f"smtp://{LOCALHOST}:{free_port()}"}
    with engine(home, down, background=False) as e:
        with_user(e, ADMIN)
        e.host.services.create(ORG, DOMAIN, quota=3, by=OPERATOR)
        invitation = e.host.addresses.invite(
            f"erin@{DOMAIN}", send_to="erin@private.example", by=OPERATOR
        )
        e.drain(timeout=5)
        assert e.jobs.unfinished(e.host.alerts.clock.now()) == 1
    assert not smtp.messages
    with engine(home, {"MAILHOST_SMTP_URL": smtp.url}, background=False) as e:
        deadline = time.monotonic() + 60  # the failed job is due again after its retry
        while not smtp.messages and time.monotonic() < deadline:
            e.drain()
            time.sleep(0.2)
        [mail] = smtp.wait_for(1)
        assert mail.rcpt_tos == ["erin@private.example"]
        assert not e.host.addresses.mail_invitation(invitation)  # a repeat: no mail
        code = _code_of(mail)
        assert code.encode() not in stored_bytes(home)
        e.host.addresses.accept_invitation(
            invitation, code, password="erin passphrase 1"
        )
    assert len(smtp.messages) == 1


def test_no_mail_goes_out_for_an_address_deleted_before_its_invitation_job_ran(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    # rule ADR-5: the job mails only a code that can still be used
    home = tmp_path / "home"
    with engine(home, {"MAILHOST_SMTP_URL": smtp.url}, background=False) as e:
        with_user(e, ADMIN)
        e.host.services.create(ORG, DOMAIN, quota=3, by=OPERATOR)
        invitation = e.host.addresses.invite(f"gone@{DOMAIN}", by=OPERATOR)
        e.host.addresses.delete([f"gone@{DOMAIN}"], by=OPERATOR)
        e.drain()
        assert not e.host.addresses.invitation_mailed(invitation)
        assert not e.jobs.unfinished(e.host.alerts.clock.now())
    assert not smtp.messages


def test_two_invitations_to_one_address_give_it_one_user(
    mh: Engine, smtp: SmtpSink
) -> None:
    # rule ADR-5: a reinvite's code and the first one both arrive; the first accepted
    # takes the address up, and the other is refused, whichever login it asks for
    first = mh.host.addresses.invite(
        f"gail@{DOMAIN}", login_choice=LoginChoice.OWN_CHOICE, by=OPERATOR
    )
    second = mh.host.addresses.reinvite(
        f"gail@{DOMAIN}", login_choice=LoginChoice.OWN_CHOICE, by=OPERATOR
    )
    mails = {
        invitation: _code_of(m)
        for m in smtp.wait_for(2)
        for invitation in (first, second)
        if f"Invitation: {invitation}" in m.message.get_content()
    }
    mh.host.addresses.accept_invitation(
        second,
        mails[second],
        password="gail passphrase 1",
        login="gail@private.example",
    )
    with pytest.raises(NotPermitted, match="taken up already"):
        mh.host.addresses.accept_invitation(
            first,
            mails[first],
            password="gail passphrase 2",
            login="g2@private.example",
        )
    _, mailbox = mh.host.services.mailbox(f"gail@{DOMAIN}")
    assert len(mailbox.users) == 1


def test_invitation_with_a_bad_invitee_creates_nothing_and_can_be_sent_again(
    mh: Engine, smtp: SmtpSink
) -> None:
    # rule ADR-5
    head = mh.runner.log_position()
    with pytest.raises(InvalidInput):
        mh.host.addresses.invite(f"dan@{DOMAIN}", send_to="not an address", by=OPERATOR)
    assert mh.runner.log_position() == head
    first = mh.host.addresses.invite(
        f"dan@{DOMAIN}", send_to="dan@private.example", by=OPERATOR
    )
    second = mh.host.addresses.reinvite(
        f"dan@{DOMAIN}", send_to="dan@private.example", by=OPERATOR
    )
    assert first != second
    mails = smtp.wait_for(2)
    assert len({_code_of(m) for m in mails}) == 2
    assert len({m.message["Message-ID"] for m in mails}) == 2
    # Each invitation's mail is its own job: they may go out in either order.
    [mail] = [m for m in mails if f"Invitation: {second}" in m.message.get_content()]
    mh.host.addresses.accept_invitation(
        second, _code_of(mail), password="dan passphrase 1"
    )
    with pytest.raises(InvalidInput, match="not waiting"):
        mh.host.addresses.reinvite(f"dan@{DOMAIN}", by=OPERATOR)


def _code_of(mail: ReceivedMessage) -> str:
    match = re.search(r"Code: (\S+)", mail.message.get_content())
    assert match is not None
    return match.group(1)


def test_a_deleted_address_takes_its_auto_responder_with_it(mh: Engine) -> None:
    # rule ADR-11, rule RSP-1
    a, r = mh.host.addresses, mh.host.responders
    a.create_unassigned(f"ann@{DOMAIN}", by=OPERATOR)
    r.add(f"ann@{DOMAIN}", "Away", body="Away this week.", by=OPERATOR)
    r.activate(f"ann@{DOMAIN}", "Away", by=OPERATOR)
    raw = b"From: bob@example.net\r\nTo: ann@example.org\r\nSubject: Hi\r\n\r\nHi\r\n"
    assert r.deliver(f"ann@{DOMAIN}", "bob@example.net", raw).reply
    a.delete([f"ann@{DOMAIN}"], by=OPERATOR)
    a.create_unassigned(f"ann@{DOMAIN}", by=OPERATOR)
    decision = r.deliver(f"ann@{DOMAIN}", "carol@example.net", raw)
    assert not decision.reply
    assert decision.rule == "RSP-1"
    mh.host.settle()
    status = r.status(f"ann@{DOMAIN}")
    assert status is not None
    assert (status.active, status.messages) == (None, ())
    assert r.history(f"ann@{DOMAIN}") == []
