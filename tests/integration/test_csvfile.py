"""The CSV file as bytes (application/csvfile.py): encoding, header, delimiter, limits (ADR-9)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from application.csvfile import MAX_ROWS, RowError
from infrastructure.cli.bulkreport import report_text
from tests.integration.bulksupport import (
    HEADER,
    World,
    _errors,
    open_world,
)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from open_world(tmp_path)


# -- hostile files -----------------------------------------------------------------------


def test_a_bom_and_a_semicolon_header_are_accepted(world: World) -> None:
    # rule ADR-9
    text = "Address;Kind;Users\r\nsemi;mailbox;ann@example.org\r\n"
    report = world.apply(b"\xef\xbb\xbf" + text.encode())
    assert report.ok, report_text(report)
    assert [c.address for c in report.created] == ["semi@example.com"]


def test_a_file_that_is_not_utf8_is_refused_naming_line_and_offset(
    world: World,
) -> None:
    # rule ADR-9
    data = (HEADER + "ok\n" + "rené\n").encode("latin-1")
    report = world.apply(data)
    offset = data.index(b"\xe9")
    assert _errors(report) == [(3, "")]
    assert f"byte 0xE9 at offset {offset}" in report.errors[0].message
    assert "save the file as CSV UTF-8" in report.errors[0].message
    assert world.apply("\ufeffaddress\nx\n".encode("utf-16")).errors[0].message == (
        "the file is UTF-16, not UTF-8: save it as CSV UTF-8 and try again"
    )


def test_missing_and_unknown_columns_are_named(world: World) -> None:
    # rule ADR-9
    report = world.check("kind,users\nmailbox,\n")
    assert _errors(report) == [(1, "")]
    assert "no address column" in report.errors[0].message

    report = world.check("address,Colour,=cmd|' /C calc'!A0,password\nx,,,\n")
    assert [e.line for e in report.errors] == [1]
    message = report.errors[0].message
    assert "unknown column(s) 'colour', \"=cmd|' /c calc'!a0\", 'password'" in message
    assert "passwords are not taken from a file" in message

    # No header at all: the first row is read as one, and refused.
    report = world.check("alice,mailbox\n")
    assert "unknown column(s) 'alice', 'mailbox'" in report.errors[0].message
    assert "the first line must be the header" in report.errors[1].message

    assert world.check("address,address\nx,y\n").errors[0].message == (
        "column(s) address appear more than once in the header"
    )
    assert world.check(b"").errors[0].message.startswith("the file is empty")
    assert (
        world.check(b"\xef\xbb\xbf\n\n")
        .errors[0]
        .message.startswith("the file is empty")
    )
    assert world.check(HEADER).errors == (
        RowError(0, "", "the file has a header but no rows"),
    )


def test_limits_of_size_and_rows_are_refused_before_any_row_is_checked(
    world: World,
) -> None:
    # rule ADR-9
    big = HEADER.encode() + b"a" * (10 * 1024 * 1024)
    report = world.check(big)
    assert _errors(report) == [(0, "")]
    assert "at most 10,485,760 (10 MiB)" in report.errors[0].message

    many = HEADER + "\n".join(f"r{i}" for i in range(MAX_ROWS + 1)) + "\n"
    started = time.perf_counter()
    report = world.check(many)
    assert time.perf_counter() - started < 10
    assert _errors(report) == [(MAX_ROWS + 2, "")]
    assert "more than 100,000 rows" in report.errors[0].message
