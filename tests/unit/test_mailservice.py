"""MailService: address syntax (ADR-2), IDN domains, uniqueness, quota (ADR-1), the
catch-all (ADR-8), deletion (ADR-11), DMARC input (ADV-4), and refusals that store
nothing."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid5

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.dmarc import MAX_DMARC_RECORD
from domain.errors import AlreadyExists, DomainError, InvalidInput, NotFound
from domain.hosted import (
    AddressEntry,
    AddressKind,
    local_key,
    parse_domain,
    parse_local_part,
)
from domain.mailservice import MAX_QUOTA, MailService, QuotaExceeded, service_id
from domain.permissions import Permission
from domain.respondermessage import MAX_SUBJECT_LENGTH
from domain.templates import MAX_TEMPLATE
from tests.strategies import local_parts, replay, through_mapper
from tests.unit.eventsupport import fixed_ids

AT = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
LATER = AT + timedelta(hours=1)
NAIVE = datetime(2024, 5, 1, 9, 0)  # noqa: DTZ001 - a time without zone is refused
[ORG] = fixed_ids("a002")
# RFC 5322 atext specials, less "*": the mail store's master-login separator.
SPECIALS = "!#$%&'+=?^_`{|}~-"


def new_service(domain: str = "example.org", quota: int = 3) -> MailService:
    service = MailService.create(ORG, domain, quota=quota, at=AT)
    service.collect_events()
    return service


def entry(
    service: MailService, local: str, kind: AddressKind = AddressKind.MAILBOX
) -> AddressEntry:
    return AddressEntry(local, kind, service.new_mailbox_id(local))


def with_mailbox(service: MailService, local: str) -> AddressEntry:
    made = entry(service, local)
    service.claim([made], at=AT)
    return made


def assert_refused(
    service: MailService,
    error: type[DomainError],
    command: Callable[[], object],
    match: str | None = None,
) -> DomainError:
    """The command raises ``error`` and the service is exactly as before."""
    pending = list(service.pending_events)
    before = copy.deepcopy(vars(service))
    with pytest.raises(error, match=match) as caught:
        command()
    assert service.pending_events == pending
    assert vars(service) == before
    return caught.value


# -- local parts (ADR-2, RFC 5321 4.5.3.1.1, RFC 5322 3.2.3) ---------------------------


@pytest.mark.parametrize(
    "text",
    ["ann", "Ann", "b.c", "x-y", "o'neil", "z+tag", SPECIALS, "a.b.c", "l" * 64],
)
def test_valid_local_parts_are_kept_as_typed(text: str) -> None:
    # rule ADR-2: dot-atom text with the RFC 5322 specials, case kept
    assert parse_local_part(text, "example.org") == text


@given(
    local=local_parts().filter(lambda lp: not ({"*", "/"} & set(lp) or lp[0] == "#"))
)
def test_every_dot_atom_up_to_64_characters_is_accepted(local: str) -> None:
    # rule ADR-2
    assert parse_local_part(local, "example.org") == local
    assert parse_local_part(f"{local}@example.org", "example.org") == local


@given(length=st.integers(65, 200))
def test_no_local_part_over_64_octets_is_accepted(length: int) -> None:
    # rule ADR-2: RFC 5321 4.5.3.1.1, typed alone or as a full address
    with pytest.raises(InvalidInput, match="too long"):
        parse_local_part("l" * length, "example.org")
    with pytest.raises(InvalidInput, match="too long"):
        parse_local_part("l" * length + "@example.org", "example.org")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        pytest.param(".ann", "start with a period", id="leading-dot"),
        pytest.param("ann.", "period immediately before", id="trailing-dot"),
        pytest.param("a..b", "two periods in a row", id="double-dot"),
        pytest.param("a b", "SPACE", id="space"),
        pytest.param("ann\tx", "invalid characters", id="tab"),
        pytest.param("ännä", "Internationalized", id="non-ascii"),
        pytest.param("日本", "Internationalized", id="non-latin"),
        pytest.param('"a b"', "Quoting", id="quoted"),
        pytest.param("a,b", "','", id="comma"),
        pytest.param("a:b", "':'", id="colon"),
        pytest.param("a;b", "';'", id="semicolon"),
        pytest.param("a(b)", "'\\('", id="parentheses"),
        pytest.param("a[b", "'\\['", id="bracket"),
        pytest.param("a\\b", "invalid characters", id="backslash"),
        pytest.param("", "empty", id="empty"),
        pytest.param("   ", "empty", id="blank"),
        pytest.param("@example.org", "something before the @", id="only-domain"),
    ],
)
def test_invalid_local_parts_are_refused_with_the_reason(text: str, why: str) -> None:
    # rule ADR-2
    with pytest.raises(InvalidInput, match=why):
        parse_local_part(text, "example.org")


@pytest.mark.parametrize("char", sorted(set(SPECIALS)))
def test_each_special_is_allowed_between_letters(char: str) -> None:
    # rule ADR-2: RFC 5322 atext
    assert parse_local_part(f"a{char}b", "example.org") == f"a{char}b"


@pytest.mark.parametrize(
    ("local", "why"),
    [
        ("a*b", "reserved for master logins"),
        ("a/b", "may not contain '/'"),
        ("#ab", "nor start with '#'"),
    ],
)
def test_atext_the_mail_store_cannot_keep_is_refused(local: str, why: str) -> None:
    # rule ADR-2: valid RFC 5322 atext, but "user*master" is an IMAP master login, and
    # "/" and a leading "#" cannot be a folder name and a passwd-file line
    with pytest.raises(InvalidInput, match=why):
        parse_local_part(local, "example.org")


def test_surrounding_blanks_are_not_part_of_the_local_part() -> None:
    assert parse_local_part("  ann \t", "example.org") == "ann"


@pytest.mark.parametrize(
    "text", ["ann@example.org", "ann@EXAMPLE.Org", " ann@example.org "]
)
def test_a_full_address_in_the_service_domain_gives_its_local_part(text: str) -> None:
    # rule ADR-2: the domain is fixed; typing it (in any case) is harmless
    assert parse_local_part(text, "example.org") == "ann"


@pytest.mark.parametrize(
    "text", ["ann@other.org", "ann@example.org.evil", "ann@sub.example.org"]
)
def test_a_full_address_in_another_domain_is_refused(text: str) -> None:
    # rule ADR-2
    with pytest.raises(InvalidInput, match=r"not in the domain example\.org"):
        parse_local_part(text, "example.org")


@pytest.mark.parametrize(
    "text", ["ann@bücher.example", "ann@BÜCHER.example", "ann@xn--bcher-kva.example"]
)
def test_a_full_address_in_an_idn_domain_is_accepted_in_either_form(text: str) -> None:
    assert parse_local_part(text, "xn--bcher-kva.example") == "ann"


# -- domains ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed", ["bücher.example", "Bücher.Example", " xn--bcher-kva.example "]
)
def test_an_idn_domain_is_stored_as_its_a_label_and_displayed_in_unicode(
    typed: str,
) -> None:
    service = MailService.create(ORG, typed, quota=1, at=AT)
    assert service.domain == "xn--bcher-kva.example"
    assert service.display_domain == "bücher.example"
    assert service.id == service_id("xn--bcher-kva.example")
    made = with_mailbox(service, "Ann")
    assert service.address_of(made) == "Ann@xn--bcher-kva.example"


def test_an_ascii_domain_is_stored_in_lower_case() -> None:
    service = MailService.create(ORG, " Example.ORG ", quota=1, at=AT)
    assert (service.domain, service.display_domain) == ("example.org", "example.org")
    assert service.id == service_id("example.org") == service_id("EXAMPLE.org")


@pytest.mark.parametrize(
    "text", ["", "example", "-bad.example", "a..b.org", "exa mple.org", "1.2.3.4"]
)
def test_invalid_domains_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="not a valid domain name"):
        parse_domain(text)


def test_an_idna_2008_domain_is_stored_or_refused_cleanly() -> None:
    # email_validator (IDNA 2008) accepts faß.de, so addresses there are accepted
    # elsewhere; a service for it must be created, or at least refused as bad input.
    try:
        parsed = parse_domain("faß.de")
    except InvalidInput:
        return
    assert parsed == ("xn--fa-hia.de", "faß.de")


# -- uniqueness (ADR-2) ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(AddressKind))
@pytest.mark.parametrize("again", ["ann", "ANN", "aNn"])
def test_a_local_part_is_unique_case_insensitively_across_kinds(
    kind: AddressKind, again: str
) -> None:
    # rule ADR-2: mailboxes, aliases, redirections, generic addresses share the names
    service = new_service()
    owner = with_mailbox(service, "Ann")
    clash = AddressEntry(again, kind, owner.mailbox_id)
    assert_refused(
        service,
        AlreadyExists,
        lambda: service.claim([clash], at=LATER),
        match=f"address {again}@example.org exists already",
    )
    assert service.entry(again) == owner


@given(local=local_parts())
def test_any_local_part_collides_with_its_other_cases(local: str) -> None:
    # rule ADR-2
    service = new_service(quota=2)
    with_mailbox(service, local)
    for other in {local.upper(), local.lower(), local.swapcase()}:
        assert service.entry(other).local_part == local
        with pytest.raises(AlreadyExists):
            service.claim([entry(service, other)], at=LATER)


def test_a_local_key_is_lower_cased_and_never_case_folded() -> None:
    # rule ADR-2: folding would merge distinct Unicode local parts (straße, strasse)
    assert AddressEntry("Straße", AddressKind.MAILBOX, ORG).key == "straße"
    assert local_key("\u017fupport") != local_key("support")
    assert local_key("e\u0301") == local_key("\u00e9")  # NFC


@given(local=local_parts())
def test_ascii_local_keys_and_mailbox_ids_are_those_of_the_folded_form(
    local: str,
) -> None:
    # rule ADR-2: hosted local parts are ASCII; the keys and ids stored in the log
    # when they were case-folded stay the same
    service = new_service()
    upper = local.upper()
    assert local_key(upper) == upper.casefold()
    assert service.new_mailbox_id(upper) == uuid5(
        service.id, f"address:{upper.casefold()}:1"
    )
    made = with_mailbox(service, upper)
    assert service.entry(local.lower()) == made


def test_the_same_name_twice_in_one_file_is_named_with_both_rows() -> None:
    # rule ADR-2, ADR-9
    service = new_service()
    rows = [entry(service, "info"), entry(service, "b.c"), entry(service, "INFO")]
    problems = service.problems(rows)
    assert [(p.index, p.error) for p in problems] == [(2, InvalidInput)]
    assert "listed twice (first as entry 1)" in problems[0].reason
    assert_refused(service, InvalidInput, lambda: service.claim(rows, at=LATER))


def test_a_released_name_gets_a_new_mailbox_id() -> None:
    # rule ADR-11: a deleted address's content is gone; a new one never inherits it
    service = new_service()
    first = with_mailbox(service, "ann")
    service.release(["ann"], at=LATER)
    second = with_mailbox(service, "ANN")
    assert second.mailbox_id != first.mailbox_id


# -- quota (ADR-1) ----------------------------------------------------------------------


def test_a_full_quota_refuses_a_new_address_naming_the_numbers() -> None:
    # rule ADR-1
    service = new_service(quota=2)
    service.claim([entry(service, "ann"), entry(service, "bob")], at=AT)
    error = assert_refused(
        service, QuotaExceeded, lambda: service.claim([entry(service, "cy")], at=LATER)
    )
    assert str(error) == (
        "no free address slot: 2 of 2 used, 1 more needed; "
        "increase the quota of example.org"
    )


def test_a_file_needing_more_slots_than_free_names_how_many() -> None:
    # rule ADR-1, ADR-9
    service = new_service(quota=3)
    with_mailbox(service, "ann")
    rows = [
        entry(service, "b", AddressKind.MAILBOX),
        entry(service, "c", AddressKind.NO_REPLY),
        entry(service, "d", AddressKind.REDIRECT),
    ]
    error = assert_refused(
        service, QuotaExceeded, lambda: service.claim(rows, at=LATER)
    )
    assert "1 of 3 used, 3 more needed" in str(error)
    service.increase_quota(1, at=LATER)
    service.claim(rows, at=LATER)
    assert (service.used, service.free) == (4, 0)


def test_an_alias_takes_no_slot() -> None:
    # rule ADR-1
    service = new_service(quota=1)
    owner = with_mailbox(service, "ann")
    service.claim([AddressEntry("info", AddressKind.ALIAS, owner.mailbox_id)], at=LATER)
    assert (service.used, service.free) == (1, 0)


def test_deleting_an_address_frees_its_slot() -> None:
    # rule ADR-1, ADR-11
    service = new_service(quota=1)
    with_mailbox(service, "ann")
    with pytest.raises(QuotaExceeded):
        service.claim([entry(service, "bob")], at=LATER)
    service.release(["Ann"], at=LATER)
    service.claim([entry(service, "bob")], at=LATER)
    assert service.used == 1


@pytest.mark.parametrize("quota", [0, -1, MAX_QUOTA + 1])
def test_a_quota_outside_its_bounds_is_refused(quota: int) -> None:
    # rule ADR-1
    with pytest.raises(InvalidInput, match=f"between 1 and {MAX_QUOTA}"):
        MailService.create(ORG, "example.org", quota=quota, at=AT)


@pytest.mark.parametrize(("added", "why"), [(0, "at least one"), (-2, "at least one")])
def test_a_quota_increase_adds_at_least_one(added: int, why: str) -> None:
    # rule ADR-1
    service = new_service()
    assert_refused(
        service, InvalidInput, lambda: service.increase_quota(added, at=LATER), why
    )


def test_a_quota_increase_past_the_maximum_is_refused() -> None:
    service = new_service(quota=MAX_QUOTA - 1)
    service.increase_quota(1, at=LATER)
    assert service.quota == MAX_QUOTA
    assert_refused(
        service, InvalidInput, lambda: service.increase_quota(1, at=LATER), "between"
    )


# -- aliases, catch-all, deletion (ADR-8, ADR-11) --------------------------------------


@pytest.mark.parametrize("kind", [AddressKind.NO_REPLY, AddressKind.REDIRECT])
def test_an_alias_must_name_a_mailbox(kind: AddressKind) -> None:
    service = new_service()
    other = entry(service, "noreply", kind)
    service.claim([other], at=AT)
    alias = AddressEntry("info", AddressKind.ALIAS, other.mailbox_id)
    assert_refused(
        service,
        InvalidInput,
        lambda: service.claim([alias], at=LATER),
        "must point at a mailbox of example.org",
    )


def test_an_alias_may_name_a_mailbox_of_the_same_file() -> None:
    # rule ADR-9
    service = new_service()
    owner = entry(service, "ann")
    alias = AddressEntry("info", AddressKind.ALIAS, owner.mailbox_id)
    service.claim([alias, owner], at=AT)
    assert service.entry("info").mailbox_id == service.entry("ann").mailbox_id


def test_releasing_a_mailbox_releases_its_aliases_and_its_catch_all() -> None:
    # rule ADR-11, ADR-8
    service = new_service()
    ann = with_mailbox(service, "ann")
    bob = with_mailbox(service, "bob")
    service.claim([AddressEntry("info", AddressKind.ALIAS, ann.mailbox_id)], at=AT)
    service.set_catch_all(ann.mailbox_id, at=AT)
    released = service.release(["ANN"], at=LATER)
    assert released == (ann,)
    assert sorted(service.addresses) == ["bob"]
    assert service.catch_all is None
    assert service.entry("bob") == bob


def test_several_addresses_are_released_at_once() -> None:
    # rule ADR-11
    service = new_service()
    for local in ("ann", "bob", "cy"):
        with_mailbox(service, local)
    service.release(["ann", "Cy"], at=LATER)
    assert sorted(service.addresses) == ["bob"]
    assert service.free == 2


def test_releasing_an_unknown_address_releases_nothing() -> None:
    # rule ADR-11: one unknown name refuses the whole deletion
    service = new_service()
    with_mailbox(service, "ann")
    assert_refused(
        service,
        NotFound,
        lambda: service.release(["ann", "ghost"], at=LATER),
        "ghost@example.org does not exist",
    )


def test_releasing_an_alias_keeps_the_catch_all() -> None:
    # rule ADR-8, ADR-11
    service = new_service()
    ann = with_mailbox(service, "ann")
    service.claim([AddressEntry("info", AddressKind.ALIAS, ann.mailbox_id)], at=AT)
    service.set_catch_all(ann.mailbox_id, at=AT)
    service.release(["info"], at=LATER)
    assert service.catch_all == ann.mailbox_id


def test_there_is_at_most_one_catch_all_and_it_can_be_moved() -> None:
    # rule ADR-8
    service = new_service()
    ann = with_mailbox(service, "ann")
    bob = with_mailbox(service, "bob")
    service.set_catch_all(ann.mailbox_id, at=AT)
    service.set_catch_all(bob.mailbox_id, at=LATER)
    assert service.catch_all == bob.mailbox_id
    assert_refused(
        service,
        InvalidInput,
        lambda: service.set_catch_all(bob.mailbox_id, at=LATER),
        "catch-all already",
    )
    service.set_catch_all(None, at=LATER)
    assert service.catch_all is None
    assert_refused(service, InvalidInput, lambda: service.set_catch_all(None, at=LATER))


@pytest.mark.parametrize("kind", [AddressKind.NO_REPLY, AddressKind.REDIRECT])
def test_the_catch_all_delivers_into_a_mailbox(kind: AddressKind) -> None:
    # rule ADR-8
    service = new_service()
    other = entry(service, "noreply", kind)
    service.claim([other], at=AT)
    assert_refused(
        service,
        InvalidInput,
        lambda: service.set_catch_all(other.mailbox_id, at=LATER),
        "into a mailbox",
    )


# -- DMARC (ADV-4 input) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "policy"),
    [
        ("v=DMARC1; p=reject", "reject"),
        ("v=DMARC1;p=none", "none"),
        ("v=DMARC1; p=Quarantine; rua=mailto:dmarc@example.org; pct=50", "quarantine"),
        ("  v=DMARC1 ;  p=reject  ", "reject"),
        (None, None),
        ("", None),
    ],
)
def test_a_dmarc_record_gives_its_policy(
    record: str | None, policy: str | None
) -> None:
    # rule ADV-4: no record (None or empty) means no policy
    service = new_service()
    service.record_dmarc("v=DMARC1; p=none", at=AT)
    service.record_dmarc(record, at=LATER)
    assert service.dmarc_policy == policy


@pytest.mark.parametrize(
    ("record", "why"),
    [
        ("v=spf1 -all", "is not a DMARC record"),
        ("v=DMARC1", "is not a DMARC record"),
        ("v=DMARC2; p=reject", "is not a DMARC record"),
        ("p=reject", "is not a DMARC record"),
        ("v=DMARC1; p=block", "'block' is not none/quarantine/reject"),
        ("v=DMARC1; p=", "'' is not none/quarantine/reject"),
    ],
)
def test_a_malformed_dmarc_record_is_refused(record: str, why: str) -> None:
    # rule ADV-4
    service = new_service()
    service.record_dmarc("v=DMARC1; p=quarantine", at=AT)
    assert_refused(
        service, InvalidInput, lambda: service.record_dmarc(record, at=LATER), why
    )
    assert service.dmarc_policy == "quarantine"


def test_blanks_around_the_equals_sign_are_allowed() -> None:
    # rule ADV-4
    service = new_service()
    service.record_dmarc("v = DMARC1; p = reject", at=LATER)
    assert service.dmarc_policy == "reject"


def test_a_record_not_starting_with_the_version_is_refused() -> None:
    # rule ADV-4
    service = new_service()
    assert_refused(
        service,
        InvalidInput,
        lambda: service.record_dmarc("p=reject; v=DMARC1", at=LATER),
    )


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ("v=DMARC1; p=reject; rua=mailto:\x1b[31mx@example.org", "U+001B"),
        ("v=DMARC1; p=reject; rua=mailto:\udcff@example.org", "U+DCFF"),
        ("v=DMARC1; p=reject\r\nX-Evil: 1", "U+000D"),
        ("v=DMARC1; p=reject; rua=mailto:" + "x" * 2**20, f"{MAX_DMARC_RECORD}"),
    ],
)
def test_a_dmarc_record_with_a_control_or_over_long_is_refused(
    record: str, problem: str
) -> None:
    # rule ADV-4: the record is outside text that would be stored for good
    service = new_service()
    error = assert_refused(
        service, InvalidInput, lambda: service.record_dmarc(record, at=LATER)
    )
    assert "DMARC record" in str(error)
    assert problem in str(error)
    assert len(str(error)) < 1000


def test_tabs_are_blanks_of_a_dmarc_record() -> None:
    # rule ADV-4 (RFC 7489 6.4: WSP is a space or a tab)
    service = new_service()
    service.record_dmarc("v=DMARC1;\tp=reject", at=LATER)
    assert service.dmarc_policy == "reject"


# -- templates (ADR-12): refused when saved, never after -------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Example Co\x00", "U+0000"),
        ("\x1b[31mExample Co", "U+001B"),
        ("Example Co\ud800", "U+D800"),  # invalid UTF-8 read with surrogateescape
        ("Example Co\u2028Geneva", "U+2028"),
        ("x" * (MAX_TEMPLATE + 1), f"longer than {MAX_TEMPLATE}"),
    ],
)
def test_a_signature_template_a_signature_would_refuse_is_not_saved(
    text: str, problem: str
) -> None:
    # rule ADR-12: a saved template can always be applied (it was saved, then --apply
    # failed on every mailbox)
    service = new_service()
    error = assert_refused(
        service,
        InvalidInput,
        lambda: service.save_signature_template("Legal", text, at=LATER),
    )
    assert "signature template 'Legal'" in str(error)
    assert problem in str(error)


def test_a_signature_template_keeps_lines_and_tabs_with_one_line_end() -> None:
    # rule ADR-12
    service = new_service()
    service.save_signature_template("Legal", "Example Co\r\n\tGeneva", at=LATER)
    assert service.signature("Legal") == "Example Co\n\tGeneva"


@pytest.mark.parametrize(
    ("subject", "body", "part"),
    [
        ("s" * 300, "Closed.", "subject"),
        ("s" * (MAX_SUBJECT_LENGTH + 1), "Closed.", "subject"),
        ("Closed\x0b", "Closed.", "subject"),
        ("Closed\x1b[31m", "Closed.", "subject"),
        ("Closed", "Closed\x00", "body"),
        ("Closed", "Closed\udcff", "body"),
        ("Closed", " \n ", "body"),
    ],
)
def test_a_responder_template_its_message_would_refuse_is_not_saved(
    subject: str, body: str, part: str
) -> None:
    # rule ADR-12: the template has the limits of the responder message it becomes
    service = new_service()
    error = assert_refused(
        service,
        InvalidInput,
        lambda: service.save_responder_template(
            "Closed", subject=subject, body=body, at=LATER
        ),
    )
    assert f"responder template 'Closed' {part}" in str(error)


def test_a_responder_template_subject_at_the_message_limit_is_saved() -> None:
    # rule ADR-12
    service = new_service()
    subject = "s" * MAX_SUBJECT_LENGTH
    service.save_responder_template("Closed", subject=subject, body="Closed.", at=LATER)
    assert service.responder_template("Closed").subject == subject


def test_a_template_name_with_a_control_character_is_refused() -> None:
    service = new_service()
    assert_refused(
        service,
        InvalidInput,
        lambda: service.save_signature_template("Le\x1bgal", "text", at=LATER),
        match="template name contains a control character",
    )


# -- refused commands store nothing ------------------------------------------------------


def _refusals() -> list[tuple[str, type[DomainError], Callable[[MailService], object]]]:
    def ann(s: MailService) -> UUID:
        return s.entry("ann").mailbox_id

    return [
        ("existing", AlreadyExists, lambda s: s.claim([entry(s, "ANN")], at=LATER)),
        (
            "half-good file",
            AlreadyExists,
            lambda s: s.claim([entry(s, "new"), entry(s, "Ann")], at=LATER),
        ),
        (
            "over quota",
            QuotaExceeded,
            lambda s: s.claim([entry(s, "b"), entry(s, "c")], at=LATER),
        ),
        (
            "dangling alias",
            InvalidInput,
            lambda s: s.claim(
                [AddressEntry("x", AddressKind.ALIAS, s.new_mailbox_id("x"))], at=LATER
            ),
        ),
        ("unknown release", NotFound, lambda s: s.release(["ghost"], at=LATER)),
        ("no quota added", InvalidInput, lambda s: s.increase_quota(0, at=LATER)),
        ("same catch-all", InvalidInput, lambda s: s.set_catch_all(ann(s), at=LATER)),
        (
            "catch-all elsewhere",
            InvalidInput,
            lambda s: s.set_catch_all(s.new_mailbox_id("x"), at=LATER),
        ),
        ("bad dmarc", InvalidInput, lambda s: s.record_dmarc("v=DMARC1", at=LATER)),
        (
            "bad template name",
            InvalidInput,
            lambda s: s.save_signature_template(" ", "text", at=LATER),
        ),
        (
            "naive time",
            InvalidInput,
            lambda s: s.increase_quota(1, at=NAIVE),
        ),
    ]


@pytest.mark.parametrize(
    ("error", "command"),
    [pytest.param(e, c, id=name) for name, e, c in _refusals()],
)
def test_a_refused_command_stores_nothing(
    error: type[DomainError], command: Callable[[MailService], object]
) -> None:
    service = MailService.create(ORG, "example.org", quota=2, at=AT)
    ann = with_mailbox(service, "ann")
    service.set_catch_all(ann.mailbox_id, at=AT)
    service.set_default_permissions([Permission.SEND], at=AT)
    stored = list(service.collect_events())
    assert_refused(service, error, lambda: command(service))
    assert service.collect_events() == []
    assert replay(through_mapper(stored)) == service
