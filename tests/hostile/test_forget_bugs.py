"""Bugs found attacking ``mailhost user forget`` (issue 11): each fails until fixed.

Kept apart from test_forget_hostile.py (which passes) so that one can be committed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.hostile.audit_world import run
from tests.hostile.test_forget_hostile import (  # noqa: F401 - demo: a fixture used by name
    ANN,
    demo,
    forget,
    scan,
)


@pytest.fixture
def home(demo: Path, tmp_path: Path) -> Path:  # noqa: F811 - the fixture
    return Path(shutil.copytree(demo, tmp_path / "home"))


def test_no_byte_of_the_home_holds_a_forgotten_persons_data(home: Path) -> None:
    """Fails today: credentials.sqlite keeps her unfinished two-step sign-in
    (application/loginflow.py PendingLogin, owner = her account) with her user agent,
    network and place in plain; forgetting deletes keys and rebuilds read models only."""
    assert forget(home).status == 0
    assert scan(home) == {}


def test_the_forget_confirmation_names_the_login_it_forgot(home: Path) -> None:
    """Fails today: the sentence reads "ann@[link removed] forgotten" (neutralise, meant
    for outside text, strips the operator's own argument as link-like)."""
    done = run(home, "user", "forget", ANN, "--yes")
    assert done.status == 0, done.err
    assert f"{ANN} forgotten" in done.out
