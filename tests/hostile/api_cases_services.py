"""Hostile cases for mail services: a domain's creation, lookup and quota, and the
settings a service holds for all its addresses (see ``test_api_hostile``)."""

from __future__ import annotations

from collections.abc import Mapping

from application.authorization import OPERATOR
from domain.permissions import Permission
from tests.hostile.api_cases import (
    CORE_HOSTED,
    CORE_LINE,
    DOMAIN_NAME,
    LOOKUP,
    ORG,
    Case,
    Entry,
    each,
    pick,
)
from tests.hostile.support import BLOCK, DOMAIN, HOSTED, LINE, MB, NUMBER

DMARC: Mapping[str, str] = {
    "crlf": "v=DMARC1; p=reject\r\nX-Evil: 1",
    "nul": "v=DMARC1; p=reject\x00",
    "esc": "v=DMARC1; p=reject; rua=mailto:\x1b[31mx@example.org",
    "surrogate": "v=DMARC1; p=reject; rua=mailto:\udcff@example.org",
    "huge": "v=DMARC1; p=reject; rua=mailto:" + "x" * MB + "@example.org",
}


CREATE = Entry(
    "services.create", organisation=ORG, domain="other.example", quota=10, by=OPERATOR
)
INCREASE_QUOTA = Entry(
    "services.increase_quota", domain=DOMAIN_NAME, added=1, by=OPERATOR
)
SIGNATURE_TEMPLATE = Entry(
    "services.save_signature_template",
    domain=DOMAIN_NAME,
    name="Other",
    text="Regards",
    by=OPERATOR,
)
RECORD_DMARC = Entry("services.record_dmarc", domain=DOMAIN_NAME, by=OPERATOR)


def cases() -> list[Case]:
    return [*_domains(), *_service_settings()]


def _domains() -> list[Case]:
    return [
        *CREATE.vary("domain", DOMAIN, ["domain"]),
        *CREATE.vary("quota", {**NUMBER, "zero": 0}, ["quota"]),
        *CREATE.vary(
            "organisation",
            pick(LINE, "nul", "surrogate", "huge"),
            ["organisation"],
            LOOKUP,
        ),
        *Entry("services.get").vary(
            "domain",
            pick(DOMAIN, "nul", "esc", "traversal", "surrogate", "huge"),
            ["domain", "service"],
            LOOKUP,
        ),
        *Entry("services.mailbox").vary(
            "address", HOSTED, ["address", "domain"], LOOKUP
        ),
        *INCREASE_QUOTA.vary("added", {**NUMBER, "zero": 0}, ["quota"]),
        *INCREASE_QUOTA.vary(
            "domain",
            pick(DOMAIN, "nul", "traversal", "surrogate"),
            ["domain", "service"],
            LOOKUP,
        ),
    ]


def _service_settings() -> list[Case]:
    default_permissions = Entry(
        "services.set_default_permissions", permissions=[Permission.SEND], by=OPERATOR
    )
    return [
        *default_permissions.vary(
            "domain", pick(DOMAIN, "nul", "surrogate"), ["domain", "service"], LOOKUP
        ),
        *SIGNATURE_TEMPLATE.vary("name", pick(LINE, *CORE_LINE), ["template", "name"]),
        *SIGNATURE_TEMPLATE.vary(
            "text",
            pick(BLOCK, "nul", "esc", "bidi", "surrogate", "huge"),
            ["template", "signature"],
        ),
        *Entry("services.set_catch_all", domain=DOMAIN_NAME, by=OPERATOR).vary(
            "address",
            pick(HOSTED, *CORE_HOSTED),
            ["address", "catch-all", "domain"],
            LOOKUP,
        ),
        *RECORD_DMARC.vary("record", DMARC, ["dmarc"]),
        # ``host.advise`` is the facade's own: no area to name it by.
        *each(
            "host.advise/domain",
            pick(DOMAIN, "nul", "esc", "traversal", "surrogate"),
            lambda w, v: w.host.advise(v),
            ["domain", "service"],
            LOOKUP,
        ),
    ]
