"""Templates an admin saves on a mail service and applies to its addresses (ADR-12).

Each template is checked when it is saved by the rules of the thing it becomes: a
signature template by the mailbox's signature rule (domain/signature.py), a responder
template by the rules of the responder message (domain/respondermessage.py
MessageDraft). Otherwise a template could be saved and then refuse every
address it is applied to, with a message that does not name the template.
"""

from __future__ import annotations

from attrs import frozen

from domain.errors import InvalidInput
from domain.respondermessage import MAX_NAME_LENGTH, MessageDraft
from domain.signature import MAX_SIGNATURE, clean_signature
from domain.text import clean_block, required_line

# A responder template's body is bounded like a signature: well below the responder
# message's own limit, so every saved body fits the message it becomes.
MAX_TEMPLATE = MAX_SIGNATURE


@frozen
class ResponderTemplate:
    name: str
    subject: str | None
    body: str


def template_name(name: str, *, field: str = "a template name") -> str:
    """A template's name is also the name of the responder message it becomes."""
    return required_line(
        name,
        field=field,
        max_length=MAX_NAME_LENGTH,
        empty=f"a template name has 1 to {MAX_NAME_LENGTH} printable characters",
    )


def signature_template(name: str, text: str) -> tuple[str, str]:
    """(name, signature) of a signature template, checked as a signature."""
    clean = template_name(name)
    return clean, clean_signature(text, field=f"signature template {clean!r}")


def responder_template(
    name: str, *, subject: str | None, body: str
) -> ResponderTemplate:
    """A responder template, refused unless it makes a valid responder message.

    The message's own rules decide (MessageDraft); the body is also bounded by the
    template's limit, and every refusal names the template.
    """
    clean = template_name(name)
    field = f"responder template {clean!r}"
    text = clean_block(body, field=f"{field} body", max_length=MAX_TEMPLATE)
    if not text.strip():
        raise InvalidInput(f"{field} body is empty")
    try:
        draft = MessageDraft(name=clean, body=text, subject=subject)
    except InvalidInput as e:
        raise InvalidInput(f"{field} {e}") from None
    return ResponderTemplate(draft.name, draft.subject, draft.body)
