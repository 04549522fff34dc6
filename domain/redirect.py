"""The targets of a redirection (ADR-10): the addresses it forwards to.

One rule for the aggregate (domain/mailbox.py) and for a CSV file's rows
(application/csvrows.py), which checks every target of every row before anything is
created and names each problem with its line.
"""

from __future__ import annotations

from collections.abc import Iterable

from domain.address import EmailAddress, identity
from domain.errors import InvalidInput
from domain.hosted import AddressKind

MAX_REDIRECT_TARGETS = 50
POINTS_AT_ITSELF = "a redirection cannot point at itself"


def redirect_target(text: str, *, own: str) -> str:
    """One target, parsed; refused if it is the redirection's own address."""
    target = str(EmailAddress.parse(text, what="target"))
    if identity(target) == identity(own):
        raise InvalidInput(POINTS_AT_ITSELF)
    return target


def too_many_targets(count: int) -> str | None:
    """Why ``count`` distinct targets are too many for one redirection, or None."""
    if count > MAX_REDIRECT_TARGETS:
        return f"a redirection has at most {MAX_REDIRECT_TARGETS} targets, not {count}"
    return None


def targets_of(kind: AddressKind, targets: Iterable[str], own: str) -> tuple[str, ...]:
    """The targets of a new address of ``kind``: some for a redirection, else none."""
    given = tuple(targets)
    if kind is not AddressKind.REDIRECT:
        if given:
            raise InvalidInput("only a redirection has target addresses")
        return ()
    clean = redirect_targets(given, own)
    if not clean:
        raise InvalidInput("a redirection needs at least one target address")
    return clean


def redirect_targets(targets: Iterable[str], own: str) -> tuple[str, ...]:
    """The distinct targets (first spelling kept), each parsed and checked."""
    clean = unique_addresses(str(EmailAddress.parse(t, what="target")) for t in targets)
    problem = too_many_targets(len(clean))
    if problem is not None:
        raise InvalidInput(problem)
    for target in clean:
        redirect_target(target, own=own)
    return clean


def unique_addresses(values: Iterable[str]) -> tuple[str, ...]:
    """Drop repeats of one address (by its identity), keeping the first spelling."""
    seen: dict[str, str] = {}
    for value in values:
        seen.setdefault(identity(value), value)
    return tuple(seen.values())
