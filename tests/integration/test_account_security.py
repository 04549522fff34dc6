"""The account-security slice end to end on the embedded defaults, mail through SMTP."""

from __future__ import annotations

import time
from datetime import timedelta
from email import policy as email_policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from application.accounts import LoginRefused
from application.authorization import OPERATOR
from domain.errors import InvalidInput, NotFound, NotPermitted
from domain.organisation import Role
from domain.security import NotificationPreferences
from tests.integration.support import (
    LOGIN,
    ORG,
    PASSWORD,
    ManualClock,
    engine,
    event_count,
    stored_bytes,
    with_user,
)
from tests.servers import SmtpSink

LINK_MARKERS = ("http://", "https://", "www.", "<a ", "href")


def smtp_env(smtp: SmtpSink, **extra: str) -> dict[str, str]:
    return {"MAILHOST_SMTP_URL": smtp.url, **extra}


def test_first_user_is_admin_of_its_organisation(tmp_path: Path) -> None:
    # rule ORG-1
    with engine(tmp_path, background=False) as e:
        with_user(e)
        with_user(e, "bob@example.org")
        org = e.host.organisations.get(ORG)
        ann, bob = e.host.accounts.get(LOGIN), e.host.accounts.get("bob@example.org")
        assert org.members == {ann.id: Role.ADMIN, bob.id: Role.MEMBER}
        assert ann.organisation_id == org.id


def test_new_device_alerts_once_by_smtp_with_no_link(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    # rule SEC-1, rule ADV-5
    with engine(tmp_path, smtp_env(smtp)) as e:
        with_user(e)
        first = e.host.accounts.login(
            LOGIN, PASSWORD, ip="192.0.2.10", user_agent="Firefox"
        )
        again = e.host.accounts.login(
            LOGIN,
            PASSWORD,
            ip="192.0.2.11",
            user_agent="Firefox",
            device_token=first.device_token,
        )
        e.host.settle()
        assert (first.alerted, again.alerted) == (True, False)
        [mail] = smtp.wait_for(1)
        assert mail.rcpt_tos == [LOGIN]
        message = mail.message
        assert message["Subject"] == "Security alert: new sign-in to your account"
        assert message["Auto-Submitted"] == "auto-generated"
        body = message.get_content()
        assert "Firefox" in body
        assert "192.0.2.0/24" in body
        assert "recent-activity" in body
        assert not any(marker in body.lower() for marker in LINK_MARKERS)
        time.sleep(0.3)
        assert len(smtp.messages) == 1


def test_attacker_text_never_reaches_the_alert_mail(tmp_path: Path) -> None:
    # rule ADV-5, rule SEC-1: the User-Agent, the place and the display name are not
    # the provider's words; the alert mail is signed with the provider's name
    agent = "restore now at https://evil.example/restore \x1b[31m\x07"
    places = tmp_path / "places.csv"
    places.write_text('192.0.2.0,192.0.2.255,"Geneva \x1b]0;x\x07 evil.example/y"\n')
    home = tmp_path / "home"
    with engine(home, {"MAILHOST_GEOIP_CSV": str(places)}) as e:
        e.host.organisations.found(ORG, by=OPERATOR)
        e.host.accounts.register(ORG, LOGIN, PASSWORD, display_name="Ann", by=OPERATOR)
        session = e.host.accounts.login(
            LOGIN, PASSWORD, ip="192.0.2.10", user_agent=agent
        )
        e.host.settle()
    assert session.alerted
    [eml] = (home / "outbox").glob("*.eml")
    message = BytesParser(policy=email_policy.default).parsebytes(eml.read_bytes())
    assert message["Subject"] == "Security alert: new sign-in to your account"
    body = message.get_content()
    assert "Hello Ann," in body
    assert "Device: restore now at [link removed] [31m" in body
    assert "Where:  Geneva ]0;x [link removed]" in body
    assert "evil.example" not in body
    assert not any(marker in body.lower() for marker in LINK_MARKERS)
    assert "\x1b" not in body
    assert "\x07" not in body
    assert all(c in "\n\t" or c.isprintable() for c in body)


def test_failed_logins_send_one_mail_per_window_with_the_count(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    # rule SEC-2
    clock = ManualClock()
    with engine(tmp_path, smtp_env(smtp), clock=clock) as e:
        with_user(e)
        for i in range(40):
            clock.advance(timedelta(seconds=5))
            with pytest.raises(LoginRefused):
                e.host.accounts.login(LOGIN, f"wrong-{i}", ip="203.0.113.9")
        e.host.settle()
        assert smtp.messages == []  # the 15-minute window is still open
        clock.advance(timedelta(minutes=15))
        with pytest.raises(LoginRefused):  # opens the next window
            e.host.accounts.login(LOGIN, "wrong-again", ip="203.0.113.9")
        e.host.settle()
        [mail] = smtp.wait_for(1)
        assert "40 times" in mail.message.get_content()
        assert mail.message["Subject"].startswith("Security alert: wrong password")
        clock.advance(timedelta(minutes=16))
        e.host.settle()
        assert len(smtp.wait_for(2)) == 2
        assert "1 time " in smtp.messages[1].message.get_content()


def test_throttle_refuses_checks_past_the_limit(tmp_path: Path) -> None:
    # rule SEC-2 (OWASP ASVS 6.3.1: at most N failed checks per source per hour, a soft
    # lockout: the source is the network prefix, so the real user elsewhere still passes)
    with engine(tmp_path, {"MAILHOST_LOGIN_THROTTLE": "5"}, background=False) as e:
        with_user(e)
        for i in range(9):
            with pytest.raises(LoginRefused):
                e.host.accounts.login(LOGIN, f"wrong-{i}", ip="203.0.113.9")
        # The right password from the same /24 is still refused, unchecked.
        with pytest.raises(LoginRefused):
            e.host.accounts.login(LOGIN, PASSWORD, ip="203.0.113.10")
        # Another network is another source: the real user is not locked out.
        e.host.accounts.login(LOGIN, PASSWORD, ip="192.0.2.10")
        assert event_count(e, ".LoginFailed") == 5
        assert event_count(e, ".LoginThrottled") == 1
        assert event_count(e, ".LoggedIn") == 1


def test_password_re_entry_is_throttled_like_a_login(tmp_path: Path) -> None:
    # rule SEC-2: a stolen session cannot guess the password in the account settings
    with engine(tmp_path, {"MAILHOST_LOGIN_THROTTLE": "3"}, background=False) as e:
        with_user(e)
        for i in range(3):
            with pytest.raises(NotPermitted, match="wrong"):
                e.host.accounts.change_password(LOGIN, f"guess-{i}", "new passphrase 1")
        with pytest.raises(NotPermitted, match="too many"):
            e.host.accounts.change_password(LOGIN, PASSWORD, "new passphrase 1")
        with pytest.raises(NotPermitted, match="too many"):
            e.host.accounts.change_recovery_phone(
                LOGIN, "+41", "0791234567", password=PASSWORD
            )
        assert event_count(e, ".LoginFailed") == 3
        # The settings page is a source of its own: a login from a network still passes.
        result = e.host.accounts.login(LOGIN, PASSWORD, ip="192.0.2.10")
        assert result.account_id == e.host.accounts.get(LOGIN).id
        assert event_count(e, ".LoggedIn") == 1


def test_unknown_login_answers_like_a_known_one_and_mails_nobody(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    # rule SEC-2
    with engine(tmp_path, smtp_env(smtp)) as e:
        with_user(e)
        head = e.runner.log_position()
        with pytest.raises(LoginRefused) as unknown:
            e.host.accounts.login(
                "nobody@example.org", "whatever-pass", ip="203.0.113.9"
            )
        with pytest.raises(LoginRefused) as malformed:
            e.host.accounts.login("not an address", "whatever-pass", ip="203.0.113.9")
        with pytest.raises(LoginRefused) as known:
            e.host.accounts.login(LOGIN, "whatever-pass", ip="203.0.113.9")
        assert str(unknown.value) == str(known.value) == str(malformed.value)
        assert e.runner.log_position() == head + 1  # only the known account's failure
        e.host.settle()
        assert smtp.messages == []


def test_password_change_ends_other_sessions(tmp_path: Path, smtp: SmtpSink) -> None:
    # rule SEC-4
    with engine(tmp_path, smtp_env(smtp)) as e:
        with_user(e)
        laptop = e.host.accounts.login(LOGIN, PASSWORD, ip="192.0.2.10")
        phone = e.host.accounts.login(LOGIN, PASSWORD, ip="198.51.100.7")
        with pytest.raises(NotPermitted):
            e.host.accounts.change_password(
                LOGIN, "not-the-password", "new passphrase 1"
            )
        ended = e.host.accounts.change_password(
            LOGIN, PASSWORD, "new passphrase 1", keep_session_token=laptop.session_token
        )
        assert ended == (phone.session_id,)
        assert (
            e.host.accounts.session(laptop.session_token).session_id
            == laptop.session_id
        )
        with pytest.raises(NotPermitted):
            e.host.accounts.session(phone.session_token)
        with pytest.raises(LoginRefused):
            e.host.accounts.login(LOGIN, PASSWORD, ip="192.0.2.10")
        e.host.accounts.login(LOGIN, "new passphrase 1", ip="192.0.2.10")
        e.host.settle()
        subjects = sorted(m.message["Subject"] for m in smtp.wait_for(3))
        assert "Security alert: your account settings changed" in subjects


def test_recovery_phone_is_validated_and_stored_as_e164(tmp_path: Path) -> None:
    # rule SEC-5
    with engine(tmp_path, background=False) as e:
        with_user(e)
        head = e.runner.log_position()
        for code, number in (("+41", "12"), ("+999", "791234567"), ("+41", "07x 123")):
            with pytest.raises(InvalidInput):
                e.host.accounts.change_recovery_phone(
                    LOGIN, code, number, password=PASSWORD
                )
        assert e.runner.log_position() == head  # bad numbers store nothing
        with pytest.raises(NotPermitted):
            e.host.accounts.change_recovery_phone(
                LOGIN, "+41", "079 123 45 67", password=""
            )
        # A wrong re-entered password is a failed check, counted like a wrong login.
        assert event_count(e, ".LoginFailed") == 1
        stored = e.host.accounts.change_recovery_phone(
            LOGIN, "41", "079 123 45 67", password=PASSWORD
        )
        assert stored == "+41791234567"
        assert e.host.accounts.get(LOGIN).recovery_phone == "+41791234567"


def test_notification_choice_silences_that_kind_only(
    tmp_path: Path, smtp: SmtpSink
) -> None:
    # rule SEC-3
    with engine(tmp_path, smtp_env(smtp)) as e:
        with_user(e)
        e.host.accounts.choose_notifications(
            LOGIN, NotificationPreferences(new_location=False), by=OPERATOR
        )
        assert not e.host.accounts.login(LOGIN, PASSWORD, ip="192.0.2.10").alerted
        e.host.accounts.change_recovery_phone(
            LOGIN, "+41", "0791234567", password=PASSWORD
        )
        e.host.settle()
        [mail] = smtp.wait_for(1)
        assert (
            mail.message["Subject"] == "Security alert: your account settings changed"
        )
        kinds = [
            (a.kind, a.outcome)
            for a in e.host.activity.recent(e.host.accounts.get(LOGIN).id)
        ]
        assert ("login", "signed in") in kinds
        assert ("security", "notifications chosen") in kinds


def test_recent_activity_lists_logins_places_devices_failures_changes(
    tmp_path: Path,
) -> None:
    # rule SEC-3
    places = tmp_path / "places.csv"
    places.write_text('192.0.2.0,192.0.2.255,"Geneva, CH"\n')
    with engine(tmp_path / "home", {"MAILHOST_GEOIP_CSV": str(places)}) as e:
        with_user(e)
        e.host.accounts.login(
            LOGIN, PASSWORD, ip="192.0.2.10", user_agent="Firefox 133"
        )
        for _ in range(3):
            with pytest.raises(LoginRefused):
                e.host.accounts.login(
                    LOGIN, "wrong-pass", ip="203.0.113.9", user_agent="curl"
                )
        e.host.accounts.change_password(LOGIN, PASSWORD, "new passphrase 1")
        e.host.settle()
        entries = e.host.activity.recent(e.host.accounts.get(LOGIN).id)
        lines = [(x.kind, x.outcome, x.place, x.count) for x in entries]
        assert ("login", "signed in", "Geneva, CH", 1) in lines
        assert ("login", "wrong password", "local network", 3) in lines
        assert ("security", "password changed", "", 1) in lines
        assert entries == sorted(entries, key=lambda x: x.at, reverse=True) or entries


def test_no_secret_is_stored_in_plaintext(tmp_path: Path) -> None:
    # rule SEC-6, rule MFA-5
    home = tmp_path / "home"
    with engine(home) as e:
        with_user(e)
        result = e.host.accounts.login(LOGIN, PASSWORD, ip="192.0.2.10")
        with pytest.raises(LoginRefused):
            e.host.accounts.login(LOGIN, "canary-wrong-guess-91", ip="192.0.2.10")
        e.host.accounts.change_password(LOGIN, PASSWORD, "canary-new-Passw0rd-22")
        e.host.settle()
    data = stored_bytes(home)
    assert data  # the scan read real files
    for canary in (
        PASSWORD,
        "canary-new-Passw0rd-22",
        "canary-wrong-guess-91",
        result.session_token,
        result.device_token,
    ):
        assert canary.encode() not in data
    assert (
        b"$argon2id$v=19$m=19456,t=2,p=1$" in (home / "credentials.sqlite").read_bytes()
    )


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (
            lambda h: h.accounts.register(ORG, "not-an-address", PASSWORD, by=OPERATOR),
            InvalidInput,
        ),
        (
            lambda h: h.accounts.register(ORG, "carl@example.org", "", by=OPERATOR),
            InvalidInput,
        ),
        (
            lambda h: h.accounts.register(
                "No Such Org", "carl@example.org", PASSWORD, by=OPERATOR
            ),
            NotFound,
        ),
        (
            lambda h: h.accounts.change_password(
                "nobody@example.org", PASSWORD, "x" * 20
            ),
            NotFound,
        ),
        (lambda h: h.accounts.login(LOGIN, PASSWORD, ip="999.1.1.1"), InvalidInput),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    tmp_path: Path, call: object, error: type[Exception]
) -> None:
    with engine(tmp_path, background=False) as e:
        with_user(e)
        head = e.runner.log_position()
        with pytest.raises(error) as raised:
            call(e.host)  # type: ignore[operator]
        assert str(raised.value)
        assert PASSWORD not in str(raised.value)
        assert e.runner.log_position() == head
