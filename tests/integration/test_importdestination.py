"""The import destinations against a real Dovecot: the provider's IMAP and the maildirs.

The same sample is read from a source Dovecot and written to both destinations; the
keys each destination computes from what it holds must equal the source's, and a
Dovecot pointed at the maildirs the embedded store wrote must see the same folders,
keys, flags, keywords and dates (the layout is Dovecot's ``LAYOUT=fs``).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from application.importports import SourceMessage
from domain.importplan import MessageKey, SpecialUse
from infrastructure.dovecot import MasterLogin
from infrastructure.imapsource import ImapMailSource, read_keys
from infrastructure.importdestination import (
    ImapImportDestination,
    MaildirImportDestination,
)
from infrastructure.maildir import MaildirMailStore
from infrastructure.maildirsource import MaildirMailSource
from tests.integration.importsupport import (
    MAX_MAIL_SIZE,
    PASSWORD,
    TRICKY_FOLDERS,
    fill,
    give_to_dovecot,
    new_user,
    plain_source,
    sample_messages,
)

if TYPE_CHECKING:
    from tests.servers import RunningDovecot

# Source folders, each landing under its own name.
FOLDERS = ("INBOX", *TRICKY_FOLDERS)


def _read_source(server: RunningDovecot) -> dict[tuple[str, ...], list[SourceMessage]]:
    user = new_user(server)
    fill(server, user, {name: sample_messages() for name in FOLDERS})
    mailbox = ImapMailSource().open(plain_source(server, user), PASSWORD)
    try:
        return {
            folder.path: list(
                mailbox.fetch(folder, [uid for uid, _ in mailbox.keys(folder)])
            )
            for folder in mailbox.folders()
            if folder.selectable
        }
    finally:
        mailbox.close()


@pytest.fixture(scope="module")
def source_mail(
    dovecot_server: RunningDovecot,
) -> dict[tuple[str, ...], list[SourceMessage]]:
    return _read_source(dovecot_server)


def _destination(server: RunningDovecot, **options: Any) -> ImapImportDestination:  # noqa: ANN401 - test parameters
    return ImapImportDestination(MasterLogin(server.access, timeout=10), **options)


def _master_fetch(server: RunningDovecot, user: str, folder: str) -> list[Any]:
    """(key, flags, date) of every message, read by Dovecot itself."""
    mailbox = _destination(server).open(user)
    client = mailbox.client
    try:
        client.select_folder(folder, readonly=True)
        keys = read_keys(client)
        found = client.fetch([uid for uid, _ in keys], ["FLAGS", "INTERNALDATE"])
    finally:
        mailbox.close()
    return [
        (
            key,
            {flag.decode() for flag in found[uid][b"FLAGS"]} - {"\\Recent"},
            found[uid][b"INTERNALDATE"],
        )
        for uid, key in keys
    ]


def _copy(mailbox: Any, mail: dict[tuple[str, ...], list[SourceMessage]]) -> None:  # noqa: ANN401 - either destination
    mailbox.ensure_folder(("Archive",), container=True)
    mailbox.ensure_folder(("Archive", "2023"), container=True)
    for path, messages in mail.items():
        mailbox.ensure_folder(path)
        assert mailbox.append(path, messages) == [None] * len(messages)


def _expected(messages: list[SourceMessage]) -> list[Any]:
    return [(m.key, set(m.flags), m.internal_date) for m in messages]


@pytest.mark.parametrize("multiappend", [None, False])
def test_imap_destination_keeps_keys_flags_dates_and_containers(
    tls_dovecot: RunningDovecot,
    source_mail: dict[tuple[str, ...], list[SourceMessage]],
    multiappend: bool | None,
) -> None:
    # rule IMP-3: the destination's keys equal the source's, twins included
    user = new_user(tls_dovecot)
    destination = _destination(tls_dovecot, multiappend=multiappend)
    mailbox = destination.open(user)
    calls = Counter[str]()
    for method in ("multiappend", "append"):
        real = getattr(mailbox.client, method)

        def spy(*args: Any, _real: Any = real, _name: str = method) -> Any:  # noqa: ANN401 - imapclient is untyped
            calls[_name] += 1
            return _real(*args)

        setattr(mailbox.client, method, spy)
    try:
        special = mailbox.special_folders()
        _copy(mailbox, source_mail)
        assert Counter(mailbox.keys(("INBOX", "Sub"))) == Counter(
            m.key for m in source_mail["INBOX", "Sub"]
        )
        assert mailbox.keys(("Never", "Created")) == []
        listed = {name: flags for flags, _, name in mailbox.client.list_folders()}
    finally:
        mailbox.close()
    assert special[SpecialUse.SENT] == ("Sent",)
    assert special[SpecialUse.JUNK] == ("Junk",)
    assert b"\\Noselect" in listed["Archive/2023"]  # stays a container
    assert "_~b" not in listed
    assert "a~b" in listed
    for path, messages in source_mail.items():
        got = _master_fetch(tls_dovecot, user, "/".join(path))
        assert got == _expected(messages), path
    if multiappend is None:  # Dovecot advertises MULTIAPPEND
        assert calls["multiappend"] == len(source_mail)
        assert calls["append"] == 0
    else:
        assert calls["multiappend"] == 0
        assert calls["append"] == sum(len(m) for m in source_mail.values())


def test_a_message_the_server_refuses_is_reported_alone(
    tls_dovecot: RunningDovecot,
    source_mail: dict[tuple[str, ...], list[SourceMessage]],
) -> None:
    small = source_mail["INBOX",][:2]
    raw = b"Subject: too big\r\n\r\n" + b"x" * (MAX_MAIL_SIZE + 10) + b"\r\n"
    big = SourceMessage(
        uid=99,
        raw=raw,
        flags=(),
        internal_date=small[0].internal_date,
        key=MessageKey("0" * 64, len(raw)),
    )
    user = new_user(tls_dovecot)
    mailbox = _destination(tls_dovecot).open(user)
    try:
        mailbox.ensure_folder(("Target",))
        results = mailbox.append(("Target",), [small[0], big, small[1]])
        keys = mailbox.keys(("Target",))
    finally:
        mailbox.close()
    assert results == [None, "too_large", None]
    assert keys == [small[0].key, small[1].key]


def test_maildir_destination_is_what_dovecot_sees_and_a_maildir_source_reads(
    tls_dovecot: RunningDovecot,
    source_mail: dict[tuple[str, ...], list[SourceMessage]],
) -> None:
    # rule IMP-3 (same keys on every side), rule IMP-5 (a hosted address as a source)
    user = new_user(tls_dovecot)
    store = MaildirMailStore(tls_dovecot.home_root)  # Dovecot's homes are %d/%n here
    mailbox = MaildirImportDestination(store).open(user)
    try:
        assert mailbox.special_folders()[SpecialUse.SENT] == ("Sent",)
        _copy(mailbox, source_mail)
        _copy(mailbox, {("INBOX",): source_mail["INBOX",][:1]})  # one more, later
        keys = mailbox.keys(("Entwürfe",))
    finally:
        mailbox.close()
    assert Counter(keys) == Counter(m.key for m in source_mail["Entwürfe",])
    give_to_dovecot(tls_dovecot.home_root)
    for path, messages in source_mail.items():
        expected = _expected(messages)
        if path == ("INBOX",):
            expected += _expected(messages[:1])
        got = _master_fetch(tls_dovecot, user, "/".join(path))
        assert got == expected, path

    hosted = MaildirMailSource(store).open_address(user)
    try:
        folders = {folder.path: folder for folder in hosted.folders()}
        assert not folders["Archive", "2023"].selectable
        for path, messages in source_mail.items():
            keys_read = hosted.keys(folders[path])
            read = list(hosted.fetch(folders[path], [uid for uid, _ in keys_read]))
            if path != ("INBOX",):
                assert _expected(read) == _expected(messages), path
                assert [m.raw for m in read] == [m.raw for m in messages]
    finally:
        hosted.close()


def test_bare_lf_maildirs_written_by_dovecot_copy_with_the_same_keys(
    tls_dovecot: RunningDovecot,
) -> None:
    # rule IMP-3, rule IMP-5: Dovecot stores LF only; sizes are counted with CRLF
    user = new_user(tls_dovecot)
    fill(tls_dovecot, user, {"INBOX": sample_messages()})
    inbox = tls_dovecot.home(user) / "Maildir"
    # A file as another delivery agent leaves it: bare LF, no S= or W= in its name.
    (inbox / "new" / "1000000000.M1P1.elsewhere").write_bytes(
        b"Subject: dropped in\nX-Bare: lf\n\nbody\nmore\n"
    )
    give_to_dovecot(tls_dovecot.home_root)
    expected = _master_fetch(tls_dovecot, user, "INBOX")
    store = MaildirMailStore(tls_dovecot.home_root)
    hosted = MaildirMailSource(store).open_address(user)
    try:
        folder = next(f for f in hosted.folders() if f.path == ("INBOX",))
        keys = hosted.keys(folder)
        messages = list(hosted.fetch(folder, [uid for uid, _ in keys]))
    finally:
        hosted.close()
    assert Counter(key for _, key in keys) == Counter(key for key, _, _ in expected)
    copy = new_user(tls_dovecot)
    mailbox = MaildirImportDestination(store).open(copy)
    try:
        assert mailbox.append(("INBOX",), messages) == [None] * len(messages)
    finally:
        mailbox.close()
    give_to_dovecot(tls_dovecot.home_root)
    copied = _master_fetch(tls_dovecot, copy, "INBOX")
    assert Counter(key for key, _, _ in copied) == Counter(
        key for key, _, _ in expected
    )
