"""The corpus on a real Dovecot: what ``load_into`` stores reads back as expected.

The import tests compare a destination with ``expected_multiset``; this shows that the
corpus side computes keys (header block, CRLF size) exactly as Dovecot serves them,
bare-LF and separator-less messages included, and that flags, keywords and internal
dates survive APPEND (rule IMP-3: nothing lost or doubled is only checkable so).
"""

from __future__ import annotations

import secrets

from imapclient import IMAPClient

from tests.mailcorpus import expected_attributes, expected_multiset, generate
from tests.mailcorpusimap import load_into, read_attributes, read_multiset
from tests.servers import RunningDovecot


def test_a_loaded_corpus_reads_back_as_expected(dovecot_server: RunningDovecot) -> None:
    user = f"corpus-{secrets.token_hex(4)}"
    dovecot_server.add_user(user, "corpus-password")
    corpus = generate(11, messages=300, total_mb=4)
    with IMAPClient(dovecot_server.host, dovecot_server.port, ssl=False) as client:
        client.login(user, "corpus-password")
        assert load_into(client, corpus) == corpus.messages
        assert read_multiset(client) == expected_multiset(corpus)
        assert read_attributes(client) == expected_attributes(corpus)
        # The container-only parent stays a container (\Noselect), not a folder.
        flags = {name: f for f, _, name in client.list_folders()}
        assert b"\\Noselect" in flags["Archiv"]
