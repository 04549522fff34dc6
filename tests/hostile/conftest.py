"""Fixtures of the hostile-input suite: one seeded home, copied afresh for every case.

Seeding costs about a second (password hashes, a process of its own); copying the closed
home costs milliseconds, so every case starts from the same world and none can see what
another wrote.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

import pytest
from attrs import frozen

from tests.hostile.support import (
    CLEARED_NAMES,
    CLEARED_PREFIXES,
    REPO,
    Snapshot,
    clean_environment,
    snapshot,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from application.host import MailHost
    from infrastructure.bootstrap import Engine


@frozen
class Seeded:
    home: Path
    ann_id: UUID
    bob_id: UUID
    invitation_id: UUID
    token: str


@frozen
class World:
    """A copy of the seeded home, open in this process (no background threads)."""

    root: Path
    home: Path
    engine: Engine
    seeded: Seeded
    pristine: Snapshot
    # The case's snapshot after its call, so that the pool need not take another.
    after: list[Snapshot]

    @property
    def host(self) -> MailHost:
        return self.engine.host


@pytest.fixture(autouse=True)
def _no_engine_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(CLEARED_PREFIXES) or name in CLEARED_NAMES:
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    home = tmp_path_factory.mktemp("hostile-seed") / "home"
    done = subprocess.run(
        [sys.executable, "-m", "tests.hostile.seed", str(home)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=clean_environment(),
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"seeding failed: {done.stderr[-2000:]}", pytrace=False)
    ids = json.loads(done.stdout.strip().splitlines()[-1])
    return Seeded(
        home,
        UUID(ids["ann_id"]),
        UUID(ids["bob_id"]),
        UUID(ids["invitation_id"]),
        ids["token"],
    )


@pytest.fixture
def home(seeded: Seeded, tmp_path: Path) -> Path:
    """A fresh copy of the seeded home in this test's folder."""
    copy = tmp_path / "home"
    shutil.copytree(seeded.home, copy)
    return copy


class _Pool:
    """One open copy of the seeded home, handed to case after case until one writes.

    Opening an engine on a fresh copy for each of hundreds of cases would cost most of
    the suite's time; a refused case leaves the copy as it was (that is what each case
    checks), so the next may use it. A case that wrote gets the copy thrown away.
    """

    def __init__(self, seeded: Seeded, factory: pytest.TempPathFactory) -> None:
        self.seeded = seeded
        self.factory = factory
        self.current: World | None = None

    def acquire(self) -> World:
        if self.current is None:
            from infrastructure.bootstrap import open_engine  # noqa: PLC0415 - env cleared first

            root = self.factory.mktemp("hostile-world")
            home = root / "home"
            shutil.copytree(self.seeded.home, home)
            engine = open_engine(home, {}, background=False)
            self.current = World(root, home, engine, self.seeded, snapshot(root), [])
        self.current.after.clear()
        return self.current

    def release(self) -> None:
        if self.current is None:
            return
        after = (
            self.current.after[-1]
            if self.current.after
            else snapshot(self.current.root)
        )
        if after != self.current.pristine:
            self.close()

    def close(self) -> None:
        if self.current is not None:
            self.current.engine.close()
            self.current = None


@pytest.fixture(scope="session")
def _pool(seeded: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Pool]:
    pool = _Pool(seeded, tmp_path_factory)
    yield pool
    pool.close()


@pytest.fixture
def world(_pool: _Pool, _no_engine_settings: None) -> Iterator[World]:
    """The seeded world, open in this process, as no case before changed it."""
    try:
        yield _pool.acquire()
    finally:
        _pool.release()
