"""Session health, the one step of a cycle that observes instead of applying: Redis session health
(reconciler.sessions) of the servers the repository declares, after the targets were reconciled (the
targets themselves are the reconcile stage's, reconciler/reconcile/). It never fails a cycle.

Client libraries are imported on first use, as the CLI does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class SessionHealth:
    """Per MCP server (`Kind/namespace/name`): sessions stored, stale sessions (pinned to a pod that is
    gone, or naming a backend that no longer exists), and the Redis PING round trip in seconds; plus the
    library's own samples, exported as they are."""

    servers: dict[str, dict[str, float | None]]
    samples: list[Any] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class SessionsStep:
    """Session health of the servers the repository declares with Redis session storage
    (reconciler.sessions). Observed after applying; it never fails a cycle."""

    # Dial this instead of the addresses the manifests name (e.g. a port-forward); None: as named.
    redis_url: str | None = None
    password: str | None = None
    kubeconfig: str | None = None  # for stale checks (live pods) and passwordRef Secrets
    context: str | None = None
    name: str = "sessions"
    specs: list[Any] = field(default_factory=list)

    def remember(self, repo: Any) -> None:
        """Take the server specs from a validated repository; skipped cycles reuse them."""
        from reconciler.sessions import servers_from_manifests

        self.specs = servers_from_manifests(repo.manifests, repo.settings.namespace)

    def observe(self) -> SessionHealth:
        from reconciler.sessions import (
            ANY_ADDRESS,
            GivenPassword,
            MeasureOptions,
            measure_sessions,
            metric_samples,
            open_cluster,
        )

        if not self.specs:
            return SessionHealth({})
        from reconciler.targets.cluster.credentials import find_cluster

        reader, note = None, "no cluster configured"
        if find_cluster(self.kubeconfig, self.context) is not None:
            reader, note = open_cluster(self.kubeconfig, self.context)
        try:
            options = MeasureOptions(
                redis_urls={ANY_ADDRESS: self.redis_url} if self.redis_url else {},
                password=GivenPassword(self.password, "option") if self.password else None,
                cluster=reader,
                cluster_note=note,
                pings=3,
            )
            report = measure_sessions(self.specs, options)
        finally:
            if reader is not None:
                reader.close()
        problems = [f"{r.address}/{r.db}: {r.error}" for r in report.redis if not r.reachable and r.error]
        return SessionHealth(per_server(report), metric_samples(report), problems)


def per_server(report: Any) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for group in report.prefixes:
        if not group.scanned:
            continue
        stale: int | None = None
        if group.proxy is not None:
            stale = group.proxy.stale
        elif group.vmcp is not None:
            stale = group.vmcp.unknown_backend_sessions
        for server in group.servers:
            entry = out.setdefault(server, {})
            entry["sessions"] = float(group.sessions)
            entry["stale"] = None if stale is None else float(stale)
    for status in report.redis:
        if status.ping is None:
            continue
        for server in status.servers:
            out.setdefault(server, {})["ping_seconds"] = status.ping.median_ms / 1000
    return out
