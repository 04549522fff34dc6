"""Configuration: a value the engine cannot use is a ConfigurationError naming it.

Issue 7 item 15: ``nan``/``inf`` gave a traceback, an ``amqp://`` broker URL failed only
when the first job was handed over. Issue 7 item 6: ``CREATE_TABLE`` was overridden.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eventsourcing.postgres import PostgresFactory
from hypothesis import given
from hypothesis import strategies as st

from infrastructure.settings import (
    POSTGRES,
    POSTGRES_FACTORY,
    ConfigurationError,
    Settings,
)

COUNTS = (
    "MAILHOST_LOGIN_THROTTLE",
    "MAILHOST_MAX_RECIPIENTS",
    "MAILHOST_MAX_MESSAGES_PER_DAY",
    "MAILHOST_RESPONDER_HOURLY_CAP",
)
NUMBERS = ("MAILHOST_FAILED_LOGIN_WINDOW", *COUNTS)
UNUSABLE = (
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1e999",
    "-5",
    "0",
    "-0.0",
    "1e300",
    "twelve",
    "0x10",
    "5 apples",
)


def settings(env: dict[str, str], tmp_path: Path) -> Settings:
    return Settings.from_env(env, home=tmp_path)


def refused(env: dict[str, str], tmp_path: Path, match: str) -> str:
    """The message of the ConfigurationError that reading ``env`` must raise."""
    with pytest.raises(ConfigurationError, match=match) as caught:
        settings(env, tmp_path)
    return str(caught.value)


@pytest.mark.parametrize("name", NUMBERS)
@pytest.mark.parametrize("raw", UNUSABLE)
def test_unusable_numbers_are_configuration_errors_naming_the_variable(
    name: str, raw: str, tmp_path: Path
) -> None:
    refused({name: raw}, tmp_path, name)


@pytest.mark.parametrize("name", COUNTS)
@pytest.mark.parametrize("raw", ["2.5", "0.5", "100.01"])
def test_a_count_must_be_a_whole_number(name: str, raw: str, tmp_path: Path) -> None:
    refused({name: raw}, tmp_path, f"{name} must be a whole number")


def test_usable_numbers_are_read(tmp_path: Path) -> None:
    read = settings(
        {
            "MAILHOST_LOGIN_THROTTLE": "1e3",
            "MAILHOST_MAX_RECIPIENTS": "7.0",
            "MAILHOST_FAILED_LOGIN_WINDOW": "0.5",
            "MAILHOST_RESPONDER_HOURLY_CAP": " 3 ",
        },
        tmp_path,
    )
    assert read.policy.throttle_limit == 1000
    assert read.limits.max_recipients == 7
    assert read.policy.failed_login_window.total_seconds() == 0.5
    assert read.responder_policy.hourly_cap == 3


@given(raw=st.text(max_size=12))
def test_any_text_is_a_number_or_a_configuration_error(raw: str) -> None:
    try:
        read = Settings.from_env({"MAILHOST_LOGIN_THROTTLE": raw}, home="/nonexistent")
    except ConfigurationError as e:
        assert "MAILHOST_LOGIN_THROTTLE" in str(e)  # noqa: PT017 - either outcome is fine
    else:
        assert read.policy.throttle_limit >= 1


def _bad_urls(variable: str, secret: str, *urls: str) -> list[Any]:
    """Cases of ``variable`` refused; ``secret`` is a password some of the URLs carry."""
    return [pytest.param(variable, url, secret, id=url) for url in urls]


@pytest.mark.parametrize(
    ("variable", "url", "secret"),
    [
        *_bad_urls(
            "MAILHOST_BROKER_URL",
            "guest",
            "amqp://guest:guest@127.0.0.1:5672/",
            "http://127.0.0.1:6379",
            "127.0.0.1:6379",
            "redis://",
            "redis://127.0.0.1:99999/0",
            "redis://127.0.0.1:port/0",
        ),
        *_bad_urls(
            "MAILHOST_SMTP_URL",
            "secret",
            "http://mail.example:25",
            "smtps://",
            "mail.example:25",
            "smtp://user:secret@mail.example:70000",
            "lmtp://mail.example",
        ),
    ],
)
def test_a_url_of_the_wrong_kind_is_refused_without_its_password(
    variable: str, url: str, secret: str, tmp_path: Path
) -> None:
    # the broker must be Redis, the relay SMTP; the URL may carry a password
    message = refused({variable: url}, tmp_path, variable)
    assert secret not in message


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "rediss://user:pw@redis.example:6380/1",
        "unix:///run/redis.sock",
    ],
)
def test_redis_broker_urls_are_accepted(url: str, tmp_path: Path) -> None:
    assert settings({"MAILHOST_BROKER_URL": url}, tmp_path).broker_url == url


def test_smtp_urls_are_accepted(tmp_path: Path) -> None:
    url = "smtp://user:pw@127.0.0.1:2525?starttls=1"
    assert settings({"MAILHOST_SMTP_URL": url}, tmp_path).smtp_url == url


@pytest.mark.parametrize("raw", ["n", "no", "No", "false", "0", "off"])
def test_an_operators_create_table_no_reaches_the_log(raw: str, tmp_path: Path) -> None:
    # Issue 7 item 6: log_env used to set CREATE_TABLE=y whatever the operator said.
    read = settings({"CREATE_TABLE": raw}, tmp_path)
    assert not read.create_tables
    assert read.log_env()["CREATE_TABLE"] == "n"


def test_create_table_defaults_to_yes_and_refuses_nonsense(tmp_path: Path) -> None:
    assert settings({}, tmp_path).log_env()["CREATE_TABLE"] == "y"
    refused({"CREATE_TABLE": "maybe"}, tmp_path, "CREATE_TABLE")


def test_postgres_start_ups_use_the_serialised_factory(tmp_path: Path) -> None:
    read = settings({"PERSISTENCE_MODULE": POSTGRES, "POSTGRES_DBNAME": "x"}, tmp_path)
    assert read.uses_postgres
    module, _, name = POSTGRES_FACTORY.partition(":")
    factory = getattr(__import__(module, fromlist=[name]), name)
    assert issubclass(factory, PostgresFactory)
    assert read.log_env()["PERSISTENCE_MODULE"] == POSTGRES_FACTORY
