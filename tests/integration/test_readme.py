"""README.md promises: its embedding example runs, and its set-up commands are CI's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_embedding_example_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    block = (
        README.split("<!-- embed-example")[1].split("```python\n")[1].split("```")[0]
    )
    code = block.replace('"/tmp/mailhost-example"', repr(str(tmp_path)))
    exec(compile(code, "README.md", "exec"), {})  # noqa: S102 - the README's own code
    out = capsys.readouterr().out
    assert "new-location alert: True" in out
    assert "login signed in Firefox" in out


def test_exactly_two_setup_commands_and_ci_runs_the_test_one() -> None:
    setup = README.split("## Set up")[1].split("\n## ")[0]
    commands = re.findall(r"```sh\n#[^\n]*\n([^\n]+)\n```", setup)
    assert len(commands) == 2
    assert commands[0].endswith("mailhost demo")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1].replace("python3.11", '"$PYTHON"') in ci or commands[1] in ci
