"""What every process of the LMTP listener shares: its log lines and its engine's close.

The accepting process, each decider (``infrastructure.lmtpdecider``) and the reply
sender write to the same standard error, each line saying which wrote it.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

from domain.text import printable

if TYPE_CHECKING:
    from infrastructure.bootstrap import Engine

log = logging.getLogger("mailhost.lmtp")

# Replies still queued at the stop get this long to leave; the rest stay due and the
# next process that runs jobs sends them.
SETTLE_S = 5.0
MAX_LOG_LINE = 500


class _OneLine(logging.Formatter):
    """Every record as one line: no traceback, every control shown as a code.

    Outside values (addresses) arrive quoted by ``shown``; link-like text is kept, as
    an address is the point of the line, and no reader clicks a log.
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = f"mailhost lmtp[{name}]" if name else "mailhost lmtp"

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            text += f" ({type(error).__name__}: {error})"
        level = record.levelname.lower()
        line = printable(" ".join(text.split()))[:MAX_LOG_LINE]
        return f"{self.name}: {level}: {line}"


def log_to_stderr(name: str = "") -> None:
    """One line per record, ``name`` saying which process of the listener wrote it."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine(name))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    log.setLevel(logging.INFO)
    # aiosmtpd logs every command line and address at INFO: our own lines say what
    # happened, neutralised, and never a message's content.
    logging.getLogger("mail.log").setLevel(logging.ERROR)


def close_engine(engine: Engine) -> None:
    """Give queued replies a moment to leave, then stop the relay and the stores."""
    try:
        engine.host.settle(SETTLE_S)
    except Exception as e:  # noqa: BLE001 - the decisions stand; their jobs stay due
        log.warning("replies still queued at the stop: %s: %s", type(e).__name__, e)
    engine.close()
