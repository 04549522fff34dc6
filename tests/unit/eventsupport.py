"""Hypothesis strategies for stored events, shared by the mapper and aggregate tests."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from hypothesis import strategies as st

from tests.strategies import utc_datetimes


def events_of(
    cls: type[Any], **fields: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """Instances of an event class, with any id, version and UTC time."""
    return st.builds(
        cls,
        originator_id=st.uuids(),
        originator_version=st.integers(1, 2**31),
        timestamp=utc_datetimes(),
        **fields,
    )


def fixed_ids(*tails: str) -> tuple[UUID, ...]:
    """Readable ids for a test's aggregates: ``"b0c1"`` is ...-00000000b0c1, the same
    on every run, so a failing case names the same aggregate each time."""
    return tuple(UUID(f"00000000-0000-4000-8000-{tail:0>12}") for tail in tails)
