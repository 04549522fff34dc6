"""The mail store brought to the log's state (passwd-file lines, destroyed content).

The save of a command is its only write: the store follows by ``sync_store``, a job the
saved events start, so a crash after the save can never leave the store behind for
good (two writes, one of which may not happen, could). ``resync_store`` is the
operator's repair of one address.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from uuid import UUID

from attrs import frozen

from application.log import MailHostLog
from application.mailservices import MailServices, split_address
from application.ports import CredentialStore, MailStore
from domain.address import identity
from domain.errors import InvalidInput, NotFound
from domain.hosted import AddressKind, local_key
from domain.mailbox import Mailbox
from domain.mailservice import MailService

# Events after which a mail store write made from an older state may be stale.
_STORE_TOPICS = (
    "Mailbox.Created",
    "Mailbox.PasswordChanged",
    "Mailbox.Deleted",
    "MailService.AddressesClaimed",
)
_SYNC_ROUNDS = 5


@frozen
class StoreSync:
    log: MailHostLog
    services: MailServices
    credentials: CredentialStore
    store: MailStore

    def resync_store(self, address: str) -> None:
        """Write the address's current hash to the mail store now (an operator's repair).

        The jobs converge the store by themselves; this is for a store that was
        restored from a backup or edited by hand, and names what it cannot write.
        """
        _, mailbox = self.services.mailbox(address)
        if mailbox.credential_id is None:
            raise InvalidInput(f"{address} has no password")
        encoded = self.credentials.secret(mailbox.credential_id)
        if encoded is None:
            raise NotFound(
                f"the credential of {address} is missing; set a new password"
            )
        self.store.set_password(mailbox.address, encoded)

    def sync_store(self, mailbox_ids: Sequence[UUID]) -> None:
        """Bring the mail store to the log's current state for these mailboxes.

        Run by the job that ``Mailbox.Created``/``PasswordChanged``/``Deleted`` start,
        with a batch of them at once: whatever event started it, it reads the current
        state, so a repeated, late or reordered job writes the same thing. A deleted
        mailbox's content and login are destroyed and its credential forgotten; if its
        address lives again under a newer mailbox, that one's hash is written again.
        The hashes are written in one ``set_passwords`` call (a 20,000-row import must
        not rewrite the passwd-file 20,000 times). A write made from a state that
        changed meanwhile is redone, so two jobs racing cannot leave an old hash last.
        A store failure raises: the job is retried.
        """
        pending = list(dict.fromkeys(mailbox_ids))
        for _ in range(_SYNC_ROUNDS):
            decided_on = self._sync_once(pending)
            changed: dict[UUID, bool] = {}
            pending = [
                mailbox_id
                for mailbox_id, versions in decided_on.items()
                if self._stale(versions, changed)
            ]
            if not pending:
                return
        msg = f"{len(pending)} mailbox(es) kept changing while the store was written"
        raise RuntimeError(msg)

    def _sync_once(self, mailbox_ids: Iterable[UUID]) -> dict[UUID, dict[UUID, int]]:
        """One pass; for each mailbox, the versions its write was decided on."""
        decided_on: dict[UUID, dict[UUID, int]] = {}
        live: dict[str, Mailbox] = {}
        for mailbox_id in mailbox_ids:
            box = self.log.find(mailbox_id, Mailbox)
            if box is None:
                continue
            versions = decided_on[mailbox_id] = {box.id: box.version}
            if not box.deleted:
                live[identity(box.address)] = box
                continue
            self.store.destroy(box.address)
            if box.credential_id is not None:
                self.credentials.forget_secret(box.credential_id)
            successor = self._successor(box, versions)
            if successor is not None:
                live[identity(successor.address)] = successor
        hashes = {
            box.address: encoded
            for box in live.values()
            if box.credential_id is not None
            and (encoded := self.credentials.secret(box.credential_id)) is not None
        }
        if hashes:
            self.store.set_passwords(hashes)
        return decided_on

    def _successor(self, box: Mailbox, versions: dict[UUID, int]) -> Mailbox | None:
        """The live mailbox that has a deleted one's address now, if any."""
        service = self.log.find(box.service_id, MailService)
        if service is None:
            return None
        versions[service.id] = service.version
        entry = service.addresses.get(local_key(split_address(box.address)[0]))
        if entry is None or entry.mailbox_id == box.id:
            return None
        if entry.kind not in {AddressKind.MAILBOX, AddressKind.NO_REPLY}:
            return None
        successor = self.log.find(entry.mailbox_id, Mailbox)
        if successor is None or successor.deleted:
            return None
        versions[successor.id] = successor.version
        return successor

    def _stale(self, versions: dict[UUID, int], changed: dict[UUID, bool]) -> bool:
        """Whether an aggregate a write was decided on has a newer store event."""
        for aggregate_id, version in versions.items():
            if aggregate_id not in changed:
                changed[aggregate_id] = self._changed_since(aggregate_id, version)
            if changed[aggregate_id]:
                return True
        return False

    def _changed_since(self, aggregate_id: UUID, version: int) -> bool:
        newer = self.log.recorder.select_events(aggregate_id, gt=version)
        return any(event.topic.endswith(_STORE_TOPICS) for event in newer)
