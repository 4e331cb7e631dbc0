"""What one measurement found: plain dataclasses, shared by the CLI renderers and the daemon's gauges.

Nothing here holds session contents. Values are classified while they are read and dropped; only counts,
key names of keys that do not parse, pod addresses and backend names survive.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from reconciler.findings import Finding, Severity


@dataclass
class Latency:
    median_ms: float
    max_ms: float
    samples: int


@dataclass
class RedisStatus:
    """One Redis database as the specs name it (address + db), and what reaching it was like."""

    address: str  # as written in the spec
    db: int
    endpoint: str  # what was dialled: host:port, or the override URL with its password masked
    servers: list[str] = field(default_factory=list)
    reachable: bool = False
    error: str | None = None
    password_source: str = "none"
    connect_ms: float | None = None
    ping: Latency | None = None
    server_version: str | None = None
    maxmemory_policy: str | None = None
    # Redis >= 7.2 can read keys without touching their LRU/LFU clock (CLIENT NO-TOUCH); older ones
    # cannot, so the scan makes every session look recently used to an LRU eviction policy.
    no_touch: bool = False


@dataclass
class TtlSummary:
    """Remaining time to live of the sessions, and the idle time it implies (configured TTL - remaining;
    ToolHive resets the TTL on every access, so this is the time since the last request)."""

    configured_seconds: float
    buckets: dict[str, int] = field(default_factory=dict)  # label -> sessions, labels in ascending order
    no_expiry: int = 0  # keys without a TTL: they never go away
    idle_median_seconds: float | None = None
    idle_p90_seconds: float | None = None
    idle_max_seconds: float | None = None


@dataclass
class ProxyCounts:
    """Proxy runner sessions (`{"id","type","metadata":{"backend_url",...}}`)."""

    by_type: dict[str, int] = field(default_factory=dict)
    unpinned: int = 0  # backend_url is the Service (name or ClusterIP): any backend pod will do
    pinned: int = 0  # backend_url is a pod address
    other_host: int = 0  # backend_url names some other host (a remote server)
    no_backend: int = 0  # no backend_url (SSE sessions)
    stale: int | None = None  # pinned to an address no live backend pod has; None: not checked
    stale_hosts: dict[str, int] = field(default_factory=dict)  # gone pod address -> sessions
    stale_check: str = ""  # "checked", or why not


@dataclass
class VmcpCounts:
    """Virtual MCP server session metadata (a flat string map)."""

    full: int = 0
    placeholders: int = 0  # `{}`: phase one of creation, or a creation that never finished
    terminated: int = 0
    legacy: int = 0  # entries with `vmcp.token.hash`, which ToolHive invalidates on read
    unknown_backend_sessions: int | None = None  # None: not checked
    unknown_backends: dict[str, int] = field(default_factory=dict)  # backend name -> sessions
    backend_check: str = ""  # "checked", or why not


@dataclass
class PrefixSessions:
    """The keys under one prefix in one Redis database, and the servers that write there."""

    address: str
    db: int
    prefix: str
    servers: list[str]  # `Kind/namespace/name` of every server using this prefix and db
    formats: list[str]  # "proxy", "vmcp", or both when kinds share a prefix
    scanned: bool = False
    error: str | None = None
    keys: int = 0  # keys seen under the prefix (excluding longer prefixes measured on their own)
    sessions: int = 0  # keys that parsed as sessions
    vanished: int = 0  # expired or deleted between SCAN and reading
    unparseable: int = 0
    unparseable_sample: list[str] = field(default_factory=list)  # key names only
    oversized: int = 0  # values above the size bound: sized, never fetched
    oversized_sample: list[str] = field(default_factory=list)  # "key (N bytes)"
    truncated: bool = False  # stopped at --max-keys
    scan_seconds: float = 0.0
    proxy: ProxyCounts | None = None
    vmcp: VmcpCounts | None = None
    ttl: dict[str, TtlSummary] = field(default_factory=dict)  # format -> summary

    @property
    def shared(self) -> bool:
        """Several servers write here: their sessions cannot be told apart."""
        return len(self.servers) > 1


@dataclass
class SessionsReport:
    redis: list[RedisStatus] = field(default_factory=list)
    prefixes: list[PrefixSessions] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    cluster: str = ""  # the cluster used for cross-checks, or why none was

    def fails(self) -> bool:
        return any(f.severity is Severity.ERROR and f.waived is None for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        prefixes = []
        for group in self.prefixes:
            item = asdict(group)
            item["shared"] = group.shared
            prefixes.append(item)
        counts = {s.value: sum(1 for f in self.findings if f.severity is s) for s in Severity}
        return {
            "redis": [asdict(r) for r in self.redis],
            "prefixes": prefixes,
            "cluster": self.cluster,
            "findings": [f.to_json() for f in sorted(self.findings, key=Finding.sort_key)],
            "summary": {
                "servers": len({s for g in self.prefixes for s in g.servers}),
                "sessions": sum(g.sessions for g in self.prefixes),
                "errors": counts["error"],
                "warnings": counts["warning"],
                "infos": counts["info"],
            },
        }
