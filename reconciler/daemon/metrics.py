"""Prometheus metrics, named the way Flux and Argo CD name theirs (`<prefix>_reconcile_duration_seconds`).

Each daemon owns a `CollectorRegistry` (not the process-global one), so several daemons can live in
one test process and `/metrics` shows exactly this daemon's series.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

PREFIX = "mcp_gitops"
# Seconds; a no-op cycle takes milliseconds, a first apply of 10,000 entries several seconds.
DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class DaemonMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.reconcile_duration = Histogram(
            f"{PREFIX}_reconcile_duration_seconds",
            "Duration of reconcile cycles, by outcome.",
            ["outcome"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.reconcile_total = Counter(
            f"{PREFIX}_reconcile", "Reconcile cycles, by outcome.", ["outcome"], registry=r
        )
        self.step_duration = Histogram(
            f"{PREFIX}_reconcile_step_duration_seconds",
            "Duration of each step of a cycle.",
            ["step"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.last_applied = Info(
            f"{PREFIX}_last_applied_revision", "The revision last applied to every target.", registry=r
        )
        self.last_cycle_timestamp = Gauge(
            f"{PREFIX}_last_reconcile_timestamp_seconds",
            "When the last cycle finished (Unix time).",
            registry=r,
        )
        self.findings = Gauge(
            f"{PREFIX}_findings",
            "Active findings of the last validated revision, by severity.",
            ["severity"],
            registry=r,
        )
        self.target_managed = Gauge(
            f"{PREFIX}_target_managed",
            "Things (entry versions, objects) the repository manages, per target.",
            ["target"],
            registry=r,
        )
        self.target_drift = Gauge(
            f"{PREFIX}_target_drift",
            "Differences between the target and the repository found by the last plan, per target.",
            ["target"],
            registry=r,
        )
        self.target_ok = Gauge(
            f"{PREFIX}_target_ok",
            "1 when the last cycle planned and applied the target, 0 when it failed or was refused.",
            ["target"],
            registry=r,
        )
        self.target_runs = Counter(
            f"{PREFIX}_target_reconcile",
            "Target runs, by target and outcome (applied, unchanged, failed, blocked).",
            ["target", "outcome"],
            registry=r,
        )
        self.leader = Gauge(f"{PREFIX}_leader", "1 while this replica is the leader.", registry=r)
        self.redis_sessions = Gauge(
            f"{PREFIX}_redis_sessions", "Sessions stored in Redis, per MCP server.", ["server"], registry=r
        )
        self.redis_stale = Gauge(
            f"{PREFIX}_redis_sessions_stale",
            "Sessions in Redis that no live pod serves, per MCP server.",
            ["server"],
            registry=r,
        )
        self.redis_ping = Gauge(
            f"{PREFIX}_redis_ping_latency_seconds",
            "Redis PING round trip, per MCP server.",
            ["server"],
            registry=r,
        )
        self._session_samples = _SampleCollector()
        r.register(self._session_samples)
        for outcome in ("applied", "unchanged", "invalid", "failed", "aborted"):
            self.reconcile_total.labels(outcome)  # export zeros, so rate() works from the first scrape
        for severity in ("error", "warning", "info"):
            self.findings.labels(severity).set(0)

    def observe_cycle(self, outcome: str, seconds: float, finished_at: float) -> None:
        self.reconcile_duration.labels(outcome).observe(seconds)
        self.reconcile_total.labels(outcome).inc()
        self.last_cycle_timestamp.set(finished_at)

    def observe_target(self, target: str, outcome: str, managed: int | None, drift: int | None) -> None:
        self.target_runs.labels(target, outcome).inc()
        self.target_ok.labels(target).set(1 if outcome in ("applied", "unchanged") else 0)
        if managed is not None:
            self.target_managed.labels(target).set(managed)
        if drift is not None:
            self.target_drift.labels(target).set(drift)

    def set_findings(self, summary: dict[str, Any]) -> None:
        for severity, key in (("error", "errors"), ("warning", "warnings"), ("info", "infos")):
            self.findings.labels(severity).set(int(summary.get(key, 0)))

    def set_sessions(
        self, per_server: dict[str, dict[str, float | None]], samples: list[Any] | None = None
    ) -> None:
        """`{server: {"sessions": n, "stale": n, "ping_seconds": s}}`; servers that vanished are dropped.
        `samples` are the session library's own gauge samples (reconciler.sessions.metric_samples)."""
        self._session_samples.samples = list(samples or [])
        for gauge, key in (
            (self.redis_sessions, "sessions"),
            (self.redis_stale, "stale"),
            (self.redis_ping, "ping_seconds"),
        ):
            gauge.clear()
            for server, values in per_server.items():
                value = values.get(key)
                if value is not None:
                    gauge.labels(server).set(value)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _SampleCollector(Collector):
    """Exports the session library's samples (name, labels, value) as gauges, replaced every cycle."""

    def __init__(self) -> None:
        self.samples: list[Any] = []

    def collect(self) -> Iterator[Metric]:
        families: dict[str, GaugeMetricFamily] = {}
        label_names: dict[str, list[str]] = {}
        for sample in list(self.samples):
            if sample.name not in families:
                label_names[sample.name] = sorted(sample.labels)
                families[sample.name] = GaugeMetricFamily(
                    sample.name,
                    "Redis session health (see mcp-gitops sessions).",
                    labels=label_names[sample.name],
                )
            names = label_names[sample.name]
            families[sample.name].add_metric([str(sample.labels.get(n, "")) for n in names], sample.value)
        yield from families.values()

    def describe(self) -> Iterator[Metric]:
        return iter(())  # names vary with the data; nothing to check at registration
