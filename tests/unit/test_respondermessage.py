"""A message's fields, checked once by the text rules, and its exclusions (RSP-2)."""

from __future__ import annotations

from typing import Any

import pytest

from domain.errors import InvalidInput
from domain.respondermessage import MessageDraft, parse_exclusion
from tests.unit.responder_support import T0, provision, refused, with_messages


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "   "),
        ("name", "x" * 101),
        ("name", "nul\x00here"),
        ("body", "  \n "),
        ("body", "x" * 100_001),
        ("body", "bell \x07"),
        ("subject", "nul\x00"),
        ("subject", "x" * 201),
    ],
)
def test_message_fields_are_validated(field: str, value: str) -> None:
    # rule RSP-2
    responder = provision()
    fields: dict[str, Any] = {"name": "Away", "body": "I am away.", "subject": None}
    fields[field] = value
    refused(
        responder,
        lambda: responder.save_message(
            MessageDraft(
                name=fields["name"], body=fields["body"], subject=fields["subject"]
            ),
            at=T0,
        ),
        InvalidInput,
    )


def test_names_and_subjects_are_normalised_and_bodies_keep_their_lines() -> None:
    responder = provision()
    message = responder.save_message(
        MessageDraft(
            name="  Summer   break ", body="Back on\r\nMonday.\rBye", subject="  Away  "
        ),
        at=T0,
    )
    assert message.name == "Summer break"
    assert message.key == "summer break"
    assert message.subject == "Away"
    assert message.body == "Back on\nMonday.\nBye"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("message name", "Away\r\nBcc: victim@example.com"),
        ("message name", "Away\nX"),
        ("message name", "Away\tX"),
        ("subject", "Injected\r\nBcc: victim@example.com"),
        ("subject", "Injected\nX-Evil: 1"),
        ("subject", "Injected\rX"),
        ("subject", "tab\there"),
    ],
)
def test_a_line_break_in_a_name_or_subject_is_refused_not_folded(
    field: str, value: str
) -> None:
    # rule RSP-2: one rule for one-line text (domain.text.clean_line, issue 7): CR LF in
    # a subject would inject header fields into every reply; it used to be folded to a
    # space and saved, now the user hears which field holds it and nothing is saved.
    responder = with_messages("Saved")
    fields: dict[str, Any] = {"name": "Other", "subject": None}
    fields["name" if field == "message name" else "subject"] = value
    with pytest.raises(InvalidInput, match=field):
        responder.save_message(
            MessageDraft(name=fields["name"], body="x", subject=fields["subject"]),
            at=T0,
        )
    refused(
        responder,
        lambda: responder.save_message(
            MessageDraft(name=fields["name"], body="x", subject=fields["subject"]),
            at=T0,
        ),
        InvalidInput,
    )
    if field == "subject":
        refused(
            responder,
            lambda: responder.edit_message(
                MessageDraft(name="Saved", body="x", subject=value), at=T0
            ),
            InvalidInput,
        )
    else:
        # A saved name holds none either: the look-up of an edit refuses it too.
        refused(
            responder,
            lambda: responder.edit_message(
                MessageDraft(name=value.replace("Away", "Saved"), body="x"), at=T0
            ),
            InvalidInput,
        )


def test_exclusions_are_validated_normalised_and_matched_ignoring_case() -> None:
    # rule RSP-2: exclusions are addresses or @domain.xyz for a whole domain
    responder = provision()
    message = responder.save_message(
        MessageDraft(
            name="Away",
            body="away",
            exclusions=["Boss@Company.COM", "@Partner.CH", "@partner.ch", " x@y.org "],
        ),
        at=T0,
    )
    assert message.exclusions == ("@partner.ch", "boss@company.com", "x@y.org")
    assert message.excluded_by("BOSS@company.com") == "boss@company.com"
    assert message.excluded_by("anyone@PARTNER.ch") == "@partner.ch"
    # A domain entry is that domain, not its subdomains nor a longer name.
    assert message.excluded_by("a@eu.partner.ch") is None
    assert message.excluded_by("a@notpartner.ch") is None
    assert message.excluded_by("boss@company.co") is None


@pytest.mark.parametrize("entry", ["partner.ch", "@", "@not a domain", "a@@b", "@x..y"])
def test_a_malformed_exclusion_is_refused(entry: str) -> None:
    # rule RSP-2
    with pytest.raises(InvalidInput):
        parse_exclusion(entry)
    responder = provision()
    refused(
        responder,
        lambda: responder.save_message(
            MessageDraft(name="Away", body="away", exclusions=[entry]), at=T0
        ),
        InvalidInput,
    )


def test_exclusions_are_kept_by_identity() -> None:
    # rule RSP-2: an excluded straße@ is not an excluded strasse@
    message = provision().save_message(
        MessageDraft(
            name="Away",
            body="x",
            exclusions=["Straße@Example.NET", "\u017fupport@example.net", "Bob@X.org"],
        ),
        at=T0,
    )
    assert message.exclusions == (
        "bob@x.org",
        "straße@example.net",
        "\u017fupport@example.net",
    )
    assert message.excluded_by("STRAßE@example.net") == "straße@example.net"
    assert message.excluded_by("strasse@example.net") is None
    assert message.excluded_by("support@example.net") is None
    assert message.excluded_by("BOB@x.org") == "bob@x.org"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", "Away\x0buntil Monday"),
        ("subject", "Away\x0cuntil Monday"),
        ("subject", "Away\u2028until Monday"),
        ("subject", "Away\u2029until Monday"),
        ("subject", "Away\x1b[31m"),
        ("subject", "Away\u202euntil"),
        ("message name", "Sum\x0bmer"),
        ("message name", "Sum\u2028mer"),
    ],
)
def test_separators_and_controls_in_a_subject_or_name_are_refused(
    field: str, value: str
) -> None:
    # rule RSP-2: issue 7 item 15; str.split() used to read VT, FF, U+2028 as blanks
    responder = provision()
    name, subject = (value, None) if field == "message name" else ("Away", value)
    refused(
        responder,
        lambda: responder.save_message(
            MessageDraft(name=name, body="x", subject=subject), at=T0
        ),
        InvalidInput,
    )
    with pytest.raises(InvalidInput, match=f"^{field} contains a control character"):
        responder.save_message(
            MessageDraft(name=name, body="x", subject=subject), at=T0
        )
