"""Input refused at the edge before it is taken apart: an address before its last "@" is
found, a number of the command line before it reaches a store (issue 7, item 15)."""

from __future__ import annotations

from pathlib import Path

import pytest

from application.mailservices import split_address
from domain.errors import InvalidInput
from infrastructure import cli


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("carol@example.org\r\nBcc: evil@example.net", "U+000D"),
        ("carol@example.org\nRCPT TO:<evil@example.net>", "U+000A"),
        ("carol\x00@example.org", "U+0000"),
        ("\x1b[2Jcarol@example.org", "U+001B"),
        ("carol\udcff@example.org", "U+DCFF"),
    ],
)
def test_an_address_with_a_control_character_is_refused_before_it_is_split(
    address: str, problem: str
) -> None:
    # rule ADR-2: split on its last "@", the first case named a mailbox of example.net
    with pytest.raises(InvalidInput, match="address") as refused:
        split_address(address)
    assert problem in str(refused.value)


def test_an_address_is_split_on_its_last_at_sign() -> None:
    # rule ADR-2
    assert split_address(" ann@example.org ") == ("ann", "example.org")
    assert split_address('"a@b"@example.org') == ('"a@b"', "example.org")


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
    assert cli.bounded_int(1, cli.MAX_ACTIVITY_LIMIT)(text) == value
