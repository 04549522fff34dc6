"""Benchmarks of the engine against baselines measured in the same run.

Run them with ``python -m benchmarks`` (``--help`` for the options). Every figure is
printed on its own line as ``bench NAME VALUE UNIT``; the human lines around them never
start with ``bench``. Ratios divide by a baseline timed in the same process, in the
same rounds (the cases are interleaved), because the machines are noisy; the absolute
figures are printed too. Timings use ``time.perf_counter`` after a warm-up round and
report the median over rounds; nothing here asserts a time.

A group is a module of this package that registers itself; ``__main__`` imports every
module whose name does not start with an underscore, so a new group is one new file::

    from benchmarks._core import Options, Report, group, interleaved

    @group("responder", "auto-replies/s vs ...")
    def run(options: Options, report: Report) -> None:
        samples = interleaved({"reply": ..., "baseline": ...}, rounds=5)
        report.figure("reply_per_s", samples["reply"].median, "/s")

Each group runs in its own process, which reports its peak RSS
(``NAME_peak_rss_mb``); the run ends with ``bench peak_rss_mb``, the largest of all.
"""
