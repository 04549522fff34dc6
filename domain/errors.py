"""Errors a command can raise, named by what the caller did wrong.

The command-line interface and embedding services map them to answers (bad input is
exit status 2); none of them carries a secret in its message.
"""


class DomainError(Exception):
    """Base class: the command was refused and nothing was stored."""


class InvalidInput(DomainError, ValueError):  # noqa: N818 - reads as what happened
    """A value does not have the required form (an address, a phone number, ...)."""


class NotFound(DomainError, LookupError):  # noqa: N818 - reads as what happened
    """The named thing does not exist."""


class AlreadyExists(DomainError):  # noqa: N818 - reads as what happened
    """A thing that must be unique exists already."""


class NotPermitted(DomainError, PermissionError):  # noqa: N818 - reads as what happened
    """The actor may not do this (a wrong password, a withdrawn permission, ...)."""
