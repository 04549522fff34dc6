"""Hostile cases for the engine's configuration: environment variables that must stop
``open_engine`` before it starts (see ``test_api_hostile``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infrastructure.settings import ConfigurationError
from tests.hostile.api_cases import Case, bind

if TYPE_CHECKING:
    from tests.hostile.conftest import World

HOSTILE_ENVIRONMENT = (
    ("MAILHOST_LOGIN_THROTTLE", "nan"),
    ("MAILHOST_LOGIN_THROTTLE", "inf"),
    ("MAILHOST_FAILED_LOGIN_WINDOW", "nan"),
    ("MAILHOST_FAILED_LOGIN_WINDOW", "1e400"),
    ("MAILHOST_MAX_RECIPIENTS", "inf"),
    ("MAILHOST_RESPONDER_HOURLY_CAP", "-inf"),
    ("MAILHOST_SMTP_URL", "smtp://127.0.0.1:25\r\nX-Evil: 1"),
    ("MAILHOST_MAIL_FROM", "alerts@example.org\r\nBcc: evil@example.net"),
    ("MAILHOST_SECRET_KEY", "zz" * 32),
)


def cases() -> list[Case]:
    return [
        Case(
            f"open_engine/{variable}[{value[:20]}]",
            bind(_open, {variable: value}),
            (variable,),
            (ConfigurationError,),
        )
        for variable, value in HOSTILE_ENVIRONMENT
    ]


def _open(w: World, env: dict[str, str]) -> object:
    from infrastructure.bootstrap import open_engine  # noqa: PLC0415 - env cleared first

    engine = open_engine(w.home, env, background=False)
    engine.close()
    return engine
