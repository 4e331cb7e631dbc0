"""A SessionsReport as gauge samples (name, labels, value), for the daemon's Prometheus exporter.

Kept free of prometheus_client so the library stays importable anywhere; the exporter sets one gauge per
name from these samples.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.sessions.report import PrefixSessions, SessionsReport


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def _prefix_labels(group: PrefixSessions) -> dict[str, str]:
    # Servers sharing a prefix are one series: their sessions cannot be told apart.
    return {
        "address": group.address,
        "db": str(group.db),
        "prefix": group.prefix,
        "servers": ",".join(group.servers),
    }


def _prefix_samples(group: PrefixSessions) -> list[Sample]:
    labels = _prefix_labels(group)
    out = [
        Sample("mcp_gitops_session_keys", {**labels, "kind": kind}, float(value))
        for kind, value in (
            ("sessions", group.sessions),
            ("unparseable", group.unparseable),
            ("vanished", group.vanished),
        )
    ]
    states: dict[str, int | None] = {}
    if group.proxy is not None:
        p = group.proxy
        states.update(unpinned=p.unpinned, pinned=p.pinned, stale=p.stale, other_host=p.other_host)
        states["no_backend"] = p.no_backend
        for session_type, count in p.by_type.items():
            out.append(Sample("mcp_gitops_proxy_sessions_by_type", {**labels, "type": session_type}, count))
    if group.vmcp is not None:
        v = group.vmcp
        states.update(full=v.full, placeholder=v.placeholders, terminated=v.terminated, legacy=v.legacy)
        states["unknown_backend"] = v.unknown_backend_sessions
    out.extend(
        Sample("mcp_gitops_sessions", {**labels, "state": state}, float(count))
        for state, count in states.items()
        if count is not None  # not checked: no series rather than a false zero
    )
    for fmt, ttl in group.ttl.items():
        for bucket, count in ttl.buckets.items():
            out.append(
                Sample("mcp_gitops_session_ttl_remaining", {**labels, "format": fmt, "bucket": bucket}, count)
            )
        for quantile, value in (
            ("0.5", ttl.idle_median_seconds),
            ("0.9", ttl.idle_p90_seconds),
            ("1", ttl.idle_max_seconds),
        ):
            if value is not None:
                out.append(
                    Sample(
                        "mcp_gitops_session_idle_seconds",
                        {**labels, "format": fmt, "quantile": quantile},
                        value,
                    )
                )
    return out


def metric_samples(report: SessionsReport) -> list[Sample]:
    out: list[Sample] = []
    for status in report.redis:
        labels = {"address": status.address, "db": str(status.db)}
        out.append(Sample("mcp_gitops_session_redis_up", labels, 1.0 if status.reachable else 0.0))
        if status.ping is not None:
            out.append(
                Sample(
                    "mcp_gitops_session_redis_ping_ms", {**labels, "stat": "median"}, status.ping.median_ms
                )
            )
            out.append(
                Sample("mcp_gitops_session_redis_ping_ms", {**labels, "stat": "max"}, status.ping.max_ms)
            )
    for group in report.prefixes:
        if group.scanned:
            out.extend(_prefix_samples(group))
    return out
