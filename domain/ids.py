"""Ids derived from what must be unique, so a second "create" conflicts on save."""

from uuid import UUID, uuid5

from domain.address import identity
from domain.text import clean_line

NAMESPACE = UUID("6f1c9f3e-6b0c-5a43-9a51-2f6f1f0d7b11")
# The longest organisation name (domain/organisation.py founds none longer).
MAX_ORGANISATION_NAME = 200


def organisation_id(name: str) -> UUID:
    return uuid5(NAMESPACE, f"organisation:{name.casefold()}")


def organisation_key(name_or_id: str | UUID) -> UUID:
    """An organisation's id from its id, or from its name as typed (blanks folded).

    A name is checked by the rule that founds one: a control character or line break
    names no organisation (it could never have been founded), and a lone surrogate
    could not even be encoded into the id, so both are refused here, named.
    """
    if isinstance(name_or_id, UUID):
        return name_or_id
    name = clean_line(
        name_or_id, field="organisation name", max_length=MAX_ORGANISATION_NAME
    )
    return organisation_id(name)


def account_id(login: str) -> UUID:
    """The account of a login: one per address identity, never per case-folded form.

    The domain compares through IDNA and the local part NFC-normalised and lower-cased
    (:func:`domain.address.identity`), so ``straße@`` and ``strasse@`` are two accounts
    and ``\u017fupport@`` (long s) does not take ``support@``. Ids of ASCII logins are
    unchanged from when they were case-folded (``lower()`` equals ``casefold()`` on
    ASCII, and NFC leaves ASCII as it is), so every stored ASCII account keeps its id.
    Only a login whose fold differs from its lower case (ß, long s, final sigma,
    ligatures) or that was typed decomposed derives another id than before.
    """
    return uuid5(NAMESPACE, f"account:{identity(login)}")


def two_step_id(account_id: UUID) -> UUID:
    """The account's one TwoStep aggregate: a second "open" conflicts on save."""
    return uuid5(NAMESPACE, f"two-step:{account_id}")
