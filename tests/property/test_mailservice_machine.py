"""One MailService and the Mailbox aggregates it creates, driven by random commands.

A tiny model holds what the rules say: the quota (ADR-1), which casefolded local part
is taken by which kind of address and which mailbox (ADR-2), the catch-all (ADR-8) and
the deleted mailboxes (ADR-11). Every command's outcome (done, or refused with which
error) is predicted from the model; a refused command must leave the aggregates exactly
as they were. After every step the aggregates must agree with the model, and each of
them rebuilt from its events, or from a snapshot, through the real mapper must equal
the live one.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

import pytest
from eventsourcing.domain import Snapshot
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from domain.creation import CreationMode
from domain.errors import AlreadyExists, DomainError, InvalidInput, NotFound
from domain.hosted import AddressEntry, AddressKind
from domain.mailbox import Mailbox
from domain.mailservice import MailService, QuotaExceeded
from tests.strategies import (
    LOCAL_PART_CASES,
    LOCAL_PART_POOL,
    pooled_local_parts,
    redirect_targets,
    replay,
    through_mapper,
)

ORG = UUID("00000000-0000-4000-8000-00000000a001")
CREATOR = UUID("00000000-0000-4000-8000-00000000c001")
USERS = (CREATOR, *(UUID(f"00000000-0000-4000-8000-00000000c00{i}") for i in (2, 3)))
START = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
DOMAINS = ("example.org", "bücher.example")

# The model's own reading of ADR-1: every address takes a slot except an alias, which
# is a second name of a mailbox.
SLOT_KINDS = frozenset(
    {AddressKind.MAILBOX, AddressKind.REDIRECT, AddressKind.NO_REPLY}
)
SLOT_TAKERS = (AddressKind.MAILBOX, AddressKind.NO_REPLY, AddressKind.REDIRECT)
MODES = (CreationMode.FOR_SELF, CreationMode.FOR_OTHERS, CreationMode.UNASSIGNED)

ALL_SPELLINGS = tuple(
    str(getattr(base, case)()) for base in LOCAL_PART_POOL for case in LOCAL_PART_CASES
)


@dataclass
class Model:
    """What the rules say the service holds; nothing about how it holds it."""

    quota: int
    version: int = 1
    # casefolded local part -> (kind, id of the mailbox it delivers into)
    addresses: dict[str, tuple[AddressKind, UUID]] = field(default_factory=dict)
    catch_all: UUID | None = None
    # Who sees each mailbox in their mail app (ADR-3, ADR-4, ADR-6).
    links: dict[UUID, frozenset[UUID]] = field(default_factory=dict)
    deleted: set[UUID] = field(default_factory=set)

    def used(self) -> int:
        return sum(kind in SLOT_KINDS for kind, _ in self.addresses.values())

    def free(self) -> int:
        return self.quota - self.used()

    def is_mailbox(self, mailbox_id: UUID) -> bool:
        return (AddressKind.MAILBOX, mailbox_id) in self.addresses.values()

    def bad_rows(self, entries: list[AddressEntry]) -> set[int]:
        """The rows of a file that cannot be claimed (ADR-2, ADR-9)."""
        in_file = {e.mailbox_id for e in entries if e.kind is AddressKind.MAILBOX}
        bad: set[int] = set()
        seen: set[str] = set()
        for i, e in enumerate(entries):
            taken = e.key in self.addresses or e.key in seen
            dangling = e.kind is AddressKind.ALIAS and not (
                self.is_mailbox(e.mailbox_id) or e.mailbox_id in in_file
            )
            if taken or dangling:
                bad.add(i)
            seen.add(e.key)
        return bad

    def aliases_of(self, mailbox_id: UUID) -> set[str]:
        return {
            key
            for key, (kind, target) in self.addresses.items()
            if kind is AddressKind.ALIAS and target == mailbox_id
        }


class MailServiceMachine(RuleBasedStateMachine):
    # Every address created (any kind), as the entry that created it: later rules
    # may draw one that has since been deleted or taken again in another case.
    addresses = Bundle("addresses")
    # The entries of the mailboxes created one at a time (alias owners, catch-alls).
    mailboxes = Bundle("mailboxes")

    def __init__(self) -> None:
        super().__init__()
        self.service: MailService
        self.model: Model
        self.now = START
        self.boxes: dict[UUID, Mailbox] = {}
        self.replayed_service: MailService | None = None
        self.replayed_boxes: dict[UUID, Mailbox | None] = {}
        self.events: dict[UUID, list[Any]] = defaultdict(list)

    # -- plumbing ------------------------------------------------------------------

    def tick(self) -> datetime:
        self.now += timedelta(minutes=7)
        return self.now

    def sync(self) -> None:
        """Collect the new events of every aggregate and fold them onto its replay."""
        new = list(self.service.collect_events())
        self.events[self.service.id].extend(new)
        self.replayed_service = replay(through_mapper(new), self.replayed_service)
        for box_id, box in self.boxes.items():
            fresh = list(box.collect_events())
            self.events[box_id].extend(fresh)
            self.replayed_boxes[box_id] = replay(
                through_mapper(fresh), self.replayed_boxes.get(box_id)
            )

    def done(self) -> None:
        self.model.version += 1
        self.sync()

    def refused(
        self, error: type[DomainError], command: Callable[[], object]
    ) -> DomainError:
        """The command raises ``error`` and leaves every aggregate as it was."""
        service_before = copy.deepcopy(vars(self.service))
        boxes_before = {i: copy.deepcopy(vars(b)) for i, b in self.boxes.items()}
        with pytest.raises(error) as caught:
            command()
        assert self.service.pending_events == []
        assert vars(self.service) == service_before
        assert {i: vars(b) for i, b in self.boxes.items()} == boxes_before
        return caught.value

    def open_mailbox(
        self,
        entry: AddressEntry,
        mode: CreationMode,
        users: Iterable[UUID],
        targets: Iterable[str],
        at: datetime,
    ) -> None:
        """The Mailbox aggregate of a freshly claimed address."""
        chosen = tuple(users) if mode is CreationMode.FOR_OTHERS else ()
        # Derived ids are never reused, so a new address never meets an old mailbox.
        assert entry.mailbox_id not in self.boxes
        self.boxes[entry.mailbox_id] = Mailbox.create(
            entry.mailbox_id,
            self.service.id,
            self.service.address_of(entry),
            kind=entry.kind,
            mode=mode,
            creator_id=CREATOR,
            credential_id=uuid5(ORG, f"credential:{entry.mailbox_id}"),
            users=chosen,
            targets=targets if entry.kind is AddressKind.REDIRECT else (),
            at=at,
        )
        self.model.links[entry.mailbox_id] = frozenset(
            {CREATOR} if mode is CreationMode.FOR_SELF else chosen
        )

    def create_one(
        self,
        local: str,
        kind: AddressKind,
        mode: CreationMode,
        users: list[UUID],
        targets: list[str],
    ) -> Any:  # noqa: ANN401 - what Hypothesis's ``multiple`` returns
        m, at = self.model, self.tick()
        entry = AddressEntry(local, kind, self.service.new_mailbox_id(local))
        if entry.key in m.addresses:
            # rule ADR-2: unique across kinds, compared case-insensitively
            self.refused(AlreadyExists, lambda: self.service.claim([entry], at=at))
            return multiple()
        if m.free() < 1:
            # rule ADR-1: no free slot; the message names the numbers
            error = self.refused(
                QuotaExceeded, lambda: self.service.claim([entry], at=at)
            )
            assert f"{m.used()} of {m.quota} used" in str(error)
            return multiple()
        self.service.claim([entry], at=at)
        self.open_mailbox(entry, mode, users, targets, at)
        m.addresses[entry.key] = (kind, entry.mailbox_id)
        self.done()
        return multiple(entry)

    # -- rules ---------------------------------------------------------------------

    @initialize(domain=st.sampled_from(DOMAINS), quota=st.integers(1, 5))
    def open_service(self, domain: str, quota: int) -> None:
        # rule ADR-1: one domain, a quota of addresses
        self.service = MailService.create(ORG, domain, quota=quota, at=self.tick())
        self.model = Model(quota=quota)
        self.sync()

    @rule(
        target=mailboxes,
        local=pooled_local_parts(),
        mode=st.sampled_from(MODES),
        users=st.lists(st.sampled_from(USERS), min_size=1, max_size=2),
    )
    def create_mailbox(
        self,
        local: str,
        mode: CreationMode,
        users: list[UUID],
    ) -> Any:  # noqa: ANN401 - what Hypothesis's ``multiple`` returns
        # rule ADR-3, ADR-4, ADR-6: who is linked depends on the creation mode
        return self.create_one(local, AddressKind.MAILBOX, mode, users, [])

    @rule(
        target=addresses,
        local=pooled_local_parts(),
        kind=st.sampled_from(SLOT_TAKERS),
        mode=st.sampled_from(MODES),
        users=st.lists(st.sampled_from(USERS), min_size=1, max_size=2),
        forward_to=redirect_targets(),
    )
    def create_address(
        self,
        local: str,
        kind: AddressKind,
        mode: CreationMode,
        users: list[UUID],
        forward_to: list[str],
    ) -> Any:  # noqa: ANN401 - what Hypothesis's ``multiple`` returns
        # rule ADR-8 (no-reply), ADR-10 (redirection with its targets)
        return self.create_one(local, kind, mode, users, forward_to)

    @rule(
        target=addresses,
        local=pooled_local_parts(),
        owner=st.one_of(mailboxes, addresses),
    )
    def create_alias(self, local: str, owner: AddressEntry) -> Any:  # noqa: ANN401 - a rule's value or multiple()
        m, at = self.model, self.tick()
        entry = AddressEntry(local, AddressKind.ALIAS, owner.mailbox_id)
        if entry.key in m.addresses:
            # rule ADR-2
            self.refused(AlreadyExists, lambda: self.service.claim([entry], at=at))
            return multiple()
        if not m.is_mailbox(owner.mailbox_id):
            # An alias names a live mailbox: not a deleted one, a redirection or a
            # no-reply address.
            self.refused(InvalidInput, lambda: self.service.claim([entry], at=at))
            return multiple()
        # An alias takes no slot: it is created even when the quota is full.
        self.service.claim([entry], at=at)
        self.boxes[owner.mailbox_id].add_alias(local, at=at)
        m.addresses[entry.key] = (AddressKind.ALIAS, owner.mailbox_id)
        self.done()
        return multiple(entry)

    @rule(owner=st.one_of(mailboxes, addresses))
    def set_catch_all(self, owner: AddressEntry) -> None:
        # rule ADR-8: at most one catch-all, delivering into a mailbox of the domain
        m, at = self.model, self.tick()
        if not m.is_mailbox(owner.mailbox_id) or owner.mailbox_id == m.catch_all:
            self.refused(
                InvalidInput,
                lambda: self.service.set_catch_all(owner.mailbox_id, at=at),
            )
            return
        self.service.set_catch_all(owner.mailbox_id, at=at)
        m.catch_all = owner.mailbox_id
        self.done()

    @precondition(lambda self: self.model.catch_all is not None)
    @rule()
    def clear_catch_all(self) -> None:
        # rule ADR-8
        m, at = self.model, self.tick()
        self.service.set_catch_all(None, at=at)
        m.catch_all = None
        self.done()

    @rule(
        chosen=st.lists(st.one_of(addresses, mailboxes), min_size=1, max_size=3),
        spelling=st.sampled_from(LOCAL_PART_CASES),
    )
    def delete(self, chosen: list[AddressEntry], spelling: str) -> None:
        # rule ADR-11: one or several addresses at once; a mailbox's aliases go with it
        m, at = self.model, self.tick()
        # The admin may type the local part in another case (ADR-2).
        typed = [str(getattr(e.local_part, spelling)()) for e in chosen]
        keys = [e.key for e in chosen]
        if any(key not in m.addresses for key in keys):
            self.refused(NotFound, lambda: self.service.release(typed, at=at))
            return
        targets = [m.addresses[key] for key in keys]
        doomed = {box for kind, box in targets if kind is not AddressKind.ALIAS}
        gone = set(keys) | {
            key for key, (_, box) in m.addresses.items() if box in doomed
        }
        released = self.service.release(typed, at=at)
        assert [(e.key, e.kind, e.mailbox_id) for e in released] == [
            (key, kind, box) for key, (kind, box) in zip(keys, targets, strict=True)
        ]
        for box_id in sorted(doomed):
            self.boxes[box_id].delete(at=at)
            m.deleted.add(box_id)
        by_owner: dict[UUID, list[str]] = defaultdict(list)
        for entry, (kind, box) in zip(released, targets, strict=True):
            if kind is AddressKind.ALIAS and box not in doomed:
                by_owner[box].append(entry.local_part)
        for box_id, aliases in by_owner.items():
            self.boxes[box_id].remove_aliases(aliases, at=at)
        for key in gone:
            del m.addresses[key]
        if m.catch_all in doomed:
            m.catch_all = None
        self.done()

    @rule(added=st.integers(0, 3))
    def increase_quota(self, added: int) -> None:
        # rule ADR-1: the admin orders more slots
        m, at = self.model, self.tick()
        if added < 1:
            self.refused(
                InvalidInput, lambda: self.service.increase_quota(added, at=at)
            )
            return
        self.service.increase_quota(added, at=at)
        m.quota += added
        self.done()

    @rule(
        target=addresses,
        rows=st.lists(
            st.tuples(pooled_local_parts(), st.sampled_from(tuple(AddressKind))),
            min_size=1,
            max_size=4,
        ),
        data=st.data(),
    )
    def bulk_claim(
        self, rows: list[tuple[str, AddressKind]], data: st.DataObject
    ) -> Any:  # noqa: ANN401 - what Hypothesis's ``multiple`` returns
        # rule ADR-9 via ADR-1/ADR-2: a whole file's worth, all or nothing
        m, at = self.model, self.tick()
        owners = sorted({box for _, box in m.addresses.values()}, key=str)
        owners += [self.service.new_mailbox_id(local) for local, _ in rows]
        owners += sorted(m.deleted, key=str)[:1]
        entries = []
        for local, kind in rows:
            if kind is AddressKind.ALIAS:
                owner = data.draw(st.sampled_from(owners), label="alias owner")
            else:
                owner = self.service.new_mailbox_id(local)
            entries.append(AddressEntry(local, kind, owner))
        bad = m.bad_rows(entries)
        needed = sum(e.kind in SLOT_KINDS for e in entries)
        short = needed > m.free()
        problems = self.service.problems(entries)
        # The report names each bad row, and the missing slots (ADR-9, ADR-1).
        assert {p.index for p in problems if p.error is not QuotaExceeded} == bad
        assert any(p.error is QuotaExceeded for p in problems) is short
        if bad or short:
            error = self.refused(
                problems[0].error, lambda: self.service.claim(entries, at=at)
            )
            assert str(error).startswith(problems[0].reason)
            if short:
                quota = next(p for p in problems if p.error is QuotaExceeded)
                assert f"{m.used()} of {m.quota} used, {needed} more" in quota.reason
            return multiple()
        self.service.claim(entries, at=at)
        for e in entries:
            if e.kind is not AddressKind.ALIAS:
                self.open_mailbox(
                    e, CreationMode.UNASSIGNED, (), ["ann@elsewhere.example"], at
                )
        for e in entries:
            if e.kind is AddressKind.ALIAS:
                self.boxes[e.mailbox_id].add_alias(e.local_part, at=at)
            m.addresses[e.key] = (e.kind, e.mailbox_id)
        self.done()
        return multiple(*entries)

    @precondition(lambda self: self.model.free() == 0)
    @rule(local=pooled_local_parts())
    def delete_then_create_fits(self, local: str) -> None:
        """With the quota full, deleting one slot-taking address frees its slot."""
        # rule ADR-1, ADR-11
        m, at = self.model, self.tick()
        taken = sorted(k for k, (kind, _) in m.addresses.items() if kind in SLOT_KINDS)
        victim = taken[0]
        doomed = m.addresses[victim][1]
        self.service.release([victim], at=at)
        self.boxes[doomed].delete(at=at)
        m.deleted.add(doomed)
        for key in [k for k, (_, box) in m.addresses.items() if box == doomed]:
            del m.addresses[key]
        if m.catch_all == doomed:
            m.catch_all = None
        self.done()
        if local.casefold() in m.addresses:
            return
        at = self.tick()
        entry = AddressEntry(
            local, AddressKind.NO_REPLY, self.service.new_mailbox_id(local)
        )
        self.service.claim([entry], at=at)
        self.open_mailbox(entry, CreationMode.UNASSIGNED, (), (), at)
        m.addresses[entry.key] = (entry.kind, entry.mailbox_id)
        self.done()

    # -- invariants ----------------------------------------------------------------

    @invariant()
    def quota_is_never_exceeded(self) -> None:
        # rule ADR-1
        s, m = self.service, self.model
        assert s.used <= s.quota
        assert (s.quota, s.used, s.free) == (m.quota, m.used(), m.free())
        assert s.version == m.version

    @invariant()
    def local_parts_are_unique_case_insensitively(self) -> None:
        # rule ADR-2
        s = self.service
        folded = [e.local_part.casefold() for e in s.addresses.values()]
        assert len(folded) == len(set(folded))
        assert all(key == e.key for key, e in s.addresses.items())
        assert {k: (e.kind, e.mailbox_id) for k, e in s.addresses.items()} == (
            self.model.addresses
        )
        for spelling in ALL_SPELLINGS:
            if spelling.casefold() in self.model.addresses:
                assert s.entry(spelling).key == spelling.casefold()
            else:
                with pytest.raises(NotFound):
                    s.entry(spelling)

    @invariant()
    def at_most_one_catch_all_into_a_live_mailbox(self) -> None:
        # rule ADR-8
        catch_all = self.service.catch_all
        assert catch_all == self.model.catch_all
        if catch_all is not None:
            assert self.model.is_mailbox(catch_all)
            assert not self.boxes[catch_all].deleted

    @invariant()
    def a_create_that_fits_succeeds(self) -> None:
        # rule ADR-1, ADR-11: a deleted address's slot is free again
        s, m = self.service, self.model
        for spelling in ALL_SPELLINGS:
            if spelling.casefold() in m.addresses:
                continue
            entry = AddressEntry(
                spelling, AddressKind.MAILBOX, s.new_mailbox_id(spelling)
            )
            problems = s.problems([entry])
            if m.free() >= 1:
                assert problems == []
            else:
                assert [p.error for p in problems] == [QuotaExceeded]
            # An alias of a live mailbox fits whatever the quota.
            for kind, box in m.addresses.values():
                if kind is AddressKind.MAILBOX:
                    alias = AddressEntry(spelling, AddressKind.ALIAS, box)
                    assert s.problems([alias]) == []

    @invariant()
    def mailboxes_match_their_addresses(self) -> None:
        # rule ADR-11: a deleted mailbox keeps no address, and its aliases are gone
        s, m = self.service, self.model
        for box_id, box in self.boxes.items():
            own = [e for e in s.addresses.values() if e.mailbox_id == box_id]
            if box_id in m.deleted:
                assert box.deleted
                assert own == []
                assert box.linked == set()
                continue
            assert not box.deleted
            (entry,) = [e for e in own if e.kind is not AddressKind.ALIAS]
            assert (box.address, box.kind) == (s.address_of(entry), entry.kind)
            assert box.linked == m.links[box_id]
            assert {a.casefold() for a in box.aliases} == m.aliases_of(box_id)
        for key, (kind, box_id) in m.addresses.items():
            if kind is AddressKind.ALIAS:
                assert m.is_mailbox(box_id), key

    @invariant()
    def replay_through_the_mapper_equals_live(self) -> None:
        assert self.service.pending_events == []
        assert self.replayed_service == self.service
        for box_id, box in self.boxes.items():
            assert box.pending_events == []
            assert self.replayed_boxes[box_id] == box

    @invariant()
    def snapshot_through_the_mapper_equals_live(self) -> None:
        for aggregate in (self.service, *self.boxes.values()):
            (stored,) = through_mapper([Snapshot.take(aggregate)])
            assert stored.mutate(None) == aggregate

    def teardown(self) -> None:
        if self.events:
            assert replay(through_mapper(self.events[self.service.id])) == self.service
            for box_id, box in self.boxes.items():
                assert replay(through_mapper(self.events[box_id])) == box


MailServiceMachine.TestCase.settings = settings(
    max_examples=settings().max_examples, stateful_step_count=40
)
TestMailServiceMachine = MailServiceMachine.TestCase
