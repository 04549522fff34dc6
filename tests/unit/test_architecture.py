"""The layers contract: imports point inwards, and no package's modules import in a cycle.

The contracts live in pyproject.toml (``[tool.importlinter]``); this test runs them, so
the test command fails on an import pointing outwards (domain <- application <-
projections <- workers <- infrastructure) or on a cycle between sibling modules.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_import_contracts_hold() -> None:
    linter = (
        "import sys; from importlinter.cli import lint_imports;"
        " sys.exit(lint_imports(no_cache=True, no_logo=True))"
    )
    result = subprocess.run(
        [sys.executable, "-c", linter],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
