"""MaildirMailStore, the embedded store, on a real file system (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from infrastructure.maildir import MaildirMailStore
from infrastructure.passwords import ssha512_encoding
from tests.integration.support import ARGON


def test_maildir_store_creates_a_maildir_per_address_and_destroys_it(
    tmp_path: Path,
) -> None:
    store = MaildirMailStore(tmp_path / "mail")
    store.set_password("Ann@Example.org", ARGON)
    store.set_password("bob@example.org", ssha512_encoding("generated-123456789"))
    maildir = tmp_path / "mail" / "example.org" / "ann" / "Maildir"
    assert {p.name for p in maildir.iterdir()} == {"cur", "new", "tmp"}
    (maildir / "new" / "1.host").write_text("Subject: hello\r\n\r\nhi\r\n")
    (maildir / "Archive" / "cur").mkdir(parents=True)
    assert store.passwd.addresses() == ["ann@example.org", "bob@example.org"]

    # rule ADR-11: the content goes with the address, and destroy is idempotent.
    store.destroy("ann@example.org")
    store.destroy("ann@example.org")

    assert not (tmp_path / "mail" / "example.org" / "ann").exists()
    assert store.passwd.addresses() == ["bob@example.org"]
    store.destroy("bob@example.org")
    assert not (tmp_path / "mail" / "example.org").exists()
    store.destroy("never@example.net")


def test_bulk_creation_is_one_rewrite(tmp_path: Path) -> None:
    store = MaildirMailStore(tmp_path / "mail")
    entries = {f"user{n}@example.org": "{SSHA512}c=" for n in range(1000)}
    rewrites: list[int] = []
    write = store.passwd._write

    def counted(lines: list[str], lock_fd: int) -> None:
        rewrites.append(len(lines))
        write(lines, lock_fd)

    store.passwd._write = counted  # type: ignore[method-assign]  # the count is the test
    store.set_passwords(entries)
    assert len(rewrites) == 1
    assert len(store.passwd.addresses()) == 1000


@pytest.mark.parametrize("address", ["a/b@example.org", "..@example.org", "a@.."])
def test_maildir_store_refuses_addresses_that_are_not_folder_names(
    tmp_path: Path, address: str
) -> None:
    store = MaildirMailStore(tmp_path / "mail")
    with pytest.raises(ValueError, match="cannot name a folder"):
        store.set_password(address, ARGON)
    with pytest.raises(ValueError, match="cannot name a folder"):
        store.destroy(address)
    assert not (tmp_path / "mail").exists()
