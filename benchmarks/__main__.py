"""``python -m benchmarks``: run the benchmark groups, each in its own process.

A process per group keeps one group's memory and warm caches out of the next group's
figures, and gives each group its own peak RSS. ``--in-process`` runs them here instead
(for a profiler); peak RSS is then the process's, cumulative over the groups.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import benchmarks
from benchmarks._core import GROUPS, Options, Report, bench_line, peak_rss_mb


def discover() -> None:
    """Import every group module; each registers itself."""
    for module in pkgutil.iter_modules(benchmarks.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{benchmarks.__name__}.{module.name}")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parser() -> argparse.ArgumentParser:
    names = sorted(GROUPS)
    listing = "\n".join(f"  {n:<12} {GROUPS[n].description}" for n in names)
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(
            "Benchmarks of the mailhost engine. Each figure is printed on its own line "
            "as 'bench NAME VALUE UNIT'; ratios compare with a baseline measured in the "
            "same run. Values are medians over interleaved timed rounds."
        ),
        epilog=f"groups:\n{listing}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a short run: fewer rounds and smaller data (under a minute on 2 cores)",
    )
    p.add_argument(
        "--only",
        action="append",
        choices=names,
        metavar="NAME",
        help=f"run only this group; may be repeated (one of: {', '.join(names)})",
    )
    p.add_argument(
        "--rounds",
        type=_positive,
        metavar="N",
        help="timed rounds per case, instead of each group's default",
    )
    p.add_argument(
        "--in-process",
        action="store_true",
        help="run the groups in this process rather than one subprocess each",
    )
    p.add_argument("--list", action="store_true", help="list the groups and exit")
    p.add_argument("--worker", choices=names, help=argparse.SUPPRESS)
    return p


def run_here(name: str, options: Options) -> None:
    """Run one group in this process, then report this process's peak RSS."""
    group = GROUPS[name]
    report = Report(name)
    start_rss = peak_rss_mb()
    group.run(options, report)
    report.figure(
        f"{name}_start_rss_mb", start_rss, "MB", "peak RSS before the group ran"
    )
    peak = f"{name}_peak_rss_mb"
    if all(f.name != peak for f in report.figures):  # import reports its importer's
        report.figure(peak, peak_rss_mb(), "MB", "ru_maxrss of the process")
    report.table()


def run_child(name: str, options: Options) -> int:
    argv = [sys.executable, "-m", "benchmarks", "--worker", name]
    if options.quick:
        argv.append("--quick")
    if options.rounds is not None:
        argv += ["--rounds", str(options.rounds)]
    root = str(Path(benchmarks.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env) as child:  # noqa: S603 - our own interpreter and module
        if child.stdout is None:
            raise RuntimeError("no pipe from the benchmark process")
        for line in child.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
        return child.wait()


def main(argv: Sequence[str] | None = None) -> int:
    discover()
    args = parser().parse_args(argv)
    if args.list:
        for name in sorted(GROUPS):
            print(f"{name:<12} {GROUPS[name].description}")
        return 0
    options = Options(quick=args.quick, rounds=args.rounds)
    if args.worker:
        run_here(args.worker, options)
        return 0
    names = args.only or sorted(GROUPS)
    failed: list[str] = []
    began = time.perf_counter()
    for name in dict.fromkeys(names):
        print(f"== {name}: {GROUPS[name].description}", flush=True)
        started = time.perf_counter()
        if args.in_process:
            run_here(name, options)
        else:
            code = run_child(name, options)
            if code != 0:
                print(f"!! group {name} failed (exit status {code})", flush=True)
                failed.append(name)
        print(f"   {name} took {time.perf_counter() - started:.1f} s", flush=True)
    peak = max(peak_rss_mb(), peak_rss_mb(resource.RUSAGE_CHILDREN))
    print(f"== all done in {time.perf_counter() - began:.1f} s", flush=True)
    print(bench_line("peak_rss_mb", peak, "MB"), flush=True)
    if failed:
        print(f"!! failed groups: {', '.join(failed)}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
