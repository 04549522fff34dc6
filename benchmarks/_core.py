"""What every group shares: the registry, the figures, timing and scratch space."""

from __future__ import annotations

import math
import re
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from application.ports import Clock
from infrastructure.bootstrap import Engine, open_engine
from infrastructure.settings import SQLITE

NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
UNIT = re.compile(r"\S+\Z")

# The variables the engine reads, pinned to the embedded defaults (empty means unset),
# so a shell set up for PostgreSQL, Redis or SMTP does not change what is measured.
EMBEDDED_ENV: Mapping[str, str] = {
    "PERSISTENCE_MODULE": SQLITE,
    "SQLITE_DBNAME": "",
    "MAILHOST_BROKER_URL": "",
    "MAILHOST_SMTP_URL": "",
    "MAILHOST_GEOIP_CSV": "",
    "MAILHOST_SECRET_KEY": "",
    "MAILHOST_LOGIN_THROTTLE": "",
    "MAILHOST_FAILED_LOGIN_WINDOW": "",
    "CIPHER_TOPIC": "",
    "CIPHER_KEY": "",
    "COMPRESSOR_TOPIC": "",
}


@dataclass(frozen=True)
class Options:
    quick: bool = False
    rounds: int | None = None  # overrides each group's number of timed rounds

    def pick_rounds(self, *, quick: int, full: int) -> int:
        if self.rounds is not None:
            return self.rounds
        return quick if self.quick else full


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    note: str = ""


def format_value(value: float) -> str:
    """Four significant digits, never an exponent, so any float parser reads it."""
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:  # noqa: PLR2004 - exact in a float
        return str(int(value))
    decimals = max(0, 3 - math.floor(math.log10(abs(value))))
    return f"{value:.{min(decimals, 9)}f}"


def bench_line(name: str, value: float, unit: str) -> str:
    return f"bench {name} {format_value(value)} {unit}"


@dataclass
class Report:
    """Prints each figure as it is measured, and a table of them at the end."""

    group: str
    out: TextIO = field(default_factory=lambda: sys.stdout)
    figures: list[Figure] = field(default_factory=list)

    def note(self, text: str) -> None:
        """A human line; indented, so it never starts with ``bench``."""
        print(f"  {text}", file=self.out, flush=True)

    def figure(self, name: str, value: float, unit: str, note: str = "") -> None:
        if not NAME.match(name) or not UNIT.match(unit):
            raise ValueError(f"figure name {name!r} or unit {unit!r} is not printable")
        if any(f.name == name for f in self.figures):
            raise ValueError(f"figure {name!r} reported twice")
        self.figures.append(Figure(name, value, unit, note))
        print(bench_line(name, value, unit), file=self.out, flush=True)

    def table(self) -> None:
        if not self.figures:
            return
        width = max(len(f.name) for f in self.figures)
        values = [format_value(f.value) for f in self.figures]
        value_width = max(len(v) for v in values)
        print(f"  -- {self.group} --", file=self.out)
        for figure, value in zip(self.figures, values, strict=True):
            line = f"  {figure.name:<{width}}  {value:>{value_width}} {figure.unit:<3}"
            print(f"{line}  {figure.note}".rstrip(), file=self.out)
        self.out.flush()


Run = Callable[[Options, Report], None]


@dataclass(frozen=True)
class Group:
    name: str
    description: str
    run: Run


GROUPS: dict[str, Group] = {}


def group(name: str, description: str) -> Callable[[Run], Run]:
    """Register a benchmark group; its module only has to be imported."""

    def register(run: Run) -> Run:
        if not NAME.match(name):
            raise ValueError(f"group name {name!r} must be lower-case letters and _")
        if name in GROUPS:
            raise ValueError(f"group {name!r} is registered twice")
        GROUPS[name] = Group(name, description, run)
        return run

    return register


# -- timing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """Rates of one case over the timed rounds (operations per second)."""

    rates: tuple[float, ...]
    seconds_per_op: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.rates)

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds_per_op)

    @classmethod
    def from_laps(cls, rounds: Sequence[Sequence[float]]) -> Sample:
        """From the durations of single operations, one sequence per round."""
        totals = [(len(laps), sum(laps)) for laps in rounds if laps]
        return cls(
            rates=tuple(n / total for n, total in totals),
            seconds_per_op=tuple(total / n for n, total in totals),
        )

    def spread(self) -> str:
        return (
            f"median of {len(self.rates)}, range {format_value(min(self.rates))}"
            f"..{format_value(max(self.rates))}"
        )


Case = Callable[[], int]


def _nothing() -> None:
    return None


def interleaved(
    cases: Mapping[str, Case],
    *,
    rounds: int,
    warmup: int = 1,
    before: Mapping[str, Callable[[], None]] | None = None,
) -> dict[str, Sample]:
    """Time every case once per round, rotating the order, after untimed warm-up rounds.

    A case does a batch of operations and returns how many; ``before`` names untimed
    set-up to run before each call of a case. Interleaving puts the cases side by side
    in time, so a noisy neighbour slows them all rather than one.
    """
    names = list(cases)
    before = before or {}
    for _ in range(warmup):
        for name in names:
            before.get(name, _nothing)()
            cases[name]()
    seconds: dict[str, list[float]] = {name: [] for name in names}
    counts: dict[str, list[int]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            before.get(name, _nothing)()
            start = time.perf_counter()
            count = cases[name]()
            elapsed = time.perf_counter() - start
            if count <= 0:
                raise RuntimeError(f"benchmark case {name!r} did no work")
            seconds[name].append(elapsed)
            counts[name].append(count)
    return {
        name: Sample(
            rates=tuple(
                n / s for n, s in zip(counts[name], seconds[name], strict=True)
            ),
            seconds_per_op=tuple(
                s / n for n, s in zip(counts[name], seconds[name], strict=True)
            ),
        )
        for name in names
    }


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


# -- environment ------------------------------------------------------------------------


@contextmanager
def scratch_dir(label: str) -> Iterator[Path]:
    """A private temporary directory, removed afterwards (even on failure)."""
    with tempfile.TemporaryDirectory(prefix=f"mailhost-bench-{label}-") as path:
        yield Path(path)


@contextmanager
def scratch_engine(
    label: str, *, clock: Clock | None = None
) -> Iterator[tuple[Path, Engine]]:
    """An engine on the embedded defaults, in a scratch directory; closed, then removed.

    No background threads: a benchmark times its own commands, not the projections'.
    The directory is there for the benchmark's own files, beside the engine's home.
    """
    with scratch_dir(label) as root:
        engine = open_engine(root / "home", EMBEDDED_ENV, clock=clock, background=False)
        try:
            yield root, engine
        finally:
            engine.close()


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """The peak resident set size so far (Linux reports ru_maxrss in KiB)."""
    kib = resource.getrusage(who).ru_maxrss
    if sys.platform == "darwin":  # bytes there
        kib //= 1024
    return kib / 1024
