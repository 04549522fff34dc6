"""A writer process of the ``scale`` group: auto-reply decisions as fast as it can.

``python -m benchmarks._scalewriter N COUNT START``: waits for the wall clock to reach
START, founds COUNT organisations of its own (a command without password hashing and
without contention on one aggregate: what is measured is the log's insert path), and
prints the seconds it took.
"""

from __future__ import annotations

import sys
import time

from application.authorization import OPERATOR
from infrastructure.bootstrap import open_engine


def main(writer: int, count: int, start_at: float) -> None:
    engine = open_engine(background=False)
    try:
        time.sleep(max(0.0, start_at - time.time()))
        started = time.perf_counter()
        for n in range(count):
            engine.host.organisations.found(f"Writer {writer} org {n}", by=OPERATOR)
        print(time.perf_counter() - started)
    finally:
        engine.close()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
