"""Structured logs: one JSON object per line, the correlation id, and no secret ever."""

from __future__ import annotations

import io
import json
import logging
from uuid import uuid4

from application.context import Actor, acting
from infrastructure.jsonlog import JsonFormatter, RedactingFormatter, redact

CANARY = "canary-Zq81x"


def _logged(formatter: logging.Formatter, emit: object) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"test.jsonlog.{uuid4()}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    emit(logger)  # type: ignore[operator]
    return stream.getvalue()


def _secrets(logger: logging.Logger) -> None:
    logger.info("login for ann failed: password=%s", CANARY)
    logger.info('sent {"token": "%s"} upstream', CANARY)
    logger.info("code: %s", CANARY)
    logger.info("broker redis://mh:%s@127.0.0.1:6379/0 down", CANARY)
    logger.info("extra fields", extra={"session_token": CANARY, "count": 3})
    try:
        _fail()
    except RuntimeError:
        logger.exception("step failed")


def _fail() -> None:
    raise RuntimeError(f"connect failed: secret={CANARY}")


def test_no_secret_reaches_either_format() -> None:
    for formatter in (JsonFormatter(), RedactingFormatter()):
        text = _logged(formatter, _secrets)
        assert CANARY not in text
        assert text.count("[redacted]") >= 5


def test_each_line_is_one_object_with_the_correlation_id() -> None:
    correlation = uuid4()

    def emit(logger: logging.Logger) -> None:
        logger.info("outside a command")
        with acting(Actor.system("relay"), correlation_id=correlation):
            logger.warning("inside", extra={"count": 3})

    lines = _logged(JsonFormatter(), emit).splitlines()
    first, second = (json.loads(line) for line in lines)
    assert "correlation_id" not in first
    assert second["correlation_id"] == str(correlation)
    assert second["actor"] == "system:relay"
    assert second["level"] == "warning"
    assert second["count"] == 3
    assert second["message"] == "inside"


def test_ordinary_text_is_left_alone() -> None:
    text = "relay recovered after 3.2 s; 12 jobs handed over"
    assert redact(text) == text
