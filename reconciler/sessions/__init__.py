"""Redis session health for scaled MCPServers and VirtualMCPServers (issue 7).

    specs = servers_from_manifests(repo.manifests, repo.settings.namespace)
    report = measure_sessions(specs, MeasureOptions(cluster=reader))

`measure_sessions` reads Redis only (SCAN, STRLEN, PTTL, GETRANGE; never KEYS or GETEX) and returns
plain dataclasses (`SessionsReport`); `render` prints them, `metric_samples` turns them into gauge
samples for the daemon. Importing this package imports neither redis nor kubernetes.

What it needs from Redis: AUTH and SELECT (when configured), PING, SCAN, STRLEN, PTTL and GETRANGE on
the prefixes; INFO and CLIENT NO-TOUCH are tried and may be refused. From the cluster (optional):
get/list Pods, get Services, VirtualMCPServers and, for passwordRef, Secrets, in the servers'
namespaces.

Modules: `specs` (what is measured), `connection` (dial, timeouts, errors), `password`, `cluster`,
`scan` (SCAN + pipelined STRLEN/PTTL, then GETRANGE), `proxy_format` and `vmcp_format` (classifiers),
`ttl`, `measure` (the orchestration and findings), `report` (dataclasses), `render` (text, json),
`metrics` (gauges).
"""

from reconciler.sessions.cluster import ClusterProblem, ClusterReader, KubeClusterReader, open_cluster
from reconciler.sessions.measure import ANY_ADDRESS, MeasureOptions, Threshold, measure_sessions
from reconciler.sessions.metrics import Sample, metric_samples
from reconciler.sessions.password import GivenPassword
from reconciler.sessions.render import render
from reconciler.sessions.report import (
    Latency,
    PrefixSessions,
    ProxyCounts,
    RedisStatus,
    SessionsReport,
    TtlSummary,
    VmcpCounts,
)
from reconciler.sessions.specs import SecretRef, ServerSpec, SessionStorage, servers_from_manifests

__all__ = [
    "ANY_ADDRESS",
    "ClusterProblem",
    "ClusterReader",
    "GivenPassword",
    "KubeClusterReader",
    "Latency",
    "MeasureOptions",
    "PrefixSessions",
    "ProxyCounts",
    "RedisStatus",
    "Sample",
    "SecretRef",
    "ServerSpec",
    "SessionStorage",
    "SessionsReport",
    "Threshold",
    "TtlSummary",
    "VmcpCounts",
    "measure_sessions",
    "metric_samples",
    "open_cluster",
    "render",
    "servers_from_manifests",
]
