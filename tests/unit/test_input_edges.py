"""Input refused at the edge before it is taken apart: an address before its last "@" is
found (issue 7, item 15). A number of the command line: tests/unit/test_cli_arguments.py."""

from __future__ import annotations

import pytest

from application.mailservices import split_address
from domain.errors import InvalidInput


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
