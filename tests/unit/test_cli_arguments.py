"""The command line's argument types (``infrastructure/cli/arguments.py``): a number is
refused by the parser, with the option's name, before it reaches a store (issue 7, item 15)."""

from __future__ import annotations

from pathlib import Path

import pytest

from infrastructure import cli
from infrastructure.cli.accounts import MAX_ACTIVITY_LIMIT
from infrastructure.cli.arguments import bounded_int


@pytest.mark.parametrize("limit", [str(10**30), "0", "-1", "10001", "1e3", "ten"])
def test_an_activity_limit_out_of_range_is_a_usage_error(
    limit: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # rule SEC-3: a 31-digit limit overflowed SQLite and exited 1 with "failed"
    home = tmp_path / "home"
    with pytest.raises(SystemExit) as stopped:
        cli.main(["activity", "ann@example.org", "--limit", limit, "--home", str(home)])
    assert stopped.value.code == 2
    assert "--limit" in capsys.readouterr().err
    assert not home.exists()


@pytest.mark.parametrize(("text", "value"), [("1", 1), ("50", 50), ("10000", 10_000)])
def test_an_activity_limit_in_range_is_read(text: str, value: int) -> None:
    # rule SEC-3
    assert bounded_int(1, MAX_ACTIVITY_LIMIT)(text) == value
