"""Real servers for integration tests, one module each.

Mocks of Redis, PostgreSQL, SMTP and IMAP agree with whatever the code under
test believes; only the real servers can disagree.  What they share (free ports,
OS users, stopping a child by its pid) is in ``tests.servers.process``.
"""

from tests.servers.dovecot import RunningDovecot, start_dovecot
from tests.servers.postgres import RunningPostgres, start_postgres
from tests.servers.process import LOCALHOST, ServiceUnavailable
from tests.servers.redis import RunningRedis, start_redis
from tests.servers.smtp import ReceivedMessage, SmtpSink, start_smtp_sink

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
