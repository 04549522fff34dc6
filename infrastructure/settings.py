"""Configuration from environment variables, read once at the edge."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from attrs import field, frozen

from application.mailservices import split_address
from application.sending import SendingLimits
from domain.errors import InvalidInput
from domain.responderpolicy import ResponderPolicy
from domain.security import SecurityPolicy
from infrastructure.dovecot import MASTER_SEPARATOR, DovecotAccess, check_master_user
from infrastructure.imap import (
    ENV_MASTER_PASSWORD,
    ENV_MASTER_USER,
    ENV_URL,
    ImapEndpoint,
)
from infrastructure.lmtpwire import ENV_LMTP, ListenAddress, parse_listen

ENV_PASSWD_FILE: Final = "MAILHOST_IMAP_PASSWD_FILE"  # noqa: S105 - a name, not a secret
SQLITE = "eventsourcing.sqlite"
POSTGRES = "eventsourcing.postgres"
# eventsourcing's PostgreSQL persistence with its start-up DDL serialised (item 6).
POSTGRES_FACTORY = "infrastructure.pglog:SerialisedPostgresFactory"
BROKER_SCHEMES = ("redis", "rediss", "unix")
SMTP_SCHEMES = ("smtp", "smtps")
MAX_WHOLE = 1_000_000_000
MAX_SECONDS = 366 * 24 * 3600
_YES = {"y", "yes", "t", "true", "on", "1"}
_NO = {"n", "no", "f", "false", "off", "0"}


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
    # Seconds a worker's claim on a job and a relay's hand-over stand (workers.execution).
    job_claim_lease: float = 300.0
    job_handoff_lease: float = 60.0
    # The provider's Dovecot (MAILHOST_IMAP_*), or None for the embedded maildirs.
    dovecot: DovecotAccess | None = field(default=None, repr=False)
    # Attempts of an import whose source stays unreachable before it fails so.
    import_attempts: int = 6
    # Seconds one read from an import source may wait; a whole answer gets ten times
    # that (infrastructure.imapguard).
    import_timeout: float = 30.0
    # Aggregates a long-running decider (``mailhost lmtp``) keeps in eventsourcing's
    # cache, each brought up to date from the log on every load (MAILHOST_AGGREGATE_
    # CACHE_MAXSIZE); bounded, since an unbounded cache grows with every address.
    aggregate_cache: int = 2048
    # MAILHOST_LMTP: where `mailhost lmtp` listens by default (and clients connect).
    lmtp: ListenAddress | None = None
    # MAILHOST_LOG_FORMAT: "json" for one object per line (infrastructure.jsonlog).
    log_format: str = "text"
    # MAILHOST_AUDIT_KEY: the chain's Ed25519 signing key (default: in the home);
    # MAILHOST_AUDIT_CHECKPOINT_EVERY: links between signed checkpoints.
    audit_key: Path | None = None
    audit_checkpoint_every: int = 1000

    @property
    def uses_postgres(self) -> bool:
        return self.persistence == POSTGRES

    @property
    def events_file(self) -> Path:
        return Path(self.env.get("SQLITE_DBNAME") or self.home / "events.sqlite")

    @property
    def audit_key_file(self) -> Path:
        return self.audit_key or self.home / "audit-signing.key"

    @property
    def outbox(self) -> Path:
        return self.home / "outbox"

    @property
    def create_tables(self) -> bool:
        """``CREATE_TABLE``: no when the operator's migration tool makes the tables."""
        return (self.env.get("CREATE_TABLE") or "y").strip().lower() in _YES

    def log_env(self, *, cached: bool = False) -> dict[str, str]:
        """The variables eventsourcing reads, with the engine's mapper.

        ``cached``: the log keeps ``aggregate_cache`` aggregates and fast-forwards each
        from the log when loaded, so a stale copy only ever makes a save conflict.
        """
        env = {
            k: v for k, v in self.env.items() if k.startswith(("POSTGRES_", "SQLITE_"))
        }
        env["PERSISTENCE_MODULE"] = POSTGRES_FACTORY if self.uses_postgres else SQLITE
        env["MAPPER_TOPIC"] = "infrastructure.mapper:CattrsMapper"
        env["CREATE_TABLE"] = "y" if self.create_tables else "n"
        if not self.uses_postgres:
            env["SQLITE_DBNAME"] = str(self.events_file)
        for name in ("CIPHER_TOPIC", "CIPHER_KEY", "COMPRESSOR_TOPIC"):
            if name in self.env:
                env[name] = self.env[name]
        # Under the log's name too: eventsourcing looks for MAILHOST_<NAME> first, and
        # the operator's MAILHOST_AGGREGATE_CACHE_MAXSIZE must not switch it on here.
        size = str(self.aggregate_cache) if cached else ""
        env["AGGREGATE_CACHE_MAXSIZE"] = env["MAILHOST_AGGREGATE_CACHE_MAXSIZE"] = size
        env["AGGREGATE_CACHE_FASTFORWARD"] = "y"
        return env

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, home: Path | str | None = None
    ) -> Settings:
        merged = dict(os.environ if env is None else {**os.environ, **env})
        root = Path(home or merged.get("MAILHOST_HOME") or ".mailhost").absolute()
        persistence = _persistence(merged)
        broker_url = _url(merged, "MAILHOST_BROKER_URL", BROKER_SCHEMES)
        return cls(
            home=root,
            env=merged,
            persistence=persistence,
            broker_url=broker_url,
            smtp_url=_url(merged, "MAILHOST_SMTP_URL", SMTP_SCHEMES),
            mail_from=_mail_from(merged),
            geoip_csv=Path(merged["MAILHOST_GEOIP_CSV"])
            if merged.get("MAILHOST_GEOIP_CSV")
            else None,
            policy=SecurityPolicy(
                failed_login_window=timedelta(
                    seconds=positive_number(merged, "MAILHOST_FAILED_LOGIN_WINDOW", 900)
                ),
                throttle_limit=_whole(merged, "MAILHOST_LOGIN_THROTTLE", 100),
            ),
            secret_key_hex=merged.get("MAILHOST_SECRET_KEY") or None,
            limits=SendingLimits(
                max_recipients=_whole(merged, "MAILHOST_MAX_RECIPIENTS", 100),
                max_per_day=_whole(merged, "MAILHOST_MAX_MESSAGES_PER_DAY", 500),
            ),
            responder_policy=ResponderPolicy(
                hourly_cap=_whole(merged, "MAILHOST_RESPONDER_HOURLY_CAP", 20),
                require_explicit_recipient=merged.get(
                    "MAILHOST_RESPONDER_EXPLICIT_RECIPIENT", "yes"
                ).lower()
                not in {"no", "0", "false"},
            ),
            job_claim_lease=positive_number(merged, "MAILHOST_JOB_CLAIM_LEASE", 300),
            # A hand-over to Redis is kept by Redis; one to an in-memory queue dies
            # with its process, so it expires sooner.
            job_handoff_lease=positive_number(
                merged,
                "MAILHOST_JOB_HANDOFF_LEASE",
                600 if broker_url else 60,
            ),
            dovecot=_dovecot(merged),
            import_attempts=_whole(merged, "MAILHOST_IMPORT_ATTEMPTS", 6),
            aggregate_cache=_whole(merged, "MAILHOST_AGGREGATE_CACHE_MAXSIZE", 2048),
            import_timeout=positive_number(merged, "MAILHOST_IMPORT_TIMEOUT", 30, 3600),
            lmtp=_lmtp(merged),
            log_format=_choice(merged, "MAILHOST_LOG_FORMAT", ("text", "json")),
            audit_key=Path(merged["MAILHOST_AUDIT_KEY"])
            if merged.get("MAILHOST_AUDIT_KEY")
            else None,
            audit_checkpoint_every=_whole(
                merged, "MAILHOST_AUDIT_CHECKPOINT_EVERY", 1000
            ),
        )


def _lmtp(env: Mapping[str, str]) -> ListenAddress | None:
    """``unix:/path`` or ``127.0.0.1:PORT``; unset: no listener is configured."""
    raw = (env.get(ENV_LMTP) or "").strip()
    if not raw:
        return None
    try:
        return parse_listen(raw)
    except ValueError as e:
        raise ConfigurationError(f"{ENV_LMTP}: {e}") from None


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (the first when unset), case-insensitive."""
    raw = (env.get(name) or choices[0]).strip().lower()
    if raw not in choices:
        raise ConfigurationError(f"{name} must be one of {', '.join(choices)}")
    return raw


def _persistence(env: Mapping[str, str]) -> str:
    """The event log's module, checked with the variables it needs."""
    persistence = env.get("PERSISTENCE_MODULE") or SQLITE
    if persistence not in {SQLITE, POSTGRES}:
        raise ConfigurationError(
            f"PERSISTENCE_MODULE must be {SQLITE} or {POSTGRES}, not {persistence!r}"
        )
    if persistence == POSTGRES and not env.get("POSTGRES_DBNAME"):
        raise ConfigurationError(
            "PERSISTENCE_MODULE is postgres but POSTGRES_DBNAME is unset"
        )
    create_table = (env.get("CREATE_TABLE") or "y").strip().lower()
    if create_table not in _YES | _NO:
        raise ConfigurationError(
            f"CREATE_TABLE must be yes or no, not {env['CREATE_TABLE']!r}"
        )
    return persistence


def positive_number(
    env: Mapping[str, str], name: str, default: float, maximum: float = MAX_SECONDS
) -> float:
    """A positive, finite number of seconds: ``nan``, ``inf`` and ``1e999`` are refused."""
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, not {raw!r}") from None
    if not math.isfinite(value):
        raise ConfigurationError(f"{name} must be a finite number, not {raw!r}")
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, not {raw!r}")
    if value > maximum:
        raise ConfigurationError(f"{name} must be at most {maximum:g}, not {raw!r}")
    return value


def _whole(env: Mapping[str, str], name: str, default: int) -> int:
    """A count: a whole positive number (``2.5`` is refused, ``1e3`` is 1000)."""
    value = positive_number(env, name, default, MAX_WHOLE)
    if not float(value).is_integer():
        raise ConfigurationError(
            f"{name} must be a whole number, not {env.get(name)!r}"
        )
    return int(value)


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    """A URL of one of ``schemes``, checked here so a bad one never reaches a worker."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    wanted = " or ".join(f"{s}://" for s in schemes)
    try:
        parts = urlsplit(raw)
        _port = parts.port  # raises for a port that is no number or out of range
    except ValueError:
        raise ConfigurationError(f"{name} must be a {wanted} URL") from None
    # The URL itself is never echoed: it may carry a password.
    if parts.scheme.lower() not in schemes:
        found = f"{parts.scheme}://" if parts.scheme else "one without a scheme"
        raise ConfigurationError(f"{name} must be a {wanted} URL, not {found}")
    if parts.scheme.lower() != "unix" and not parts.hostname:
        raise ConfigurationError(f"{name} must name a host ({wanted}host:port)")
    return raw


def _mail_from(env: Mapping[str, str]) -> str:
    """The sender of the engine's own mails: one address, nothing a header could split on."""
    raw = (env.get("MAILHOST_MAIL_FROM") or "security-alerts@localhost").strip()
    try:
        _, domain = split_address(raw)  # refuses control characters before splitting
    except InvalidInput:
        domain = ""
    if not domain or " " in raw:
        raise ConfigurationError(
            "MAILHOST_MAIL_FROM must be one address like alerts@example.org,"
            " no blanks or controls"
        )
    return raw


def _dovecot(env: Mapping[str, str]) -> DovecotAccess | None:
    """The Dovecot MAILHOST_IMAP_* name, checked; None when MAILHOST_IMAP_URL is unset."""
    url = (env.get(ENV_URL) or "").strip()
    others = (ENV_MASTER_USER, ENV_MASTER_PASSWORD, ENV_PASSWD_FILE)
    if not url:
        stray = [name for name in others if env.get(name)]
        if stray:
            raise ConfigurationError(
                f"{', '.join(stray)} set but {ENV_URL} is not; set {ENV_URL} to use "
                "that Dovecot, or unset them for the embedded maildir store"
            )
        return None
    try:
        ImapEndpoint.parse(url)
    except ValueError as exc:
        raise ConfigurationError(f"{ENV_URL}: {exc}") from None
    missing = [name for name in others if not env.get(name)]
    if missing:
        raise ConfigurationError(f"{ENV_URL} is set but {', '.join(missing)} is not")
    passwd_file = Path(env[ENV_PASSWD_FILE])
    if not passwd_file.is_absolute():
        raise ConfigurationError(
            f"{ENV_PASSWD_FILE} must be an absolute path (the file Dovecot reads), "
            f"not {str(passwd_file)!r}"
        )
    if not passwd_file.parent.is_dir():
        raise ConfigurationError(
            f"{ENV_PASSWD_FILE}: the folder {str(passwd_file.parent)!r} does not exist"
        )
    access = DovecotAccess(
        url, env[ENV_MASTER_USER], env[ENV_MASTER_PASSWORD], passwd_file
    )
    try:
        check_master_user(access.master_user, access.master_password, MASTER_SEPARATOR)
    except ValueError as exc:
        raise ConfigurationError(f"{ENV_MASTER_USER}: {exc}") from None
    return access
