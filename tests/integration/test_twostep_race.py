"""Two processes submit the same TOTP code at once: exactly one login wins (MFA-3).

Each process opens its own engine on the same store (an SQLite home, or one PostgreSQL
database), waits at a barrier of files, then logs in with the code. The log's
optimistic concurrency is the only lock: both load the same version, one save wins, the
other is decided again on fresh state and refused as a replay.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest

from application.twostep import Reauth
from tests.integration.support import LOGIN, PASSWORD, ManualClock, engine, with_user
from tests.integration.test_twostep import seed_of

REPO = Path(__file__).resolve().parents[2]
CHILD = r"""
import json, sys, time
from datetime import datetime
from pathlib import Path
from infrastructure.bootstrap import open_engine

home, env, at, code, barrier, me = sys.argv[1:7]
class Clock:
    def now(self):
        return datetime.fromisoformat(at)
engine = open_engine(home, json.loads(env), background=False, clock=Clock())
barrier = Path(barrier)
(barrier / f"ready-{me}").touch()
while len(list(barrier.glob("ready-*"))) < 2:
    time.sleep(0.001)
try:
    result = engine.host.accounts.login(
        "ann@example.org", sys.argv[7], ip="192.0.2.10", code=code
    )
    print("won" if result.session_id else "pending")
except Exception as e:
    print("refused", type(e).__name__)
engine.close()
"""


@pytest.fixture(params=["sqlite", "postgres"])
def env(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "sqlite":
        return {}
    return dict(request.getfixturevalue("postgres_env"))


def test_one_code_two_processes_one_winner(tmp_path: Path, env: dict[str, str]) -> None:
    # rule MFA-3
    home = tmp_path / "home"
    at = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)
    clock = ManualClock(at)
    with engine(home, env, background=False, clock=clock) as e:
        with_user(e)
        assert e.host.twostep is not None
        enrolment = e.host.twostep.enrol(LOGIN, "totp", Reauth(password=PASSWORD))
        assert enrolment.otpauth_uri is not None
        seed = seed_of(enrolment.otpauth_uri)
        e.host.twostep.confirm(LOGIN, enrolment.factor_id, code=pyotp.TOTP(seed).at(at))
    later = at + timedelta(seconds=60)
    code = pyotp.TOTP(seed).at(later)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    argv = [str(home), json.dumps(env), later.isoformat(), code, str(barrier)]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, *argv, str(n), PASSWORD],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    outputs = [child.communicate(timeout=120) for child in children]
    answers = sorted(out.strip().split()[0] for out, _ in outputs)
    assert answers == ["refused", "won"], outputs
    assert any("SecondFactorRefused" in out for out, _ in outputs)
