"""The measurement: for every Redis database the specs name, reach it, then read and classify the keys
under each prefix. `measure_sessions` is what the CLI prints and what the daemon exports as gauges."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from reconciler.findings import Finding, Severity, printable
from reconciler.operator_env import ALLOW_REDIS_ENV
from reconciler.sessions.cluster import ClusterProblem, ClusterReader
from reconciler.sessions.connection import (
    Endpoint,
    RedisProblem,
    describe_error,
    handshake,
    open_client,
    split_address,
)
from reconciler.sessions.password import ChosenPassword, GivenPassword, choose_password
from reconciler.sessions.proxy_format import ProxyBackends, ProxyClassifier, looks_like_proxy_session
from reconciler.sessions.report import PrefixSessions, RedisStatus, SessionsReport
from reconciler.sessions.scan import MAX_VALUE_BYTES, SCAN_COUNT, Oversized, read_prefix
from reconciler.sessions.specs import (
    DEFAULT_TTL_SECONDS,
    MCP_SERVER,
    PROXY_FORMAT,
    REMOTE_PROXY,
    VIRTUAL_MCP_SERVER,
    VMCP_FORMAT,
    ServerSpec,
)
from reconciler.sessions.ttl import TtlCollector
from reconciler.sessions.vmcp_format import VmcpClassifier
from reconciler.trust import OperatorTrust, TrustError, installed

ANY_ADDRESS = "*"  # key of a --redis-url that applies to every address


@dataclass(frozen=True)
class Threshold:
    """How many stale sessions are too many: a fraction of the sessions, or a count."""

    fraction: float | None = 0.10
    count: int | None = None

    @classmethod
    def parse(cls, text: str) -> Threshold:
        """`10%` or `25`; raises ValueError."""
        text = text.strip()
        if text.endswith("%"):
            percent = float(text[:-1])
            if not 0 <= percent <= 100:
                raise ValueError(f"{text}: a percentage is between 0% and 100%")
            return cls(fraction=percent / 100)
        count = int(text)
        if count < 0:
            raise ValueError(f"{text}: a count is 0 or more")
        return cls(fraction=None, count=count)

    def exceeded(self, bad: int, total: int) -> bool:
        if self.count is not None:
            return bad > self.count
        return total > 0 and bad / total > (self.fraction or 0.0)

    def __str__(self) -> str:
        return f"{self.count}" if self.count is not None else f"{(self.fraction or 0) * 100:g}%"


@dataclass
class MeasureOptions:
    # Spec address (or ANY_ADDRESS) -> the URL to dial instead, e.g. a port-forward for local use.
    redis_urls: dict[str, str] = field(default_factory=dict)
    password: GivenPassword | None = None
    cluster: ClusterReader | None = None
    cluster_note: str = "no cluster given"  # why there is none, shown in the report
    stale_threshold: Threshold = field(default_factory=Threshold)
    pings: int = 5
    scan_count: int = SCAN_COUNT
    max_keys: int | None = None  # per prefix; None: all
    sample_size: int = 5  # unparseable key names kept per prefix
    max_value_bytes: int = MAX_VALUE_BYTES  # larger values are sized, never fetched
    # Which Redis hosts a manifest may name and still receive the operator's password.
    trust: OperatorTrust = field(default_factory=installed)
    ttl_seconds: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TTL_SECONDS))

    def endpoint(self, address: str) -> Endpoint:
        return Endpoint(address, self.redis_urls.get(address) or self.redis_urls.get(ANY_ADDRESS))


def _finding(rule: str, severity: Severity, spec: ServerSpec, message: str) -> Finding:
    return Finding(rule, severity, spec.path, spec.line, 0, message)


def _service_hosts(spec: ServerSpec) -> set[str]:
    # The proxy's fallback target is http://mcp-<name>:<port>; accept the other DNS spellings too.
    service = f"mcp-{spec.name}"
    ns = spec.namespace
    return {service, f"{service}.{ns}", f"{service}.{ns}.svc", f"{service}.{ns}.svc.cluster.local"}


class _Measurement:
    def __init__(self, options: MeasureOptions) -> None:
        self.options = options
        self.cluster = options.cluster
        self.down: dict[str, RedisProblem] = {}  # endpoint -> why it could not be dialled
        self.report = SessionsReport(
            cluster=options.cluster.description if options.cluster else f"none: {options.cluster_note}"
        )

    # -- the cluster, used until the first time it fails ----------------------------------------------

    def _cluster_failed(self, problem: ClusterProblem, spec: ServerSpec) -> None:
        self.cluster = None
        self.report.cluster += f" (failed: {problem}; nothing more was asked of it)"
        self.report.findings.append(
            _finding(
                "session-cluster-unavailable",
                Severity.WARNING,
                spec,
                f"the cluster did not answer, so stale sessions and backends were not checked: {problem}",
            )
        )

    def _proxy_backends(self, members: list[ServerSpec]) -> ProxyBackends:
        servers = [s for s in members if s.kind == MCP_SERVER]
        hosts: set[str] = set()
        for spec in servers:
            hosts |= _service_hosts(spec)
        if any(s.kind == REMOTE_PROXY for s in members):
            why = "an MCPRemoteProxy shares the prefix; its backend_url is the remote server, not a pod"
            return ProxyBackends(frozenset(hosts), None, why)
        if self.cluster is None or not servers:
            return ProxyBackends(frozenset(hosts), None, "no cluster")
        pods: set[str] = set()
        cluster_ips: set[str] = set()
        try:
            for spec in servers:
                cluster_ips |= self.cluster.service_cluster_ips(spec.namespace, f"mcp-{spec.name}")
                pods |= self.cluster.backend_pod_ips(spec.namespace, spec.name)
        except ClusterProblem as problem:
            self._cluster_failed(problem, servers[0])
            return ProxyBackends(frozenset(hosts), None, "the cluster did not answer")
        if not pods and not cluster_ips:
            # Neither a backend pod nor the Service: most likely the wrong cluster (or context), where
            # calling every pinned session stale would be a false alarm.
            names = ", ".join(f"mcp-{s.name}" for s in servers)
            why = f"no backend pod and no Service {names} in the cluster: is it the right one?"
            return ProxyBackends(frozenset(hosts), None, why)
        return ProxyBackends(frozenset(hosts | cluster_ips), frozenset(pods))

    def _vmcp_classifier(self, members: list[ServerSpec]) -> VmcpClassifier:
        servers = [s for s in members if s.kind == VIRTUAL_MCP_SERVER]
        if self.cluster is None or not servers:
            return VmcpClassifier(None, "no cluster")
        names: set[str] = set()
        try:
            for spec in servers:
                found = self.cluster.discovered_backends(spec.namespace, spec.name)
                if found is None:
                    why = f"{spec.ref} has no status.discoveredBackends in the cluster"
                    return VmcpClassifier(None, why)
                names |= found
        except ClusterProblem as problem:
            self._cluster_failed(problem, servers[0])
            return VmcpClassifier(None, "the cluster did not answer")
        return VmcpClassifier(frozenset(names))

    # -- one Redis database -----------------------------------------------------------------------------

    def database(self, address: str, db: int, members: list[ServerSpec]) -> None:
        endpoint = self.options.endpoint(address)
        status = RedisStatus(
            address=address, db=db, endpoint=endpoint.display, servers=[s.ref for s in members]
        )
        self.report.redis.append(status)
        by_prefix: dict[str, list[ServerSpec]] = defaultdict(list)
        for spec in members:
            by_prefix[spec.prefix].append(spec)
        groups = [
            PrefixSessions(
                address=address,
                db=db,
                prefix=prefix,
                servers=[s.ref for s in specs],
                formats=sorted({s.session_format for s in specs}),
            )
            for prefix, specs in by_prefix.items()
        ]
        self.report.prefixes.extend(groups)

        chosen = self._password(endpoint, members)
        status.password_source = chosen.source
        known_down = self.down.get(endpoint.display)
        if known_down is not None:  # another db on the same server: do not wait for the dial again
            self._unreachable(status, groups, members[0], known_down, chosen.note)
            return
        try:
            client = open_client(endpoint, db, chosen.value)
        except RedisProblem as problem:
            self._unreachable(status, groups, members[0], problem, chosen.note)
            return
        try:
            try:
                shake = handshake(client, self.options.pings)
            except RedisProblem as problem:
                if problem.kind == "unreachable":
                    self.down[endpoint.display] = problem
                self._unreachable(status, groups, members[0], problem, chosen.note)
                return
            status.reachable = True
            status.connect_ms, status.ping = shake.connect_ms, shake.ping
            status.server_version, status.maxmemory_policy = shake.server_version, shake.maxmemory_policy
            status.no_touch = shake.no_touch
            for group in groups:
                specs = by_prefix[group.prefix]
                # A longer prefix that extends this one is measured on its own: do not count its keys twice.
                longer = tuple(
                    p.encode() for p in by_prefix if p != group.prefix and p.startswith(group.prefix)
                )
                self.prefix(client, group, specs, longer)
        finally:
            client.close()

    def _password(self, endpoint: Endpoint, members: list[ServerSpec]) -> ChosenPassword:
        try:
            return choose_password(endpoint, members, self.options.password, self.cluster)
        except ClusterProblem as problem:
            self._cluster_failed(problem, members[0])
            return choose_password(endpoint, members, self.options.password, None)

    def _unreachable(
        self,
        status: RedisStatus,
        groups: list[PrefixSessions],
        spec: ServerSpec,
        problem: RedisProblem,
        password_note: str | None,
    ) -> None:
        status.error = str(problem)
        for group in groups:
            group.error = "Redis not usable"
        rule = {"unreachable": "session-redis-unreachable", "auth": "session-redis-auth"}.get(
            problem.kind, "session-redis-error"
        )
        where = f"Redis {status.address} db {status.db}"
        if status.endpoint != status.address:
            where += f" (dialled {status.endpoint})"
        message = f"{where}: {problem}"
        if problem.kind == "auth":
            message += f"; password from: {status.password_source}"
            if password_note:
                message += f" ({password_note})"
        message += f"; used by {', '.join(status.servers)}"
        self.report.findings.append(_finding(rule, Severity.ERROR, spec, message))

    # -- one prefix ---------------------------------------------------------------------------------------

    def prefix(
        self, client: Any, group: PrefixSessions, specs: list[ServerSpec], longer: tuple[bytes, ...]
    ) -> None:
        proxy = ProxyClassifier(self._proxy_backends(specs)) if PROXY_FORMAT in group.formats else None
        vmcp = self._vmcp_classifier(specs) if VMCP_FORMAT in group.formats else None
        ttls = {fmt: TtlCollector(self.options.ttl_seconds[fmt]) for fmt in group.formats}
        sample_size = self.options.sample_size
        start = time.perf_counter()
        try:
            for batch in read_prefix(
                client,
                group.prefix.encode(),
                exclude=longer,
                count=self.options.scan_count,
                max_keys=self.options.max_keys,
                max_value_bytes=self.options.max_value_bytes,
            ):
                group.keys += len(batch.keys)
                for key, value, pttl in zip(batch.keys, batch.values, batch.pttls, strict=True):
                    if isinstance(pttl, Exception):
                        raise describe_error(pttl)
                    if isinstance(value, Exception) and "WRONGTYPE" not in str(value):
                        raise describe_error(value)
                    if value is None or pttl == -2:
                        group.vanished += 1  # expired or deleted since SCAN saw it
                        continue
                    if isinstance(value, Oversized):
                        group.oversized += 1
                        if len(group.oversized_sample) < sample_size:
                            name = printable(key.decode(errors="backslashreplace"))
                            group.oversized_sample.append(f"{name} ({value.size} bytes)")
                        continue
                    fmt = _classify(value, proxy, vmcp)
                    if fmt is None:
                        group.unparseable += 1
                        if len(group.unparseable_sample) < sample_size:
                            group.unparseable_sample.append(printable(key.decode(errors="backslashreplace")))
                        continue
                    group.sessions += 1
                    ttls[fmt].add(pttl)
            group.truncated = self.options.max_keys is not None and group.keys >= self.options.max_keys
            group.scanned = True
        except RedisProblem as problem:
            group.error = str(problem)
            self.report.findings.append(
                _finding(
                    "session-redis-error",
                    Severity.ERROR,
                    specs[0],
                    f"reading {group.prefix!r} in Redis {group.address} db {group.db} failed: {problem}",
                )
            )
        group.scan_seconds = round(time.perf_counter() - start, 3)
        group.proxy = proxy.counts() if proxy else None
        group.vmcp = vmcp.counts() if vmcp else None
        group.ttl = {fmt: collector.summary() for fmt, collector in ttls.items()}
        self._judge(group, specs)

    # -- findings -----------------------------------------------------------------------------------------

    def _judge(self, group: PrefixSessions, specs: list[ServerSpec]) -> None:
        first = specs[0]
        where = f"{group.prefix!r} in Redis {group.address} db {group.db}"
        add = self.report.findings.append
        threshold = self.options.stale_threshold
        if group.shared:
            add(
                _finding(
                    "session-shared-prefix",
                    Severity.INFO,
                    first,
                    f"{len(group.servers)} servers keep sessions under {where} ({', '.join(group.servers)}); "
                    "their sessions cannot be told apart and are counted once, together. Give each a "
                    "keyPrefix of its own to measure them separately",
                )
            )
        if group.proxy and group.proxy.stale:
            total = sum(group.proxy.by_type.values())
            exceeded = threshold.exceeded(group.proxy.stale, total)
            add(
                _finding(
                    "session-stale",
                    Severity.ERROR if exceeded else Severity.INFO,
                    first,
                    f"{group.proxy.stale} of {total} sessions under {where} are pinned to pod addresses no "
                    f"live backend pod has ({len(group.proxy.stale_hosts)} address(es))"
                    + (f", above the threshold of {threshold}" if exceeded else "")
                    + "; ToolHive re-initializes them on their next request",
                )
            )
        if group.vmcp and group.vmcp.unknown_backend_sessions:
            total = group.vmcp.full
            exceeded = threshold.exceeded(group.vmcp.unknown_backend_sessions, total)
            names = ", ".join(sorted(group.vmcp.unknown_backends))
            add(
                _finding(
                    "session-unknown-backend",
                    Severity.ERROR if exceeded else Severity.INFO,
                    first,
                    f"{group.vmcp.unknown_backend_sessions} of {total} vMCP sessions under {where} name "
                    f"backends missing from status.discoveredBackends ({names})"
                    + (f", above the threshold of {threshold}" if exceeded else ""),
                )
            )
        if group.oversized:
            add(
                _finding(
                    "session-value-too-large",
                    Severity.WARNING,
                    first,
                    f"{group.oversized} value(s) under {where} are larger than "
                    f"{self.options.max_value_bytes} bytes and were not read, e.g. "
                    + ", ".join(group.oversized_sample),
                )
            )
        if group.unparseable:
            add(
                _finding(
                    "session-unparseable",
                    Severity.WARNING,
                    first,
                    f"{group.unparseable} key(s) under {where} are not sessions of the expected format "
                    f"({'/'.join(group.formats)}), e.g. {', '.join(group.unparseable_sample)}",
                )
            )
        no_expiry = sum(t.no_expiry for t in (group.ttl or {}).values())
        if no_expiry:
            add(
                _finding(
                    "session-no-expiry",
                    Severity.WARNING,
                    first,
                    f"{no_expiry} session(s) under {where} have no TTL and will never expire",
                )
            )


def _classify(value: Any, proxy: ProxyClassifier | None, vmcp: VmcpClassifier | None) -> str | None:
    """Count one value with the classifier of its format; the format, or None when it does not parse."""
    if isinstance(value, Exception):
        return None  # WRONGTYPE: not a string key (a hash, a list, ...)
    try:
        obj = json.loads(value)
    except (ValueError, RecursionError):  # also UnicodeDecodeError; RecursionError: nested too deep
        return None
    if not isinstance(obj, dict):
        return None
    if proxy is not None and (vmcp is None or looks_like_proxy_session(obj)):
        return PROXY_FORMAT if proxy.add(obj) else None
    if vmcp is not None:
        return VMCP_FORMAT if vmcp.add(obj) else None
    return None


class DestinationRefused(TrustError):
    """A manifest names a Redis the operator did not allow, and a password would be sent to it."""


def refuse_untrusted_destinations(servers: list[ServerSpec], options: MeasureOptions) -> None:
    """Before any dial: a password the operator holds (given, or read from a Secret with the operator's
    cluster credentials) goes only to a Redis the operator named (--redis-url) or allowed."""
    for spec in servers:
        endpoint = options.endpoint(spec.storage.address)
        if endpoint.url is not None:
            continue  # the operator's own URL
        if options.password is not None:
            password = options.password.source
        elif spec.storage.password_ref is not None and options.cluster is not None:
            password = f"the Secret {spec.namespace}/{spec.storage.password_ref.name}"
        else:
            continue
        host, port = split_address(spec.storage.address)
        if not options.trust.allows_redis(host, port):
            raise DestinationRefused(
                f"{spec.path}:{spec.address_line or spec.line}: {spec.ref} names the Redis "
                f"{spec.storage.address}, which the operator has not allowed, and the password from "
                f"{password} would be sent there; "
                f"refusing before connecting. Allow it (--allow-redis-host {host}, ${ALLOW_REDIS_ENV}) "
                "or dial your own URL (--redis-url)"
            )


def measure_sessions(servers: list[ServerSpec], options: MeasureOptions | None = None) -> SessionsReport:
    """Measure the Redis sessions of `servers` (specs whose session storage is Redis). Never raises for
    an unreachable Redis or cluster: those are findings in the report."""
    options = options or MeasureOptions()
    refuse_untrusted_destinations(servers, options)
    measurement = _Measurement(options)
    databases: dict[tuple[str, int], list[ServerSpec]] = defaultdict(list)
    for spec in servers:
        databases[(spec.storage.address, spec.storage.db)].append(spec)
    for (address, db), members in databases.items():
        measurement.database(address, db, members)
    return measurement.report
