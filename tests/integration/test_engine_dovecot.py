"""The engine's address passwords are a real Dovecot's IMAP credentials (PWD-1, ADR-7, ADR-11)."""

from __future__ import annotations

from pathlib import Path

from imapclient import IMAPClient

from application.authorization import OPERATOR
from infrastructure.imap import imap_login_works
from tests.integration.importsupport import mail_store_env
from tests.integration.support import ORG, engine, with_user
from tests.servers import RunningDovecot

DOMAIN = "example.org"


def test_passwords_set_through_the_engine_open_imap_and_deletion_destroys(
    tmp_path: Path, dovecot_server: RunningDovecot
) -> None:
    # rule PWD-1, rule ADR-7, rule ADR-11, rule ADR-3, rule ADR-4
    env = mail_store_env(dovecot_server)
    url = env["MAILHOST_IMAP_URL"]
    with engine(tmp_path, env, background=False) as e:
        with_user(e, "admin@example.net")
        e.host.services.create(ORG, DOMAIN, quota=5, by=OPERATOR)
        chosen = e.host.addresses.create_unassigned(
            f"ann@{DOMAIN}", password="ann chosen passphrase", by=OPERATOR
        )
        generated = e.host.addresses.create_for_users(
            f"bob@{DOMAIN}", ["admin@example.net"], by=OPERATOR
        )
        assert generated.password is not None
        e.drain()  # the jobs the saves started write the passwd-file
        dovecot_server.wait_for_passwd_reload()
        assert imap_login_works(url, chosen.address, "ann chosen passphrase")
        assert imap_login_works(url, generated.address, generated.password)

        kept = e.host.addresses.change_password(
            f"ann@{DOMAIN}", "ann second passphrase", by=OPERATOR
        )
        assert kept == ()
        e.drain()
        dovecot_server.wait_for_passwd_reload()
        assert not imap_login_works(url, chosen.address, "ann chosen passphrase")
        assert imap_login_works(url, chosen.address, "ann second passphrase")

        with IMAPClient(
            dovecot_server.host, port=dovecot_server.port, ssl=False
        ) as imap:
            imap.login(chosen.address, "ann second passphrase")
            imap.create_folder("Projects")
            imap.append("INBOX", b"Subject: kept\r\n\r\nhello\r\n")
            imap.append("Projects", b"Subject: also\r\n\r\nhello\r\n")
        e.host.addresses.delete([f"ann@{DOMAIN}"], by=OPERATOR)
        assert e.host.services.get(DOMAIN).used == 1  # the slot is free at once
        e.drain()  # and the job destroys the content
        dovecot_server.wait_for_passwd_reload()
        assert not imap_login_works(url, chosen.address, "ann second passphrase")
        assert imap_login_works(url, generated.address, generated.password)
        assert e.host.services.get(DOMAIN).used == 1
