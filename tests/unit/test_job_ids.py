"""A job's id and its stored arguments are the texts ``uuid5`` and ``json.dumps`` give.

Both are computed without those functions (a rebuild derives thousands of ids): the
id from a hash of the namespace and actor prefix made once, the arguments' JSON by
quoting each string. A job id names a job for ever (rows written by an older release,
messages in a broker), so any name must give the same text, byte for byte.
"""

from __future__ import annotations

import json
import uuid

from hypothesis import given
from hypothesis import strategies as st

from application.jobs import (
    AS_SOON_AS_POSSIBLE,
    JOB_NAMESPACE,
    SEND_SECURITY_ALERT,
    SYNC_MAIL_STORE,
    Job,
    derived_job_id,
)
from projections.jobs import args_text

# Any text UTF-8 can carry (neither encodes a lone surrogate).
texts = st.text(st.characters(codec="utf-8"))
actors = st.one_of(st.sampled_from([SEND_SECURITY_ALERT, SYNC_MAIL_STORE]), texts)


@given(actors, st.lists(texts, max_size=4))
def test_the_id_is_uuid5_of_the_actor_and_arguments(
    actor: str, args: list[str]
) -> None:
    expected = str(uuid.uuid5(JOB_NAMESPACE, f"{actor}:{':'.join(args)}"))
    assert derived_job_id(actor, tuple(args)) == expected
    # Again, from the actor's prefix now kept.
    assert derived_job_id(actor, tuple(args)) == expected


def test_a_job_is_named_by_its_id() -> None:
    job = Job.of(SYNC_MAIL_STORE, "a", "1", due_at=AS_SOON_AS_POSSIBLE)
    assert job.job_id == str(uuid.uuid5(JOB_NAMESPACE, f"{SYNC_MAIL_STORE}:a:1"))


@given(st.lists(st.text(), max_size=4))
def test_the_arguments_are_stored_as_json_dumps_writes_them(args: list[str]) -> None:
    assert args_text(tuple(args)) == json.dumps(tuple(args))
