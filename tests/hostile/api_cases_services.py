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


def cases() -> list[Case]:
    return [*_domains(), *_service_settings()]


def _domains() -> list[Case]:
    c: list[Case] = []
    c += each(
        "services.create/domain",
        DOMAIN,
        lambda w, v: w.host.services.create(ORG, v, quota=10, by=OPERATOR),
        ["domain"],
    )
    c += each(
        "services.create/quota",
        {**NUMBER, "zero": 0},
        lambda w, v: w.host.services.create(ORG, "other.example", quota=v, by=OPERATOR),
        ["quota"],
    )
    c += each(
        "services.create/organisation",
        pick(LINE, "nul", "surrogate", "huge"),
        lambda w, v: w.host.services.create(v, "other.example", quota=10, by=OPERATOR),
        ["organisation"],
        LOOKUP,
    )
    c += each(
        "services.get/domain",
        pick(DOMAIN, "nul", "esc", "traversal", "surrogate", "huge"),
        lambda w, v: w.host.services.get(v),
        ["domain", "service"],
        LOOKUP,
    )
    c += each(
        "services.mailbox/address",
        HOSTED,
        lambda w, v: w.host.services.mailbox(v),
        ["address", "domain"],
        LOOKUP,
    )
    c += each(
        "services.increase_quota/added",
        {**NUMBER, "zero": 0},
        lambda w, v: w.host.services.increase_quota(DOMAIN_NAME, v, by=OPERATOR),
        ["quota"],
    )
    c += each(
        "services.increase_quota/domain",
        pick(DOMAIN, "nul", "traversal", "surrogate"),
        lambda w, v: w.host.services.increase_quota(v, 1, by=OPERATOR),
        ["domain", "service"],
        LOOKUP,
    )
    return c


def _service_settings() -> list[Case]:
    c: list[Case] = []
    c += each(
        "services.set_default_permissions/domain",
        pick(DOMAIN, "nul", "surrogate"),
        lambda w, v: w.host.services.set_default_permissions(
            v, [Permission.SEND], by=OPERATOR
        ),
        ["domain", "service"],
        LOOKUP,
    )
    c += each(
        "services.save_signature_template/name",
        pick(LINE, *CORE_LINE),
        lambda w, v: w.host.services.save_signature_template(
            DOMAIN_NAME, v, "Regards", by=OPERATOR
        ),
        ["template", "name"],
    )
    c += each(
        "services.save_signature_template/text",
        pick(BLOCK, "nul", "esc", "bidi", "surrogate", "huge"),
        lambda w, v: w.host.services.save_signature_template(
            DOMAIN_NAME, "Other", v, by=OPERATOR
        ),
        ["template", "signature"],
    )
    c += each(
        "services.set_catch_all/address",
        pick(HOSTED, *CORE_HOSTED),
        lambda w, v: w.host.services.set_catch_all(DOMAIN_NAME, v, by=OPERATOR),
        ["address", "catch-all", "domain"],
        LOOKUP,
    )
    c += each(
        "services.record_dmarc/record",
        DMARC,
        lambda w, v: w.host.services.record_dmarc(DOMAIN_NAME, v, by=OPERATOR),
        ["dmarc"],
    )
    c += each(
        "host.advise/domain",
        pick(DOMAIN, "nul", "esc", "traversal", "surrogate"),
        lambda w, v: w.host.advise(v),
        ["domain", "service"],
        LOOKUP,
    )
    return c
