"""Wires forgetting into an engine: the key ring under the mapper, the use case over it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from application.forgetting import Forgetting
from application.log import MailHostLog
from application.ports import Clock, Fingerprints
from infrastructure.credentials import SqlCredentialStore
from infrastructure.mapper import CattrsMapper
from infrastructure.personaldata import subjects_of
from infrastructure.personkeys import SqlPersonKeys
from infrastructure.redaction import ReadModelRedaction
from infrastructure.sql import Database
from projections.runner import ProjectionRunner


def forgetting(  # noqa: PLR0917 - the bootstrap's one registration line names them in order
    log: MailHostLog,
    runner: ProjectionRunner,
    stores: Iterable[Database],
    secrets: Database,
    fingerprints: Fingerprints,
    clock: Clock,
) -> Forgetting:
    """Before the first event is written: from now on personal fields are sealed."""
    keys = SqlPersonKeys(secrets, fingerprints)
    cast("CattrsMapper", log.mapper).keys = keys
    redaction = ReadModelRedaction(log, runner, stores)
    credentials = SqlCredentialStore(secrets)
    return Forgetting(log, keys, redaction, clock, subjects_of, credentials)
