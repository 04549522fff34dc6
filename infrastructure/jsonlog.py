"""Logs as one JSON object per line, with the correlation id, and never a secret.

A log aggregator reads a line per event and indexes its fields; the correlation id
joins a line to the command, the events and the jobs of one request (the audit trail
records the same id). Whatever the format, a record passes the redaction first: a
message, an argument or an exception may quote a password, a token, a code or a URL's
credentials, and none of them may reach a log.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Final

from application import context

REDACTED: Final = "[redacted]"
# Fields and words whose value is a secret: `password=...`, `token: ...`, `"code": "..."`.
SECRET_WORDS: Final = ("password", "passwd", "token", "secret", "code", "key")
_SECRET_VALUE = re.compile(
    r"(?i)(\b\w*(?:" + "|".join(SECRET_WORDS) + r")\w*\b['\"]?\s*[=:]\s*['\"]?)"
    r"([^\s'\",;&]+)"
)
# scheme://user:password@host: the password part.
_URL_CREDENTIALS = re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^/\s:@]*:)([^@\s/]+)(@)")
# LogRecord's own attributes; anything else on a record came from ``extra=``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def redact(text: str) -> str:
    """``text`` with every secret-looking value replaced."""
    text = _URL_CREDENTIALS.sub(rf"\1{REDACTED}\3", text)
    return _SECRET_VALUE.sub(rf"\1{REDACTED}", text)


def _secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, correlation, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        bound = context.current()
        if bound is not None:
            entry["correlation_id"] = str(bound.correlation_id)
            entry["actor"] = str(bound.actor)
        for name, value in record.__dict__.items():
            if name in _STANDARD or name.startswith("_"):
                continue
            entry[name] = REDACTED if _secret_name(name) else _plain(value)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=True)


class RedactingFormatter(logging.Formatter):
    """The text format, with the same redaction as the JSON one."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def _plain(value: object) -> object:
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    return redact(str(value))


def configure(log_format: str, level: int = logging.INFO) -> None:
    """The process's logging on stderr, in ``log_format`` ("text" or "json")."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if log_format == "json"
        else RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
