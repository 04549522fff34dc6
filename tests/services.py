"""Moved to the package ``tests.servers`` (one module per server); re-exported until
the lead rewrites the last ``from tests.services import ...`` lines (issue 8)."""

from tests.servers import (
    LOCALHOST,
    ReceivedMessage,
    RunningDovecot,
    RunningPostgres,
    RunningRedis,
    ServiceUnavailable,
    SmtpSink,
    start_dovecot,
    start_postgres,
    start_redis,
    start_smtp_sink,
)

__all__ = [
    "LOCALHOST",
    "ReceivedMessage",
    "RunningDovecot",
    "RunningPostgres",
    "RunningRedis",
    "ServiceUnavailable",
    "SmtpSink",
    "start_dovecot",
    "start_postgres",
    "start_redis",
    "start_smtp_sink",
]
