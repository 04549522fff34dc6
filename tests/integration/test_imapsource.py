"""ImapMailSource against a real Dovecot: folders, keys, streaming fetch, TLS, failures."""

from __future__ import annotations

import base64
import os
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from application.importports import ImportSourceError
from domain.importplan import SpecialUse, message_key
from domain.importsource import ImportSource, Security
from infrastructure import imapsource
from infrastructure.imapsource import ImapMailSource
from tests.integration.importsupport import (
    PASSWORD,
    TRICKY_FOLDERS,
    fill,
    imap,
    new_user,
    plain_source,
    sample_messages,
)
from tests.servers.process import free_port
from tests.servers.tlsca import make_ca

if TYPE_CHECKING:
    from pathlib import Path

    from tests.servers import RunningDovecot

FOLDERS = (*TRICKY_FOLDERS, "Sent Items")


def _refused(source: ImportSource, password: str = PASSWORD) -> ImportSourceError:
    with pytest.raises(ImportSourceError) as caught:
        ImapMailSource(timeout=5).open(source, password).close()
    error = caught.value
    assert password not in str(error)
    assert password not in repr(error)
    return error


def test_folders_are_decoded_split_and_containers_unselectable(
    dovecot_server: RunningDovecot,
) -> None:
    user = new_user(dovecot_server)
    fill(dovecot_server, user, {name: [] for name in FOLDERS})
    mailbox = ImapMailSource().open(plain_source(dovecot_server, user), PASSWORD)
    try:
        folders = mailbox.folders()
    finally:
        mailbox.close()
    by_path = {folder.path: folder for folder in folders}
    assert folders[0].path == ("INBOX",)
    # modified UTF-7 decoded; dots and ~ kept; "/" split; a \Noselect parent unselectable
    assert by_path[("Entwürfe",)].name == "Entwürfe"
    assert by_path[("v1.2",)].selectable
    assert by_path[("a~b",)].selectable
    assert by_path[("Archive", "2023", "Q1")].name == "Archive/2023/Q1"
    assert not by_path[("Archive", "2023")].selectable
    assert by_path[("INBOX", "Sub")].selectable
    paths = [folder.path for folder in folders]
    for path in paths:  # parents before children
        for depth in range(1, len(path)):
            assert paths.index(path[:depth]) < paths.index(path)


def test_keys_and_fetch_keep_flags_dates_and_twins_without_marking_seen(
    dovecot_server: RunningDovecot,
) -> None:
    # rule IMP-3: twins are two keys; the key is the same however it is computed
    user = new_user(dovecot_server)
    sample = sample_messages()
    fill(dovecot_server, user, {"INBOX": sample})
    mailbox = ImapMailSource().open(plain_source(dovecot_server, user), PASSWORD)
    try:
        inbox = next(f for f in mailbox.folders() if f.path == ("INBOX",))
        keys = mailbox.keys(inbox)
        total = mailbox.total(inbox)
        messages = list(mailbox.fetch(inbox, [uid for uid, _ in keys]))
    finally:
        mailbox.close()
    assert len(keys) == len(sample) == total.messages
    assert Counter(key for _, key in keys)[keys[4][1]] == 2  # the twins
    assert [m.key for m in messages] == [key for _, key in keys]
    assert total.size == sum(key.size for _, key in keys)
    for message, (_raw, flags, date) in zip(messages, sample, strict=True):
        assert set(message.flags) == set(flags)  # keywords kept, \Recent dropped
        assert message.internal_date == date
        header = message.raw.split(b"\r\n\r\n", 1)[0]
        assert message.key.size == len(message.raw)
        assert message.key == message_key(
            message.raw if b"\r\n\r\n" not in message.raw else header + b"\r\n\r\n",
            len(message.raw),
        )
    client = imap(dovecot_server, user)
    try:
        client.select_folder("INBOX", readonly=True)
        unseen = client.search(["UNSEEN"])
    finally:
        client.logout()
    assert len(unseen) == sum("\\Seen" not in flags for _, flags, _ in sample)


def test_fetch_streams_in_batches_bounded_in_bytes(
    dovecot_server: RunningDovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = new_user(dovecot_server)
    attachment = base64.encodebytes(os.urandom(1_500_000))
    big = [
        (
            b"Subject: attachment %d\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" % n + attachment,
            (),
            None,
        )
        for n in range(6)
    ]
    fill(dovecot_server, user, {"Big": big})
    source = ImapMailSource(batch_bytes=4_500_000, batch_messages=200)
    mailbox = source.open(plain_source(dovecot_server, user), PASSWORD)
    fetched: list[list[int]] = []
    real_fetch = imapsource._fetch

    def spy(client: Any, uids: list[int], items: list[str], *cap: int) -> Any:  # noqa: ANN401 - imapclient is untyped
        if "BODY.PEEK[]" in items:
            fetched.append(list(uids))
        return real_fetch(client, uids, items, *cap)

    monkeypatch.setattr(imapsource, "_fetch", spy)
    try:
        folder = next(f for f in mailbox.folders() if f.path == ("Big",))
        keys = mailbox.keys(folder)
        stream = mailbox.fetch(folder, [uid for uid, _ in keys])
        first = next(stream)
        assert len(fetched) == 1  # nothing past the first batch is read yet
        rest = list(stream)
    finally:
        mailbox.close()
    assert [first.uid] + [m.uid for m in rest] == [uid for uid, _ in keys]
    size = {uid: key.size for uid, key in keys}
    assert len(fetched) == 3  # two 2 MB messages per 4.5 MB batch
    assert all(sum(size[uid] for uid in batch) <= 4_500_000 for batch in fetched)


def test_a_folder_deleted_after_the_listing_has_vanished(
    dovecot_server: RunningDovecot,
) -> None:
    user = new_user(dovecot_server)
    fill(dovecot_server, user, {"Doomed": sample_messages()[:1]})
    mailbox = ImapMailSource().open(plain_source(dovecot_server, user), PASSWORD)
    try:
        folder = next(f for f in mailbox.folders() if f.path == ("Doomed",))
        client = imap(dovecot_server, user)
        client.delete_folder("Doomed")
        client.logout()
        with pytest.raises(ImportSourceError) as caught:
            mailbox.keys(folder)
    finally:
        mailbox.close()
    assert caught.value.reason == "folder_vanished"
    assert not caught.value.transient


def test_wrong_password_is_authentication_failed(
    dovecot_server: RunningDovecot,
) -> None:
    user = new_user(dovecot_server)
    error = _refused(plain_source(dovecot_server, user), "wrong-" + PASSWORD)
    assert error.reason == "authentication_failed"
    assert not error.transient


def test_nothing_listening_is_unreachable_and_transient() -> None:
    source = ImportSource("127.0.0.1", free_port(), Security.NONE, "u@example.org")
    error = _refused(source)
    assert (error.reason, error.transient) == ("unreachable", True)


def test_plain_text_off_loopback_is_refused_before_connecting() -> None:
    source = ImportSource("192.0.2.10", 143, Security.NONE, "u@example.org")
    error = _refused(source)
    assert (error.reason, error.transient) == ("tls_failed", False)


def _tls(server: RunningDovecot, user: str, **changes: Any) -> ImportSource:  # noqa: ANN401 - test parameters
    assert server.tls_port is not None
    fields: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": server.tls_port,
        "security": Security.TLS,
        "user": user,
        "ca_file": str(server.ca_file),
    }
    fields.update(changes)
    return ImportSource(**fields)


def test_tls_with_the_private_ca_lists_special_use_folders(
    tls_dovecot: RunningDovecot,
) -> None:
    user = new_user(tls_dovecot)
    for source in (
        _tls(tls_dovecot, user),
        _tls(tls_dovecot, user, port=tls_dovecot.port, security=Security.STARTTLS),
    ):
        mailbox = ImapMailSource().open(source, PASSWORD)
        try:
            special = {f.special_use: f.path for f in mailbox.folders()}
        finally:
            mailbox.close()
        assert special[SpecialUse.SENT] == ("Sent",)
        assert special[SpecialUse.TRASH] == ("Trash",)


def test_tls_is_refused_with_a_wrong_ca_a_wrong_name_or_the_system_cas(
    tls_dovecot: RunningDovecot, tmp_path: Path
) -> None:
    user = new_user(tls_dovecot)
    other_ca, _key = make_ca(tmp_path, "another CA")
    for source in (
        _tls(tls_dovecot, user, ca_file=str(other_ca)),
        _tls(tls_dovecot, user, host="localhost"),  # the certificate names 127.0.0.1
        _tls(tls_dovecot, user, ca_file=None),
        _tls(tls_dovecot, user, ca_file=str(tmp_path / "missing.pem")),
    ):
        error = _refused(source)
        assert (error.reason, error.transient) == ("tls_failed", False), source


def test_starttls_is_mandatory_when_asked(dovecot_server: RunningDovecot) -> None:
    user = new_user(dovecot_server)  # this server offers no STARTTLS
    source = ImportSource(
        dovecot_server.host, dovecot_server.port, Security.STARTTLS, user
    )
    error = _refused(source)
    assert (error.reason, error.transient) == ("tls_failed", False)
