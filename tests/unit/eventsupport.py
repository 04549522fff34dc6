"""Hypothesis strategies for stored events, shared by the mapper and aggregate tests."""

from __future__ import annotations

from typing import Any

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
