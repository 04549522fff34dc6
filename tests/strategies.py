"""Shared Hypothesis strategies, and the replay helper every aggregate test uses.

Pools are deliberately small (a few devices, networks and places) so that generated
login sequences revisit the same values and the "seen before" branches of SEC-1 are
taken; policies use windows of minutes and limits of a handful of attempts so that the
aggregation (SEC-2) and throttle bounds are reached within a short sequence.
"""

from __future__ import annotations

import importlib
import itertools
import pkgutil
import string
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import phonenumbers
from eventsourcing.domain import Aggregate, _created_event_classes
from eventsourcing.persistence import JSONTranscoder
from hypothesis import strategies as st

from domain.address import EmailAddress
from domain.importfacts import (
    MAX_SOURCES,
    FailureReason,
    FolderCounts,
    FolderResult,
    FolderTotal,
    SourceRef,
    merge_failures,
)
from domain.importplan import MessageKey, SourceFolder, SpecialUse
from domain.importsource import Security
from domain.phone import PhoneNumber
from domain.security import LoginContext, NotificationPreferences, SecurityPolicy
from infrastructure.mapper import CattrsMapper

A = TypeVar("A", bound=Aggregate)

# -- time ------------------------------------------------------------------------------

MIN_TIME = datetime(2020, 1, 1)  # noqa: DTZ001 - Hypothesis bounds are naive
MAX_TIME = datetime(2030, 1, 1)  # noqa: DTZ001 - Hypothesis bounds are naive


def utc_datetimes(
    min_value: datetime = MIN_TIME, max_value: datetime = MAX_TIME
) -> st.SearchStrategy[datetime]:
    """Aware UTC instants between two naive bounds (2020..2030 by default)."""
    return st.datetimes(
        min_value=min_value, max_value=max_value, timezones=st.just(UTC)
    )


def naive_datetimes() -> st.SearchStrategy[datetime]:
    return st.datetimes(min_value=MIN_TIME, max_value=MAX_TIME)


def gaps(
    *, max_seconds: int = 1800, strict: bool = True
) -> st.SearchStrategy[timedelta]:
    """Whole-second steps, so exact window boundaries (at == due) are hit, plus some
    sub-second ones, so equality is not the only case."""
    low = 1 if strict else 0
    whole = st.integers(low, max_seconds).map(lambda s: timedelta(seconds=s))
    fine = st.integers(max(low, 1), 999_999).map(lambda us: timedelta(microseconds=us))
    return st.one_of(whole, fine)


def accumulate(start: datetime, steps: Iterable[timedelta]) -> list[datetime]:
    """The instants start + s1, start + s1 + s2, ... (start itself first)."""
    return list(itertools.accumulate(steps, lambda t, d: t + d, initial=start))


def increasing_times(
    *,
    min_size: int = 1,
    max_size: int = 30,
    max_gap_seconds: int = 1800,
    strict: bool = True,
) -> st.SearchStrategy[list[datetime]]:
    """Sorted aware UTC instants; strictly increasing unless ``strict=False``."""
    return st.builds(
        accumulate,
        utc_datetimes(),
        st.lists(
            gaps(max_seconds=max_gap_seconds, strict=strict),
            min_size=max(min_size - 1, 0),
            max_size=max(max_size - 1, 0),
        ),
    )


# -- login contexts, preferences, policies ---------------------------------------------

# Keyed fingerprints as the application makes them (64 hex digits), a few of them.
DEVICES = tuple(digit * 64 for digit in "abcd")
NETWORKS = ("192.0.2.0/24", "198.51.100.0/24", "2001:db8:1::/48")
PLACES = ("", "Zürich, CH", "Roma, IT", "Genève, CH")
USER_AGENTS = ("", "Mozilla/5.0 Firefox/128.0", "Thunderbird/128")


def login_contexts(
    *,
    devices: Sequence[str] = DEVICES,
    networks: Sequence[str] = NETWORKS,
    places: Sequence[str] = PLACES,
    user_agents: st.SearchStrategy[str] | None = None,
) -> st.SearchStrategy[LoginContext]:
    """Contexts from small pools, so devices and locations repeat and collide.

    With ``place == ""`` the location is the network, so the pools also produce
    contexts whose location is a network and others whose location is a place.
    """
    return st.builds(
        LoginContext,
        device=st.sampled_from(devices),
        network=st.sampled_from(networks),
        place=st.sampled_from(places),
        user_agent=user_agents
        if user_agents is not None
        else st.sampled_from(USER_AGENTS),
    )


def any_login_contexts() -> st.SearchStrategy[LoginContext]:
    """Arbitrary text in every field, for serialisation tests."""
    return st.builds(
        LoginContext,
        device=st.text(),
        network=st.text(),
        place=st.text(),
        user_agent=st.text(),
    )


def notification_preferences() -> st.SearchStrategy[NotificationPreferences]:
    return st.builds(
        NotificationPreferences,
        new_location=st.booleans(),
        failed_login=st.booleans(),
        security_change=st.booleans(),
    )


def minutes(low: int, high: int) -> st.SearchStrategy[timedelta]:
    return st.integers(low, high).map(lambda m: timedelta(minutes=m))


def security_policies(
    *,
    window: st.SearchStrategy[timedelta] | None = None,
    limit: st.SearchStrategy[int] | None = None,
    period: st.SearchStrategy[timedelta] | None = None,
) -> st.SearchStrategy[SecurityPolicy]:
    """Small windows (1..30 min), limits (1..10) and periods (1..60 min) by default."""
    return st.builds(
        SecurityPolicy,
        failed_login_window=window if window is not None else minutes(1, 30),
        throttle_limit=limit if limit is not None else st.integers(1, 10),
        throttle_period=period if period is not None else minutes(1, 60),
    )


# -- mail addresses ---------------------------------------------------------------------

_LOCAL_CHARS = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"
_LABEL_CHARS = string.ascii_lowercase + string.digits
TOP_LEVEL_DOMAINS = ("ch", "org", "com", "net", "it", "de")


def _dot_atom(chars: str, max_size: int) -> st.SearchStrategy[str]:
    """Atoms joined by single dots: no leading, trailing or doubled dot."""
    atoms = st.lists(
        st.text(alphabet=chars, min_size=1, max_size=16), min_size=1, max_size=4
    )
    return atoms.map(".".join).filter(lambda s: len(s) <= max_size)


def local_parts(max_size: int = 64) -> st.SearchStrategy[str]:
    """RFC 5322 dot-atom local parts, at most 64 characters (RFC 5321 4.5.3.1.1)."""
    long_one = st.integers(1, 64).map(lambda n: "x" * n)
    return st.one_of(_dot_atom(_LOCAL_CHARS, max_size), long_one)


def domain_labels() -> st.SearchStrategy[str]:
    """LDH labels of 1..63 characters without a hyphen at either end or "--"."""
    segments = st.lists(
        st.text(alphabet=_LABEL_CHARS, min_size=1, max_size=12), min_size=1, max_size=3
    )
    short = segments.map("-".join).filter(lambda s: len(s) <= 63)
    longest = st.integers(1, 63).map(lambda n: "d" * n)
    return st.one_of(short, longest)


def domains() -> st.SearchStrategy[str]:
    return st.builds(
        lambda labels, tld: ".".join([*labels, tld]),
        st.lists(domain_labels(), min_size=1, max_size=3),
        st.sampled_from(TOP_LEVEL_DOMAINS),
    )


def login_texts() -> st.SearchStrategy[str]:
    """Texts EmailAddress.parse must accept (ADR-2), within the 254-octet path limit."""
    return st.builds(
        lambda local, domain: f"{local}@{domain}", local_parts(), domains()
    ).filter(lambda s: len(s) <= 254)


def email_addresses() -> st.SearchStrategy[EmailAddress]:
    return login_texts().map(EmailAddress.parse)


# -- phone numbers ---------------------------------------------------------------------

# Regions that are the main region of their calling code, so a national number typed
# after that code is read in that region.
PHONE_REGIONS = ("CH", "FR", "BE", "DE", "IT", "GB", "US", "AT", "ES", "NL", "AU", "BR")


def _example_numbers() -> list[Any]:
    numbers = []
    for region in PHONE_REGIONS:
        for kind in (
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.FIXED_LINE,
        ):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                numbers.append(example)
    return numbers


_EXAMPLES = _example_numbers()


@st.composite
def phone_inputs(draw: st.DrawFn) -> tuple[str, str, str]:
    """(country calling code as typed, national number as typed, expected E.164).

    The code is typed as "+41", "41" or "0041"; the number in its national format with
    its separators replaced, removed or kept; the last digits vary where the result is
    still a valid number of that country.
    """
    example = draw(st.sampled_from(_EXAMPLES))
    digits = str(example.national_number)
    tail = draw(st.integers(0, min(3, len(digits) - 1)))
    if tail:
        new_tail = draw(st.text(alphabet=string.digits, min_size=tail, max_size=tail))
        candidate = phonenumbers.PhoneNumber(
            country_code=example.country_code,
            national_number=int(digits[:-tail] + new_tail),
            italian_leading_zero=example.italian_leading_zero,
            number_of_leading_zeros=example.number_of_leading_zeros,
        )
        if phonenumbers.is_valid_number(candidate):
            example = candidate
    national = str(
        phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
    )
    separator = draw(st.sampled_from((None, "", "-", ".", "  ")))
    if separator is not None:
        national = national.replace(" ", separator)
    prefix = draw(st.sampled_from(("+", "", "00")))
    code = f"{prefix}{example.country_code}"
    expected = str(
        phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    )
    return code, national, expected


def phone_numbers() -> st.SearchStrategy[PhoneNumber]:
    return phone_inputs().map(lambda p: PhoneNumber.parse(p[0], p[1]))


# A few fixed numbers, so that "the same number again" is drawn often.
PHONE_POOL = (
    PhoneNumber.parse("+41", "079 123 45 67"),
    PhoneNumber.parse("+39", "06 1234 5678"),
    PhoneNumber.parse("+33", "06 12 34 56 78"),
)


# -- replay through the real mapper ----------------------------------------------------

MAPPER = CattrsMapper(transcoder=JSONTranscoder())


def through_mapper(events: Iterable[Any]) -> list[Any]:
    """Each event stored and read back as the log would do it."""
    return [MAPPER.to_domain_event(MAPPER.to_stored_event(e)) for e in events]


def replay(events: Iterable[Any], aggregate: A | None = None) -> A | None:
    """Fold events (already read back) onto ``aggregate``, as the repository does."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def stored_bytes(events: Iterable[Any]) -> list[bytes]:
    """What the log would hold for each event: its topic and its state."""
    return [
        stored.topic.encode() + b"\0" + stored.state
        for stored in (MAPPER.to_stored_event(e) for e in events)
    ]


# -- the event classes of the domain ----------------------------------------------------


def domain_aggregates() -> list[type[Aggregate]]:
    """Every Aggregate subclass defined in a module of the ``domain`` package."""
    import domain  # noqa: PLC0415 - only what this walk needs

    found: list[type[Aggregate]] = []
    for info in pkgutil.walk_packages(domain.__path__, "domain."):
        module = importlib.import_module(info.name)
        found.extend(
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and issubclass(value, Aggregate)
            and value.__module__ == module.__name__
        )
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def event_classes_of(aggregate: type[Aggregate]) -> list[type[Any]]:
    """The events an aggregate can store: its nested Event/Created subclasses.

    Left out: the base ``Event`` class the library gives each aggregate, and a
    ``Created`` class the library generates when the aggregate names another created
    event (the library records the usable created events per aggregate).
    """
    created = set(_created_event_classes.get(aggregate, ()))
    events = []
    for name, value in vars(aggregate).items():
        if not isinstance(value, type) or not issubclass(value, Aggregate.Event):
            continue
        if value is vars(aggregate).get("Event"):
            continue
        if issubclass(value, Aggregate.Created) and value not in created:
            continue
        assert name == value.__name__, (aggregate, name)
        events.append(value)
    return events


def domain_event_classes() -> list[type[Any]]:
    return [cls for agg in domain_aggregates() for cls in event_classes_of(agg)]


# -- hosted addresses (ADR-1, ADR-2, ADR-10) ---------------------------------------------

# A handful of local parts, so that generated commands collide: the same name typed in
# another case is the same address (ADR-2), and a quota of a few slots fills up (ADR-1).
LOCAL_PART_POOL = ("ann", "b.c", "x-y", "o'neil", "z+tag", "info")
LOCAL_PART_CASES = ("lower", "upper", "capitalize")

# Redirection targets outside every domain a test service is bound to.
EXTERNAL_TARGETS = ("ann@elsewhere.example", "Bob@Other.ORG", "c.d@mail.example.net")


def pooled_local_parts(pool: Sequence[str] = LOCAL_PART_POOL) -> st.SearchStrategy[str]:
    """A local part of the pool as typed in lower, upper or capitalised case."""
    return st.builds(
        lambda base, case: str(getattr(base, case)()),
        st.sampled_from(pool),
        st.sampled_from(LOCAL_PART_CASES),
    )


def redirect_targets(max_size: int = 3) -> st.SearchStrategy[list[str]]:
    """One or more external target addresses for a redirection (ADR-10)."""
    return st.lists(
        st.sampled_from(EXTERNAL_TARGETS), min_size=1, max_size=max_size, unique=True
    )


# -- mailbox import (IMP-1..IMP-9) -------------------------------------------------------
# A small pool of keys, so generated source and destination contents share keys, hold
# twins (the same key twice in one folder) and keys present on one side only.

IMPORT_KEY_POOL = tuple(
    MessageKey(digest=f"{n:064x}", size=size)
    for n, size in ((1, 100), (2, 100), (3, 2048), (4, 0), (5, 7_000_000))
)
# Same digest, other size: a distinct key (the size is part of it).
IMPORT_KEY_POOL += (MessageKey(digest=IMPORT_KEY_POOL[0].digest, size=101),)


def message_keys(
    pool: Sequence[MessageKey] = IMPORT_KEY_POOL,
) -> st.SearchStrategy[MessageKey]:
    return st.sampled_from(pool)


def folder_contents(*, max_size: int = 12) -> st.SearchStrategy[list[MessageKey]]:
    """The keys of one folder in UID order, twins likely."""
    return st.lists(message_keys(), max_size=max_size)


def source_and_destination() -> st.SearchStrategy[
    tuple[list[MessageKey], list[MessageKey]]
]:
    """A source folder and the destination folder it goes to (which may hold some of its
    messages already, twins included)."""
    return st.tuples(folder_contents(), folder_contents())


# Folder name parts: non-ASCII (modified UTF-7 on the wire), dots and "~" (separators on
# some servers), spaces, the special-use names, and INBOX in other cases.
FOLDER_PARTS = (
    "INBOX",
    "inbox",
    "Sent",
    "Sent Items",
    "Deleted Messages",
    "Spam",
    "Junk E-mail",
    "Archive",
    "Drafts",
    "Work",
    "a.b",
    "~notes",
    "Entwürfe",
    "Données",
    "日本語",
    "[Gmail]",
    "x/y",
)


def folder_paths(*, max_depth: int = 3) -> st.SearchStrategy[tuple[str, ...]]:
    return st.lists(
        st.one_of(
            st.sampled_from(FOLDER_PARTS),
            st.text(
                st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")),
                min_size=1,
                max_size=8,
            ),
        ),
        min_size=1,
        max_size=max_depth,
    ).map(tuple)


def source_folders(separator: str = "/") -> st.SearchStrategy[SourceFolder]:
    return st.builds(
        lambda path, selectable, use: SourceFolder(
            name=separator.join(path),
            path=path,
            selectable=selectable,
            special_use=use,
        ),
        folder_paths(),
        st.booleans(),
        st.none() | st.sampled_from(SpecialUse),
    )


def folder_names() -> st.SearchStrategy[str]:
    """A decoded folder name as a job records it (non-empty)."""
    return folder_paths().map("/".join)


def failure_reasons() -> st.SearchStrategy[FailureReason]:
    return st.sampled_from(FailureReason)


# Hosts a source may name once checked (IMP-6): IDNA, IP literals of both families,
# this machine, and generated names.
SOURCE_HOSTS = (
    "imap.gmx.net",
    "xn--bcher-kva.example",
    "192.0.2.7",
    "2001:db8::1",
    "::1",
    "localhost",
)

# Logins a source server may take: not always an address, sometimes not ASCII.
SOURCE_USERS = ("ann@old.example", "jörg@exämple.de", "o'neil", "DOMAIN\\ann", "用户")


def _source_texts() -> st.SearchStrategy[str]:
    return st.text(
        st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")),
        min_size=1,
        max_size=20,
    )


@st.composite
def external_source_refs(draw: st.DrawFn) -> SourceRef:
    """An IMAP source of any security; a CA file only where TLS is spoken."""
    security = draw(st.sampled_from(Security))
    ca_files = st.sampled_from(("/etc/ssl/ca.pem", "/srv/zertifikäte/ca 1.pem"))
    return SourceRef(
        host=draw(st.one_of(st.sampled_from(SOURCE_HOSTS), domains())),
        port=draw(st.integers(1, 65535)),
        security=security,
        user=draw(st.one_of(st.sampled_from(SOURCE_USERS), _source_texts())),
        credential_id=draw(st.uuids()),
        ca_file=None if security is Security.NONE else draw(st.none() | ca_files),
        insecure=draw(st.booleans()),
    )


def hosted_source_refs() -> st.SearchStrategy[SourceRef]:
    """An address of this provider read through its own store (IMP-5)."""
    return st.builds(SourceRef.hosted_address, login_texts(), st.uuids())


def source_refs() -> st.SearchStrategy[SourceRef]:
    return external_source_refs() | hosted_source_refs()


def job_sources() -> st.SearchStrategy[tuple[SourceRef, ...]]:
    """The one or two sources of a job (IMP-7)."""
    return st.lists(source_refs(), min_size=1, max_size=MAX_SOURCES).map(tuple)


_COUNTS = st.integers(0, 10**6)
_SIZES = st.integers(0, 2**40)


def folder_totals() -> st.SearchStrategy[FolderTotal]:
    return st.builds(FolderTotal, folder_names(), _COUNTS, _SIZES)


def folder_counts() -> st.SearchStrategy[FolderCounts]:
    return st.builds(FolderCounts, _COUNTS, _COUNTS, _COUNTS, _SIZES)


def folder_results() -> st.SearchStrategy[FolderResult]:
    """A folder's checkpoint; failures merged per reason as the job records them."""
    failures = st.lists(
        st.tuples(failure_reasons().map(str), st.integers(0, 1000)), max_size=6
    ).map(merge_failures)
    return st.builds(
        FolderResult,
        destination_folder=folder_names(),
        copied=_COUNTS,
        skipped=_COUNTS,
        failures=failures,
        size=_SIZES,
    )


# -- two-step verification (MFA-1..MFA-7) -------------------------------------------------
# Small limits, so the lock (max_failures) and the push/SMS rate limits are reached
# within a short run; TOTP steps of the real 30 s.


def two_step_policies() -> st.SearchStrategy[Any]:
    from domain.twostepfacts import TwoStepPolicy  # noqa: PLC0415 - this section only

    return st.builds(
        TwoStepPolicy,
        max_failures=st.integers(1, 6),
        lock=minutes(1, 30),
        push_per_window=st.integers(1, 4),
        push_window=minutes(1, 20),
        sms_per_window=st.integers(1, 4),
        sms_window=minutes(1, 90),
    )


def _sms_examples() -> list[tuple[str, str, bool]]:
    """(E.164, region, is mobile) of phonenumbers' example mobile and fixed-line
    numbers of every region of the calling codes 1..999 (the MFA-1 table)."""
    kinds = {
        phonenumbers.PhoneNumberType.MOBILE: True,
        phonenumbers.PhoneNumberType.FIXED_LINE: False,
    }
    table = []
    for code in range(1, 1000):
        for region in phonenumbers.region_codes_for_country_code(code):
            for kind, mobile in kinds.items():
                example = phonenumbers.example_number_for_type(region, kind)
                if example is None or phonenumbers.number_type(example) != kind:
                    continue
                e164 = phonenumbers.format_number(
                    example, phonenumbers.PhoneNumberFormat.E164
                )
                table.append((str(e164), region, mobile))
    return table


SMS_EXAMPLES = _sms_examples()
# Mobile numbers SMS may go to, and look-alikes it may not (+262 RE, +423 LI, fixed).
SMS_POOL = ("+41781234567", "+33612345678", "+32470123456", "+4915123456789")
SMS_REFUSED = ("+262692123456", "+41212345678", "+33123456789", "+4930123456")


def sms_examples() -> st.SearchStrategy[tuple[str, str, bool]]:
    return st.sampled_from(SMS_EXAMPLES)


# -- end of two-step verification ----------------------------------------------------
