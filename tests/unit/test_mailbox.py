"""Mailbox: creation modes (ADR-3, ADR-4, ADR-6), permissions (ORG-3), password change
(ADR-7), redirections (ADR-10), sending limits (SND-3) and the allow-list (ADV-1 input)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.creation import CreationMode
from domain.errors import DomainError, InvalidInput, NotFound, NotPermitted
from domain.hosted import AddressKind
from domain.mailbox import Mailbox
from domain.mailboxfacts import MAX_ALLOW_LIST, MAX_USAGE_MB
from domain.mailservice import MailService
from domain.permissions import ALL_PERMISSIONS, Permission
from domain.redirect import MAX_REDIRECT_TARGETS
from tests.strategies import increasing_times, replay, through_mapper
from tests.unit.eventsupport import fixed_ids

ORG, BOX, SERVICE = fixed_ids("b001", "b002", "b003")
CREATOR, ALICE, BOB = fixed_ids("b0c1", "b0c2", "b0c3")
OLD_SECRET, NEW_SECRET = fixed_ids("b0f1", "b0f2")
AT = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
LATER = AT + timedelta(minutes=5)
DAY = timedelta(hours=24)
ADDRESS = "ann@example.org"


def make(
    mode: CreationMode = CreationMode.FOR_SELF,
    *,
    users: Iterable[UUID] = (),
    kind: AddressKind = AddressKind.MAILBOX,
    targets: Iterable[str] = (),
    creator: UUID | None = CREATOR,
) -> Mailbox:
    return Mailbox.create(
        BOX,
        SERVICE,
        ADDRESS,
        kind=kind,
        mode=mode,
        creator_id=creator,
        credential_id=OLD_SECRET,
        users=users,
        targets=targets,
        at=AT,
    )


def redirect(*targets: str) -> Mailbox:
    return make(CreationMode.UNASSIGNED, kind=AddressKind.REDIRECT, targets=targets)


def assert_replays(mailbox: Mailbox) -> None:
    """Every event read back through the mapper rebuilds the same mailbox."""
    events = list(mailbox.collect_events())
    assert replay(through_mapper(events)) == mailbox


def assert_refused(
    mailbox: Mailbox,
    error: type[DomainError],
    command: Callable[[], object],
    match: str | None = None,
) -> DomainError:
    """The command raises ``error`` and the mailbox is exactly as before."""
    pending = list(mailbox.pending_events)
    before = copy.deepcopy(vars(mailbox))
    with pytest.raises(error, match=match) as caught:
        command()
    assert mailbox.pending_events == pending
    assert vars(mailbox) == before
    return caught.value


# -- creation modes (ADR-3, ADR-4, ADR-6) -----------------------------------------------


def test_for_yourself_links_the_creator_at_once() -> None:
    # rule ADR-3
    box = make(CreationMode.FOR_SELF)
    assert box.linked == {CREATOR}
    assert set(box.users) == {CREATOR}
    assert box.creator_id == CREATOR
    assert_replays(box)


def test_for_yourself_with_others_links_the_creator_too() -> None:
    # rule ADR-3, ADR-4
    box = make(CreationMode.FOR_SELF, users=[ALICE, CREATOR])
    assert box.linked == {CREATOR, ALICE}


def test_for_yourself_needs_the_creating_user() -> None:
    # rule ADR-3
    with pytest.raises(InvalidInput, match="needs the creating user"):
        make(CreationMode.FOR_SELF, creator=None)


@pytest.mark.parametrize(
    ("users", "linked"),
    [
        ([ALICE], {ALICE}),
        ([ALICE, BOB, ALICE], {ALICE, BOB}),
        ([BOB, CREATOR], {BOB, CREATOR}),
    ],
)
def test_for_others_links_every_chosen_user(
    users: list[UUID], linked: set[UUID]
) -> None:
    # rule ADR-4: one or more users, possibly including yourself
    box = make(CreationMode.FOR_OTHERS, users=users)
    assert box.linked == linked
    assert set(box.users) == linked
    assert all(box.users[u] == {} for u in linked)  # permissions default (ORG-3)
    assert_replays(box)


def test_for_others_does_not_link_the_creator_unless_chosen() -> None:
    # rule ADR-4
    box = make(CreationMode.FOR_OTHERS, users=[ALICE])
    assert CREATOR not in box.linked
    assert CREATOR not in box.users


def test_for_others_needs_at_least_one_user() -> None:
    # rule ADR-4
    with pytest.raises(InvalidInput, match="at least one user"):
        make(CreationMode.FOR_OTHERS, users=[])


def test_unassigned_links_nobody() -> None:
    # rule ADR-6: like for yourself, without linking to anyone's mail app
    box = make(CreationMode.UNASSIGNED)
    assert box.linked == set()
    assert box.users == {}
    assert box.creator_id == CREATOR
    assert_replays(box)


@pytest.mark.parametrize("mode", [CreationMode.UNASSIGNED, CreationMode.INVITATION])
def test_unassigned_and_invited_addresses_refuse_users(mode: CreationMode) -> None:
    # rule ADR-6, ADR-5
    with pytest.raises(InvalidInput, match="has no users yet"):
        make(mode, users=[ALICE])


# -- permissions (ORG-3) --------------------------------------------------------------------


def test_permissions_default_from_the_service() -> None:
    # rule ORG-3
    service = MailService.create(ORG, "example.org", quota=1, at=AT)
    box = make(CreationMode.FOR_OTHERS, users=[ALICE])
    assert all(box.allows(ALICE, p, service.default_permissions) for p in Permission)
    service.set_default_permissions([Permission.SEND], at=LATER)
    allowed = {
        p for p in Permission if box.allows(ALICE, p, service.default_permissions)
    }
    assert allowed == {Permission.SEND}


def test_an_override_is_per_user() -> None:
    # rule ORG-3
    box = make(CreationMode.FOR_OTHERS, users=[ALICE, BOB])
    box.set_permission(ALICE, Permission.CHANGE_PASSWORD, allowed=False, at=LATER)
    box.set_permission(BOB, Permission.MANAGE_FILTERS, allowed=True, at=LATER)
    assert not box.allows(ALICE, Permission.CHANGE_PASSWORD, ALL_PERMISSIONS)
    assert box.allows(BOB, Permission.CHANGE_PASSWORD, ALL_PERMISSIONS)
    assert box.allows(BOB, Permission.MANAGE_FILTERS, ())
    assert not box.allows(ALICE, Permission.MANAGE_FILTERS, ())
    assert_replays(box)


def test_a_withdrawn_permission_stays_withdrawn_until_returned_to_default() -> None:
    # rule ORG-3: enforced on every later check, whatever the defaults become
    box = make(CreationMode.FOR_SELF)
    box.set_permission(CREATOR, Permission.MANAGE_RESPONDER, allowed=False, at=LATER)
    for defaults in (ALL_PERMISSIONS, (Permission.MANAGE_RESPONDER,), ()):
        assert not box.allows(CREATOR, Permission.MANAGE_RESPONDER, defaults)
    box.set_permission(CREATOR, Permission.MANAGE_RESPONDER, allowed=None, at=LATER)
    assert box.allows(CREATOR, Permission.MANAGE_RESPONDER, ALL_PERMISSIONS)
    assert not box.allows(CREATOR, Permission.MANAGE_RESPONDER, ())
    assert box.users[CREATOR] == {}
    assert_replays(box)


@given(
    changes=st.lists(
        st.tuples(
            st.sampled_from([ALICE, BOB]),
            st.sampled_from(list(Permission)),
            st.sampled_from([True, False, None]),
        ),
        max_size=15,
    ),
    defaults=st.sets(st.sampled_from(list(Permission))),
)
def test_allows_is_the_last_override_or_else_the_default(
    changes: list[tuple[UUID, Permission, bool | None]], defaults: set[Permission]
) -> None:
    # rule ORG-3
    box = make(CreationMode.FOR_OTHERS, users=[ALICE, BOB])
    last: dict[tuple[UUID, Permission], bool | None] = {}
    for user, permission, allowed in changes:
        box.set_permission(user, permission, allowed, at=LATER)
        last[user, permission] = allowed
    for user in (ALICE, BOB):
        for permission in Permission:
            override = last.get((user, permission))
            expected = permission in defaults if override is None else override
            assert box.allows(user, permission, defaults) is expected
    assert_replays(box)


def test_nobody_else_is_allowed_anything() -> None:
    # rule ORG-3: permissions belong to the users of the address
    box = make(CreationMode.FOR_OTHERS, users=[ALICE])
    assert not any(box.allows(BOB, p, ALL_PERMISSIONS) for p in Permission)
    assert_refused(
        box,
        NotFound,
        lambda: box.set_permission(BOB, Permission.SEND, allowed=True, at=LATER),
        "not assigned",
    )


def test_an_unassigned_user_loses_every_permission() -> None:
    box = make(CreationMode.FOR_OTHERS, users=[ALICE, BOB])
    box.set_permission(ALICE, Permission.SEND, allowed=True, at=LATER)
    box.unassign(ALICE, at=LATER)
    assert not box.allows(ALICE, Permission.SEND, ALL_PERMISSIONS)
    assert ALICE not in box.linked


def test_a_deleted_address_allows_nothing_and_refuses_commands() -> None:
    # rule ADR-11
    box = make(CreationMode.FOR_SELF)
    box.delete(at=LATER)
    assert box.linked == set()
    assert not any(box.allows(CREATOR, p, ALL_PERMISSIONS) for p in Permission)
    for command in (
        lambda: box.set_permission(CREATOR, Permission.SEND, allowed=True, at=LATER),
        lambda: box.change_password(NEW_SECRET, by=CREATOR, at=LATER),
        lambda: box.delete(at=LATER),
    ):
        assert_refused(box, NotFound, command, "was deleted")
    assert_replays(box)


# -- password change (ADR-7, PWD-1) -------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "users", "kept"),
    [
        (CreationMode.FOR_SELF, [], (CREATOR,)),
        (CreationMode.FOR_OTHERS, [BOB, ALICE], tuple(sorted([ALICE, BOB]))),
        (CreationMode.UNASSIGNED, [], ()),
    ],
)
def test_a_password_change_keeps_the_account_links(
    mode: CreationMode, users: list[UUID], kept: tuple[UUID, ...]
) -> None:
    # rule ADR-7: clients using the old password lose access, linked mail apps do not
    box = make(mode, users=users)
    users_before = copy.deepcopy(box.users)
    assert box.change_password(NEW_SECRET, by=CREATOR, at=LATER) == kept
    assert box.credential_id == NEW_SECRET
    assert box.linked == set(kept)
    assert box.users == users_before
    (changed,) = box.pending_events[1:]
    assert isinstance(changed, Mailbox.PasswordChanged)
    assert changed.kept_links == kept
    assert_replays(box)


def test_a_password_change_keeps_a_withdrawn_permission_withdrawn() -> None:
    # rule ADR-7, ORG-3
    box = make(CreationMode.FOR_SELF)
    box.set_permission(CREATOR, Permission.CHANGE_PASSWORD, allowed=False, at=LATER)
    box.change_password(NEW_SECRET, by=None, at=LATER)
    assert not box.allows(CREATOR, Permission.CHANGE_PASSWORD, ALL_PERMISSIONS)


def test_a_redirection_has_no_password() -> None:
    # rule ADR-10
    box = redirect("bob@other.org")
    assert_refused(
        box,
        InvalidInput,
        lambda: box.change_password(NEW_SECRET, by=CREATOR, at=LATER),
        "redirect: it has no password",
    )


# -- redirections (ADR-10) ----------------------------------------------------------------


def test_redirection_targets_are_normalised_and_deduplicated() -> None:
    # rule ADR-10
    box = redirect(
        "Bob@Other.ORG", "bob@other.org", "carl@bücher.example", "Bob@other.org"
    )
    # Compared case-insensitively (ADR-2): the first spelling is kept.
    assert box.targets == ("Bob@other.org", "carl@xn--bcher-kva.example")
    assert_replays(box)


@pytest.mark.parametrize(
    "target",
    ["not-an-address", "bob@", "@other.org", "bob@@other.org", "a b@other.org"],
)
def test_an_invalid_redirection_target_is_refused(target: str) -> None:
    # rule ADR-10
    with pytest.raises(InvalidInput, match="is not a valid mail address"):
        redirect("bob@other.org", target)


@pytest.mark.parametrize("own", [ADDRESS, "ANN@Example.Org", " ann@example.org "])
def test_a_redirection_cannot_point_at_itself(own: str) -> None:
    # rule ADR-10
    with pytest.raises(InvalidInput, match="cannot point at itself"):
        redirect("bob@other.org", own)


def test_a_redirection_needs_a_target() -> None:
    # rule ADR-10
    with pytest.raises(InvalidInput, match="at least one target"):
        redirect()


def test_the_number_of_targets_is_bounded() -> None:
    # rule ADR-10
    many = [f"t{i}@other.org" for i in range(MAX_REDIRECT_TARGETS + 1)]
    assert len(redirect(*many[:-1]).targets) == MAX_REDIRECT_TARGETS
    with pytest.raises(InvalidInput, match=f"at most {MAX_REDIRECT_TARGETS} targets"):
        redirect(*many)


@pytest.mark.parametrize("kind", [AddressKind.MAILBOX, AddressKind.NO_REPLY])
def test_only_a_redirection_has_targets(kind: AddressKind) -> None:
    # rule ADR-10
    with pytest.raises(InvalidInput, match="only a redirection"):
        make(kind=kind, targets=["bob@other.org"])


# -- sending limits (SND-3) ---------------------------------------------------------------


def test_recipients_up_to_the_limit_are_accepted() -> None:
    # rule SND-3
    box = make()
    box.record_sent(10, "<m1@example.org>", max_recipients=10, max_per_day=5, at=AT)
    assert box.sent_in_window(AT) == 1
    assert_replays(box)


def test_too_many_recipients_are_refused_naming_the_limit() -> None:
    # rule SND-3
    box = make()
    error = assert_refused(
        box,
        NotPermitted,
        lambda: box.record_sent(
            11, "<m1@example.org>", max_recipients=10, max_per_day=5, at=AT
        ),
    )
    assert "11 recipients" in str(error)
    assert "limit of 10 per message" in str(error)
    assert "mass-mailing tool" in str(error)


def test_a_message_needs_a_recipient() -> None:
    box = make()
    assert_refused(
        box,
        InvalidInput,
        lambda: box.record_sent(0, "<m>", max_recipients=10, max_per_day=5, at=AT),
        "at least one recipient",
    )


def test_messages_past_the_daily_limit_are_refused_naming_the_limit() -> None:
    # rule SND-3
    box = make()
    for i in range(3):
        box.record_sent(
            1, f"<m{i}>", max_recipients=10, max_per_day=3, at=AT + timedelta(hours=i)
        )
    error = assert_refused(
        box,
        NotPermitted,
        lambda: box.record_sent(
            1, "<m3>", max_recipients=10, max_per_day=3, at=AT + timedelta(hours=5)
        ),
    )
    assert "has sent 3 messages in the last 24 hours" in str(error)
    assert "mass-mailing tool" in str(error)


def test_the_daily_limit_is_a_rolling_window() -> None:
    # rule SND-3: the first message stops counting 24 hours after it was sent
    box = make()
    times = [AT, AT + timedelta(hours=1), AT + timedelta(hours=2)]
    for i, at in enumerate(times):
        box.record_sent(1, f"<m{i}>", max_recipients=5, max_per_day=3, at=at)
    just_before = AT + DAY - timedelta(microseconds=1)
    assert box.sent_in_window(just_before) == 3
    with pytest.raises(NotPermitted):
        box.record_sent(1, "<x>", max_recipients=5, max_per_day=3, at=just_before)
    assert box.sent_in_window(AT + DAY) == 2
    box.record_sent(1, "<m3>", max_recipients=5, max_per_day=3, at=AT + DAY)
    # Half an hour later the messages of hours 1 and 2 and the new one fill the window.
    half_past = AT + DAY + timedelta(minutes=30)
    assert box.sent_in_window(half_past) == 3
    with pytest.raises(NotPermitted):
        box.record_sent(1, "<x>", max_recipients=5, max_per_day=3, at=half_past)
    assert_replays(box)


@given(
    times=increasing_times(max_size=25, max_gap_seconds=6 * 3600, strict=False),
    limit=st.integers(1, 5),
    recipients=st.lists(st.integers(1, 12), min_size=25, max_size=25),
)
def test_no_24_hours_ever_hold_more_messages_than_the_limit(
    times: list[datetime], limit: int, recipients: list[int]
) -> None:
    # rule SND-3: at most ``limit`` messages in any 24 hours, none over 10 recipients
    box = make()
    accepted: list[datetime] = []
    for i, (at, count) in enumerate(zip(times, recipients, strict=False)):
        in_window = sum(t > at - DAY for t in accepted)
        if count > 10 or in_window >= limit:
            with pytest.raises(NotPermitted):
                box.record_sent(
                    count, f"<{i}>", max_recipients=10, max_per_day=limit, at=at
                )
        else:
            box.record_sent(
                count, f"<{i}>", max_recipients=10, max_per_day=limit, at=at
            )
            accepted.append(at)
        assert box.sent_in_window(at) == sum(t > at - DAY for t in accepted)
    for at in accepted:
        assert sum(at - DAY < t <= at for t in accepted) <= limit
    assert_replays(box)


# -- allow-list (ADV-1 input) --------------------------------------------------------------


def test_allow_list_entries_are_normalised() -> None:
    box = make()
    box.set_allow_list(
        [" friend@Example.ORG ", "@Partner.ORG", "@bücher.example", "@partner.org"],
        at=LATER,
    )
    assert box.allow_list == (
        "friend@example.org",
        "@partner.org",
        "@xn--bcher-kva.example",
    )
    assert_replays(box)


@pytest.mark.parametrize(
    "entry", ["not an address", "@", "@-bad.org", "friend@", "@a..b.org", "friend"]
)
def test_an_invalid_allow_list_entry_is_refused(entry: str) -> None:
    box = make()
    box.set_allow_list(["friend@example.org"], at=AT)
    assert_refused(
        box,
        InvalidInput,
        lambda: box.set_allow_list(["ok@example.org", entry], at=LATER),
        "is not a valid mail address",
    )
    assert box.allow_list == ("friend@example.org",)


def test_the_allow_list_is_bounded() -> None:
    box = make()
    entries = [f"u{i}@example.org" for i in range(MAX_ALLOW_LIST + 1)]
    box.set_allow_list(entries[:-1], at=AT)
    assert len(box.allow_list) == MAX_ALLOW_LIST
    assert_refused(
        box,
        InvalidInput,
        lambda: box.set_allow_list(entries, at=LATER),
        f"at most {MAX_ALLOW_LIST} entries",
    )


def test_an_empty_allow_list_clears_it() -> None:
    box = make()
    box.set_allow_list(["friend@example.org"], at=AT)
    box.set_allow_list([], at=LATER)
    assert box.allow_list == ()


# -- usage and signatures: what is stored for good is finite and usable -----------------


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), float("-inf"), 10**100, -1, 1.5, True, "10"]
)
@pytest.mark.parametrize("field", ["used_mb", "limit_mb"])
def test_a_usage_that_is_no_size_is_refused(value: object, field: str) -> None:
    # rule ADV-2 input: NaN passes every comparison, so it was stored
    box = make()
    sizes: dict[str, object] = {"used_mb": 10, "limit_mb": 100, field: value}
    error = assert_refused(
        box,
        InvalidInput,
        lambda: box.record_usage(sizes["used_mb"], sizes["limit_mb"], at=LATER),  # type: ignore[arg-type]
    )
    assert field in str(error)


def test_a_usage_within_the_bounds_is_recorded() -> None:
    # rule ADV-2 input
    box = make()
    box.record_usage(0, 1, at=AT)
    box.record_usage(MAX_USAGE_MB, MAX_USAGE_MB, at=LATER)
    assert box.usage == (MAX_USAGE_MB, MAX_USAGE_MB)


def test_a_signature_template_with_a_non_breaking_space_can_be_applied() -> None:
    # rule ADR-12: the signature and its template follow one rule
    service = MailService.create(ORG, "example.org", quota=3, at=AT)
    service.save_signature_template("Legal", "Example\u00a0Co\r\n\tGeneva", at=AT)
    box = make()
    box.set_signature(service.signature("Legal"), at=LATER)
    assert box.signature == "Example\u00a0Co\n\tGeneva"


@pytest.mark.parametrize(
    "text", ["Regards\x00", "\x1b[31mRegards", "Regards\udcff", "Re\u202egards"]
)
def test_a_signature_with_a_control_character_is_refused(text: str) -> None:
    # rule ADR-12
    box = make()
    error = assert_refused(box, InvalidInput, lambda: box.set_signature(text, at=LATER))
    assert "signature" in str(error)
