"""Configuration from environment variables, read once at the edge."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from attrs import field, frozen

from application.sending import SendingLimits
from domain.responder import ResponderPolicy
from domain.security import SecurityPolicy

SQLITE = "eventsourcing.sqlite"
POSTGRES = "eventsourcing.postgres"


class ConfigurationError(ValueError):
    """A configuration variable has a value the engine cannot use."""


@frozen
class Settings:
    home: Path
    # The whole environment, passwords included: never shown.
    env: Mapping[str, str] = field(repr=False)
    persistence: str
    broker_url: str | None
    smtp_url: str | None
    mail_from: str
    geoip_csv: Path | None
    policy: SecurityPolicy
    secret_key_hex: str | None = field(repr=False)
    limits: SendingLimits
    responder_policy: ResponderPolicy

    @property
    def uses_postgres(self) -> bool:
        return self.persistence == POSTGRES

    @property
    def events_file(self) -> Path:
        return Path(self.env.get("SQLITE_DBNAME") or self.home / "events.sqlite")

    @property
    def outbox(self) -> Path:
        return self.home / "outbox"

    def log_env(self) -> dict[str, str]:
        """The variables eventsourcing reads, with the engine's mapper."""
        env = {
            k: v for k, v in self.env.items() if k.startswith(("POSTGRES_", "SQLITE_"))
        }
        env["PERSISTENCE_MODULE"] = self.persistence
        env["MAPPER_TOPIC"] = "infrastructure.mapper:CattrsMapper"
        env.setdefault("CREATE_TABLE", "y")
        if not self.uses_postgres:
            env["SQLITE_DBNAME"] = str(self.events_file)
        for name in ("CIPHER_TOPIC", "CIPHER_KEY", "COMPRESSOR_TOPIC"):
            if name in self.env:
                env[name] = self.env[name]
        return env

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, home: Path | str | None = None
    ) -> Settings:
        merged = dict(os.environ if env is None else {**os.environ, **env})
        root = Path(home or merged.get("MAILHOST_HOME") or ".mailhost").absolute()
        persistence = merged.get("PERSISTENCE_MODULE") or SQLITE
        if persistence not in {SQLITE, POSTGRES}:
            raise ConfigurationError(
                f"PERSISTENCE_MODULE must be {SQLITE} or {POSTGRES}, not {persistence!r}"
            )
        if persistence == POSTGRES and not merged.get("POSTGRES_DBNAME"):
            raise ConfigurationError(
                "PERSISTENCE_MODULE is postgres but POSTGRES_DBNAME is unset"
            )
        return cls(
            home=root,
            env=merged,
            persistence=persistence,
            broker_url=merged.get("MAILHOST_BROKER_URL") or None,
            smtp_url=merged.get("MAILHOST_SMTP_URL") or None,
            mail_from=merged.get("MAILHOST_MAIL_FROM") or "security-alerts@localhost",
            geoip_csv=Path(merged["MAILHOST_GEOIP_CSV"])
            if merged.get("MAILHOST_GEOIP_CSV")
            else None,
            policy=SecurityPolicy(
                failed_login_window=timedelta(
                    seconds=_number(merged, "MAILHOST_FAILED_LOGIN_WINDOW", 900)
                ),
                throttle_limit=int(_number(merged, "MAILHOST_LOGIN_THROTTLE", 100)),
            ),
            secret_key_hex=merged.get("MAILHOST_SECRET_KEY") or None,
            limits=SendingLimits(
                max_recipients=int(_number(merged, "MAILHOST_MAX_RECIPIENTS", 100)),
                max_per_day=int(_number(merged, "MAILHOST_MAX_MESSAGES_PER_DAY", 500)),
            ),
            responder_policy=ResponderPolicy(
                hourly_cap=int(_number(merged, "MAILHOST_RESPONDER_HOURLY_CAP", 20)),
                require_explicit_recipient=merged.get(
                    "MAILHOST_RESPONDER_EXPLICIT_RECIPIENT", "yes"
                ).lower()
                not in {"no", "0", "false"},
            ),
        )


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, not {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive")
    return value
