"""Prometheus metrics of an engine process: commands, projection lag, jobs, imports.

Commands are counted as they run (``application.context.observe``: every ``@command``
reports its name, outcome and duration, so no use case knows metrics exist). What lives
in the stores (lag, backlog, imports) is read at each scrape instead of being kept up
to date here: any number of processes share those stores, and a gauge that one of them
kept would only know its own share. The Dramatiq workers serve their own metrics
(Dramatiq's Prometheus middleware, ``workers.broker``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from application import context
from infrastructure import health
from infrastructure.bootstrap import Engine
from infrastructure.lmtpwire import parse_listen

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class CommandMetrics:
    """Commands per kind and outcome, and their latency, for one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.total = Counter(
            "mailhost_commands",
            "Commands run, per use case and outcome (ok or the error's class).",
            ["command", "outcome"],
            registry=registry,
        )
        self.seconds = Histogram(
            "mailhost_command_seconds",
            "Time a command took, per use case.",
            ["command"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def observed(self, name: str, outcome: str, seconds: float) -> None:
        self.total.labels(name, outcome).inc()
        self.seconds.labels(name).observe(seconds)


class StoreCollector(Collector):
    """Gauges read from the shared stores at each scrape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from _lag_families(self.engine)
        yield from _job_families(self.engine)
        counts = GaugeMetricFamily(
            "mailhost_imports", "Import jobs per state.", labels=["state"]
        )
        for row in health.imports(self.engine.runner.database):
            counts.add_metric([row.state], row.jobs)
        yield counts


def _lag_families(engine: Engine) -> Iterator[GaugeMetricFamily]:
    events = GaugeMetricFamily(
        "mailhost_projection_lag_events",
        f"Events a projection has not applied yet (counted up to {health.LAG_CAP}).",
        labels=["projection"],
    )
    seconds = GaugeMetricFamily(
        "mailhost_projection_lag_seconds",
        "Age of the oldest event a projection has not applied yet.",
        labels=["projection"],
    )
    for lag in health.lags(engine.runner):
        events.add_metric([lag.projection], lag.events)
        seconds.add_metric([lag.projection], lag.seconds)
    yield events
    yield seconds


def _job_families(engine: Engine) -> Iterator[GaugeMetricFamily]:
    jobs = health.backlog(engine.jobs.database)
    backlog = GaugeMetricFamily(
        "mailhost_jobs", "Jobs not done, by state.", labels=["state"]
    )
    for state, value in (
        ("due", jobs.due),
        ("in_flight", jobs.in_flight),
        ("failed", jobs.failed),
        ("retried", jobs.retried),
    ):
        backlog.add_metric([state], value)
    yield backlog
    yield GaugeMetricFamily(
        "mailhost_jobs_oldest_due_seconds",
        "Age of the oldest due job not done (0 when none).",
        value=jobs.oldest_seconds,
    )


def listen_address(text: str) -> tuple[str, int]:
    """``PORT`` (loopback) or ``HOST:PORT``; only TCP, the way Prometheus scrapes."""
    if text.isdigit():
        text = f"127.0.0.1:{text}"
    address = parse_listen(text)
    if address.port is None or address.host is None:
        msg = "--metrics takes PORT or HOST:PORT"
        raise ValueError(msg)
    return address.host, address.port


def serve(engine: Engine, address: tuple[str, int]) -> Callable[[], None]:
    """Serve this process's metrics at ``address``; returns the function that stops it."""
    registry = CollectorRegistry()
    commands = CommandMetrics(registry)
    registry.register(StoreCollector(engine))
    forget = context.observe(commands.observed)
    server, thread = start_http_server(address[1], address[0], registry=registry)

    def stop() -> None:
        forget()
        _shutdown(server)
        thread.join(timeout=5)

    return stop


def _shutdown(server: WSGIServer) -> None:
    server.shutdown()
    server.server_close()
