"""``rebuild_vs_raw_ratio``: every read model rebuilt from a log, against a raw read.

The log is the projection benchmark's (logins, failures, log-outs, alerts and security
changes over many accounts, written straight through the aggregates). The rebuild is
``mailhost audit rebuild``'s: every projection the engine keeps, fresh instances into
a fresh SQLite file, the log read and decoded once for all of them. The baseline pages
through the same whole log and decodes every event fully with the engine's mapper; the
ratio is rebuild events/s over raw events/s in the same run (1.0: the projections cost
nothing beyond reading the log).

The rebuild decodes lazily, as ``mailhost audit rebuild`` and the live runner do: an
event's fields are structured (and its personal fields opened) only when some
projection reads them; the audit trail reads most events as their envelope alone
(``projections.envelope``). On this log nearly every event is one the recent-activity
view reads in full, so it decodes almost all of them anyway, but with the mapper's
decoding for a whole log (``infrastructure.rundecoding``): a person's key is looked up
once every few seconds rather than per event, and a sealed value seen before (a
person's login context from a known device) is opened but not parsed and structured
again. So the rebuild may decode less than the baseline does, which decodes each event
on its own as the mapper does for a load. It reads the log as the command does too
(``infrastructure.storedpages``: plain SQLite rows, each aggregate's id made once for
the pass); the baseline reads it through the recorder's ``select_notifications``. The
rebuild also writes to a scratch store (no journal on disk, no flush) with the cyclic
garbage collector paused (see ``projections.auditrebuild``); the baseline runs as any
reader of the log runs.
"""

from __future__ import annotations

from benchmarks._core import Options, interleaved, ratio, scratch_engine
from benchmarks.projection import FreshView, LogSeeder, read_log
from infrastructure.storedpages import StoredPages
from projections.auditrebuild import replay


def rebuild_figures(options: Options) -> list[tuple[str, float, str]]:
    rounds = options.pick_rounds(quick=5, full=7)
    events = 3_000 if options.quick else 20_000
    accounts = 100 if options.quick else 400
    with scratch_engine("auditrebuild") as (root, engine):
        log = engine.host.log
        LogSeeder(log, accounts).write(events)
        kinds = [type(p) for p in engine.runner.projections]
        # An empty store, as ``mailhost audit rebuild`` replays into: no runner made
        # beforehand, so the replay makes every table and index itself, in the timing.
        view = FreshView(root, "rebuild", log, None)

        def rebuild() -> int:
            if view.database is None:
                raise RuntimeError("prepared before each round")
            return replay(
                log,
                view.database,
                [kind() for kind in kinds],
                pages=StoredPages.of(log.recorder, engine.settings),
            )

        samples = interleaved(
            {"rebuild": rebuild, "raw": lambda: read_log(log, ())},
            rounds=rounds,
            before={"rebuild": view.prepare},
        )
        view.drop()
    return [
        ("rebuild_per_s", samples["rebuild"].median, "/s"),
        ("rebuild_raw_read_per_s", samples["raw"].median, "/s"),
        (
            "rebuild_vs_raw_ratio",
            ratio(samples["rebuild"].median, samples["raw"].median),
            "x",
        ),
    ]
