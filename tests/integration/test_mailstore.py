"""The mail store chosen from the configuration: maildirs, or the named Dovecot."""

from __future__ import annotations

from pathlib import Path

import pytest

from infrastructure.dovecot import DovecotMailStore
from infrastructure.maildir import MaildirMailStore
from infrastructure.mailstore import mail_store
from infrastructure.settings import ConfigurationError, Settings
from tests.integration.support import SECRET_TAIL


def _dovecot_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {
        "MAILHOST_IMAP_URL": "imap://127.0.0.1:1143",
        "MAILHOST_IMAP_MASTER_USER": "master",
        "MAILHOST_IMAP_MASTER_PASSWORD": SECRET_TAIL,
        "MAILHOST_IMAP_PASSWD_FILE": str(tmp_path / "users"),
    }
    env.update(overrides)
    return {key: value for key, value in env.items() if value}


def test_env_without_url_is_the_embedded_maildir_store(tmp_path: Path) -> None:
    store = mail_store(tmp_path, Settings.from_env({}, home=tmp_path).dovecot)
    assert isinstance(store, MaildirMailStore)
    assert store.root == tmp_path / "mail"


def test_env_with_url_is_the_dovecot_store(tmp_path: Path) -> None:
    store = mail_store(
        tmp_path, Settings.from_env(_dovecot_env(tmp_path), home=tmp_path).dovecot
    )
    assert isinstance(store, DovecotMailStore)
    assert store.passwd.path == tmp_path / "users"
    assert SECRET_TAIL not in repr(store)


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"MAILHOST_IMAP_MASTER_PASSWORD": ""}, "MAILHOST_IMAP_MASTER_PASSWORD is not"),
        ({"MAILHOST_IMAP_MASTER_USER": ""}, "MAILHOST_IMAP_MASTER_USER is not"),
        ({"MAILHOST_IMAP_PASSWD_FILE": ""}, "MAILHOST_IMAP_PASSWD_FILE is not"),
        ({"MAILHOST_IMAP_PASSWD_FILE": "users"}, "absolute path"),
        ({"MAILHOST_IMAP_PASSWD_FILE": "/nonexistent-dir/users"}, "does not exist"),
        ({"MAILHOST_IMAP_URL": "pop3://127.0.0.1"}, "MAILHOST_IMAP_URL: the scheme"),
        ({"MAILHOST_IMAP_MASTER_USER": "ad*min"}, "MAILHOST_IMAP_MASTER_USER"),
        ({"MAILHOST_IMAP_URL": ""}, "set but MAILHOST_IMAP_URL is not"),
    ],
)
def test_env_errors_are_clear_and_never_show_the_password(
    tmp_path: Path, overrides: dict[str, str], problem: str
) -> None:
    with pytest.raises(ConfigurationError, match=problem) as raised:
        mail_store(
            tmp_path,
            Settings.from_env(
                _dovecot_env(tmp_path, **overrides), home=tmp_path
            ).dovecot,
        )
    assert SECRET_TAIL not in str(raised.value)
