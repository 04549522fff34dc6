"""Real ``dramatiq`` worker processes (and other children) for the production-shape tests.

The command line names the worker process's composition root, the one module that puts
a ``dramatiq`` process together; a test starts it as a child of its own and stops it by
its own pid.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DRAMATIQ_WORKERS = [
    sys.executable,
    "-m",
    "dramatiq",
    "infrastructure.workerprocess",
    "--processes",
    "1",
    "--threads",
    "2",
]


@contextmanager
def child(
    argv: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A process of ours, its output in ``log``, stopped by its own pid when the block ends."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            cwd=REPO,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
