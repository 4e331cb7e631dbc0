"""`measure_sessions` against a real Redis: every count, TTLs left alone, passwords, failures, prefixes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from reconciler.sessions import (
    GivenPassword,
    MeasureOptions,
    SecretRef,
    ServerSpec,
    SessionStorage,
    Threshold,
    measure_sessions,
    metric_samples,
    render,
)
from reconciler.sessions.measure import DestinationRefused
from reconciler.trust import HostRule, OperatorTrust
from tests.harness.redis import RedisServer

pytestmark = pytest.mark.redis

HOUR, MINUTE = 3_600_000, 60_000
# Contents that must never reach any output.
SECRETS = (
    "SECRET-INIT-BODY-alice@example.com",
    "SECRET-BACKEND-SID",
    "SECRET-SUBJECT-alice",
    "SECRET-VMCP-BACKEND-SESSION",
)


def proxy_value(backend_url: str | None = None, kind: str = "mcp", sid: str = "0000") -> bytes:
    metadata: dict[str, str] = {"init_body": json.dumps({"params": {"clientInfo": SECRETS[0]}})}
    if backend_url:
        metadata["backend_url"] = backend_url
        metadata["backend_sid"] = SECRETS[1]
    value = {
        "id": sid,
        "type": kind,
        "created_at": "2026-11-23T10:00:00Z",
        "updated_at": "2026-11-23T10:00:00Z",
        "metadata": metadata,
    }
    return json.dumps(value).encode()


def vmcp_value(backends: str | None = None, **extra: str) -> bytes:
    value: dict[str, str] = dict(extra)
    if backends is not None:
        value["vmcp.backend.ids"] = backends
        value["vmcp.identity.binding"] = "https://issuer.example.com\x00" + SECRETS[2]
        for name in filter(None, backends.split(",")):
            value[f"vmcp.backend.session.{name}"] = SECRETS[3]
    return json.dumps(value).encode()


def seed(server: RedisServer, prefix: str, entries: list[tuple[str, bytes, int | None]], db: int = 0) -> None:
    """(key suffix, value, TTL in ms or None for no expiry)."""
    client = server.client(db=db)
    with client.pipeline(transaction=False) as pipe:
        for suffix, value, ttl in entries:
            pipe.set(prefix + suffix, value, px=ttl)
        pipe.execute()
    client.close()


def server(
    redis: RedisServer | str,
    prefix: str = "",
    *,
    kind: str = "MCPServer",
    name: str = "weather",
    namespace: str = "tools",
    db: int = 0,
    password_ref: SecretRef | None = None,
) -> ServerSpec:
    address = redis.address if isinstance(redis, RedisServer) else redis
    storage = SessionStorage(address, db, prefix, password_ref)
    return ServerSpec(kind, namespace, name, storage, path=f"manifests/{name}.yaml", line=1)


@dataclass
class FakeCluster:
    """A ClusterReader with fixed answers, for Redis tests that do not need a real API server (the real
    one is exercised in test_sessions_kube.py)."""

    pods: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    services: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    backends: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    secrets: dict[tuple[str, str, str], str] = field(default_factory=dict)
    description: str = "fake"

    def backend_pod_ips(self, namespace: str, app: str) -> frozenset[str]:
        return frozenset(self.pods.get((namespace, app), set()))

    def service_cluster_ips(self, namespace: str, service: str) -> frozenset[str]:
        return frozenset(self.services.get((namespace, service), set()))

    def discovered_backends(self, namespace: str, name: str) -> frozenset[str] | None:
        found = self.backends.get((namespace, name))
        return None if found is None else frozenset(found)

    def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        return self.secrets.get((namespace, name, key))


def assert_redacted(report: Any) -> None:
    for text in (render(report, "text"), render(report, "json"), repr(report)):
        for secret in SECRETS:
            assert secret not in text


PROXY_ENTRIES: list[tuple[str, bytes, int | None]] = [
    # unpinned: the Service, by name and by ClusterIP
    ("u1", proxy_value("http://mcp-weather:8080"), 2 * HOUR - 30_000),
    ("u2", proxy_value("http://mcp-weather.tools.svc.cluster.local:8080"), 90 * MINUTE),
    ("u3", proxy_value("http://10.0.0.10:8080"), 90 * MINUTE),
    # pinned to live pods
    ("p1", proxy_value("http://10.1.0.5:8080"), 100 * MINUTE),
    ("p2", proxy_value("http://10.1.0.5:8080", kind="streamable"), 20 * MINUTE),
    ("p3", proxy_value("http://10.1.0.6:8080"), 10 * MINUTE),
    # pinned to gone pods: stale
    ("s1", proxy_value("http://10.1.0.99:8080"), 3 * MINUTE),
    ("s2", proxy_value("http://10.1.0.99:8080"), 30_000),
    # SSE sessions carry no backend_url; one never expires
    ("e1", proxy_value(None, kind="sse"), 45 * MINUTE),
    ("e2", proxy_value(None, kind="sse"), None),
    # garbage under the prefix
    ("g-text", b"not json at all", HOUR),
    ("g-list", b"[1, 2, 3]", HOUR),
    ("g-vmcp", b"{}", HOUR),
    ("g-bytes", b"\xff\xfe", HOUR),
]


def test_proxy_sessions_every_count_and_ttls_untouched(redis_server: RedisServer, redis_prefix: str) -> None:
    seed(redis_server, redis_prefix, PROXY_ENTRIES)
    client = redis_server.client()
    client.hset(redis_prefix + "g-hash", "field", "value")  # not a string: WRONGTYPE for GET
    client.pexpire(redis_prefix + "g-hash", HOUR)
    keys = [redis_prefix + suffix for suffix, _, _ in PROXY_ENTRIES] + [redis_prefix + "g-hash"]
    before = {k: client.pttl(k) for k in keys}
    cluster = FakeCluster(
        pods={("tools", "weather"): {"10.1.0.5", "10.1.0.6"}},
        services={("tools", "mcp-weather"): {"10.0.0.10"}},
    )

    report = measure_sessions(
        [server(redis_server, redis_prefix)],
        MeasureOptions(cluster=cluster, sample_size=10, stale_threshold=Threshold.parse("50%")),
    )

    after = {k: client.pttl(k) for k in keys}
    client.close()
    # Reading never extended a session's life (GETEX would have reset every TTL).
    assert all(after[k] <= before[k] for k in keys), (before, after)
    assert after[redis_prefix + "e2"] == -1

    (status,) = report.redis
    assert status.reachable and status.error is None and status.password_source == "none"
    assert (
        status.ping is not None and status.ping.samples == 5 and status.ping.max_ms >= status.ping.median_ms
    )
    (group,) = report.prefixes
    assert group.scanned and not group.shared and group.formats == ["proxy"]
    assert (group.keys, group.sessions, group.unparseable, group.vanished) == (15, 10, 5, 0)
    assert sorted(group.unparseable_sample) == sorted(
        redis_prefix + s for s in ("g-text", "g-list", "g-vmcp", "g-bytes", "g-hash")
    )
    proxy = group.proxy
    assert proxy is not None
    assert proxy.by_type == {"mcp": 7, "sse": 2, "streamable": 1}
    assert (proxy.unpinned, proxy.pinned, proxy.other_host, proxy.no_backend) == (3, 5, 0, 2)
    assert proxy.stale == 2 and proxy.stale_hosts == {"10.1.0.99": 2}
    assert group.vmcp is None
    ttl = group.ttl["proxy"]
    assert ttl.configured_seconds == 7200 and ttl.no_expiry == 1
    assert ttl.buckets == {
        "0-1m": 1,
        "1m-5m": 1,
        "5m-15m": 1,
        "15m-30m": 1,
        "30m-1h": 1,
        "1h-2h": 4,
        ">2h": 0,
    }
    assert ttl.idle_max_seconds is not None and 7140 <= ttl.idle_max_seconds <= 7170
    assert ttl.idle_median_seconds is not None and 4500 <= ttl.idle_median_seconds <= 4510  # 2 h - 45 min

    rules = sorted((f.rule, f.severity.value) for f in report.findings)
    # 2 stale of 10 sessions is 20%: under the 50% threshold, reported but not failing.
    assert rules == [
        ("session-no-expiry", "warning"),
        ("session-stale", "info"),
        ("session-unparseable", "warning"),
    ]
    assert not report.fails()
    assert_redacted(report)


def test_stale_above_the_threshold_fails(redis_server: RedisServer, redis_prefix: str) -> None:
    seed(redis_server, redis_prefix, PROXY_ENTRIES[:8])
    cluster = FakeCluster(pods={("tools", "weather"): {"10.1.0.5"}})
    report = measure_sessions([server(redis_server, redis_prefix)], MeasureOptions(cluster=cluster))
    group = report.prefixes[0]
    assert (
        group.proxy is not None and group.proxy.stale == 4
    )  # 10.1.0.6 is gone too now, and 10.0.0.10 is no Service
    assert group.proxy.unpinned == 2
    (finding,) = [f for f in report.findings if f.rule == "session-stale"]
    assert finding.severity.value == "error" and "above the threshold of 10%" in finding.message
    assert finding.path == "manifests/weather.yaml"
    assert report.fails()


def test_without_a_cluster_nothing_is_stale(redis_server: RedisServer, redis_prefix: str) -> None:
    seed(redis_server, redis_prefix, PROXY_ENTRIES[:8])
    report = measure_sessions(
        [server(redis_server, redis_prefix)], MeasureOptions(cluster_note="--no-cluster")
    )
    proxy = report.prefixes[0].proxy
    assert proxy is not None and proxy.stale is None and proxy.stale_check == "no cluster"
    assert (proxy.unpinned, proxy.pinned) == (2, 6)  # the ClusterIP is unknown: it looks like a pod
    assert report.cluster == "none: --no-cluster"
    assert not report.fails()


VMCP_ENTRIES: list[tuple[str, bytes, int | None]] = [
    ("f1", vmcp_value("github,jira"), 25 * MINUTE),
    ("f2", vmcp_value("github,jira"), 20 * MINUTE),
    ("f3", vmcp_value("github"), 5 * MINUTE),
    ("f4", vmcp_value(""), 29 * MINUTE),
    ("ph1", vmcp_value(), 29 * MINUTE),
    ("ph2", vmcp_value(), 30_000),
    ("t1", vmcp_value(terminated="true"), 10 * MINUTE),
    ("t2", vmcp_value("github", terminated="true"), 10 * MINUTE),
    ("l1", vmcp_value(**{"vmcp.token.hash": "h", "vmcp.token.salt": "s"}), 15 * MINUTE),
    ("g1", b'{"vmcp.backend.ids": 3}', 15 * MINUTE),
    ("g2", b'{"other": "map"}', 15 * MINUTE),
    ("g3", proxy_value("http://10.1.0.5:8080"), 15 * MINUTE),
]


def test_vmcp_sessions_every_count(redis_server: RedisServer, redis_prefix: str) -> None:
    seed(redis_server, redis_prefix, VMCP_ENTRIES)
    cluster = FakeCluster(backends={("tools", "gateway"): {"github"}})
    spec = server(redis_server, redis_prefix, kind="VirtualMCPServer", name="gateway")
    report = measure_sessions([spec], MeasureOptions(cluster=cluster, stale_threshold=Threshold.parse("60%")))

    (group,) = report.prefixes
    assert group.formats == ["vmcp"] and group.proxy is None
    assert (group.keys, group.sessions, group.unparseable) == (12, 9, 3)
    vmcp = group.vmcp
    assert vmcp is not None
    assert (vmcp.full, vmcp.placeholders, vmcp.terminated, vmcp.legacy) == (4, 2, 2, 1)
    assert vmcp.unknown_backend_sessions == 2 and vmcp.unknown_backends == {"jira": 2}
    ttl = group.ttl["vmcp"]
    assert ttl.configured_seconds == 1800
    assert ttl.buckets["0-1m"] == 1 and ttl.buckets["15m-30m"] == 4 and ttl.buckets["30m-1h"] == 0
    assert ttl.idle_max_seconds is not None and 1765 <= ttl.idle_max_seconds <= 1770
    (finding,) = [f for f in report.findings if f.rule == "session-unknown-backend"]
    assert finding.severity.value == "info" and "jira" in finding.message  # 2 of 4 is 50%, under 60%
    assert not report.fails()
    assert_redacted(report)

    strict = measure_sessions([spec], MeasureOptions(cluster=cluster, stale_threshold=Threshold.parse("1")))
    assert strict.fails()


def test_vmcp_without_discovered_backends_is_not_checked(
    redis_server: RedisServer, redis_prefix: str
) -> None:
    seed(redis_server, redis_prefix, VMCP_ENTRIES[:3])
    spec = server(redis_server, redis_prefix, kind="VirtualMCPServer", name="gateway")
    report = measure_sessions([spec], MeasureOptions(cluster=FakeCluster()))
    vmcp = report.prefixes[0].vmcp
    assert vmcp is not None and vmcp.unknown_backend_sessions is None
    assert "no status.discoveredBackends" in vmcp.backend_check


def test_a_prefix_shared_by_two_servers_is_counted_once(redis_server: RedisServer, redis_prefix: str) -> None:
    seed(redis_server, redis_prefix, PROXY_ENTRIES[:6])
    specs = [
        server(redis_server, redis_prefix, name="weather"),
        server(redis_server, redis_prefix, name="news"),
    ]
    report = measure_sessions(specs, MeasureOptions())
    assert len(report.redis) == 1 and len(report.prefixes) == 1
    (group,) = report.prefixes
    assert group.shared and group.servers == ["MCPServer/tools/weather", "MCPServer/tools/news"]
    assert group.sessions == 6
    assert report.to_json()["summary"]["sessions"] == 6 and report.to_json()["summary"]["servers"] == 2
    (finding,) = [f for f in report.findings if f.rule == "session-shared-prefix"]
    assert finding.severity.value == "info" and "cannot be told apart" in finding.message
    assert "cannot be told apart" in render(report, "text")


def test_a_longer_prefix_is_not_counted_under_the_shorter(
    redis_server: RedisServer, redis_prefix: str
) -> None:
    seed(redis_server, redis_prefix, PROXY_ENTRIES[:2])
    seed(redis_server, redis_prefix + "news:", PROXY_ENTRIES[2:5])
    specs = [
        server(redis_server, redis_prefix, name="weather"),
        server(redis_server, redis_prefix + "news:", name="news"),
    ]
    report = measure_sessions(specs, MeasureOptions())
    counts = {g.prefix: g.sessions for g in report.prefixes}
    assert counts == {redis_prefix: 2, redis_prefix + "news:": 3}


def test_kinds_sharing_a_prefix_are_told_apart_by_shape(redis_server: RedisServer, redis_prefix: str) -> None:
    seed(redis_server, redis_prefix, PROXY_ENTRIES[:3] + VMCP_ENTRIES[:2])
    specs = [
        server(redis_server, redis_prefix),
        server(redis_server, redis_prefix, kind="VirtualMCPServer", name="gateway"),
    ]
    group = measure_sessions(specs, MeasureOptions()).prefixes[0]
    assert group.formats == ["proxy", "vmcp"] and group.sessions == 5
    assert group.proxy is not None and sum(group.proxy.by_type.values()) == 3
    assert group.vmcp is not None and group.vmcp.full == 2
    assert set(group.ttl) == {"proxy", "vmcp"}


def test_the_db_comes_from_the_spec(redis_server: RedisServer, redis_prefix: str) -> None:
    seed(redis_server, redis_prefix, PROXY_ENTRIES[:2], db=2)
    seed(redis_server, redis_prefix, PROXY_ENTRIES[:5], db=3)
    report = measure_sessions([server(redis_server, redis_prefix, db=2)], MeasureOptions())
    assert report.prefixes[0].sessions == 2 and report.redis[0].db == 2


def test_max_keys_stops_the_scan(redis_server: RedisServer, redis_prefix: str) -> None:
    seed(redis_server, redis_prefix, [(f"k{i}", proxy_value(), HOUR) for i in range(50)])
    group = measure_sessions(
        [server(redis_server, redis_prefix)], MeasureOptions(max_keys=20, scan_count=7)
    ).prefixes[0]
    assert group.keys == 20 and group.truncated


def test_many_keys_over_several_scan_steps(redis_server: RedisServer, redis_prefix: str) -> None:
    seed(
        redis_server, redis_prefix, [(f"k{i}", proxy_value("http://10.1.0.5:80"), HOUR) for i in range(2500)]
    )
    group = measure_sessions([server(redis_server, redis_prefix)], MeasureOptions(scan_count=100)).prefixes[0]
    assert (group.keys, group.sessions, group.truncated) == (2500, 2500, False)
    assert group.proxy is not None and group.proxy.pinned == 2500


def test_unreachable_redis_is_a_finding(closed_redis_address: str) -> None:
    report = measure_sessions([server(closed_redis_address, "p:")], MeasureOptions(pings=1))
    (status,) = report.redis
    assert not status.reachable and status.error and "refused" in status.error.lower()
    assert report.prefixes[0].error == "Redis not usable" and not report.prefixes[0].scanned
    (finding,) = report.findings
    assert finding.rule == "session-redis-unreachable" and finding.severity.value == "error"
    assert closed_redis_address in finding.message and "MCPServer/tools/weather" in finding.message
    assert report.fails()
    assert "NOT USABLE" in render(report, "text")


def test_a_second_db_on_a_down_server_is_not_dialled_again(closed_redis_address: str) -> None:
    specs = [server(closed_redis_address, "p:", db=0), server(closed_redis_address, "p:", db=1, name="b")]
    report = measure_sessions(specs, MeasureOptions())
    assert [f.rule for f in report.findings] == ["session-redis-unreachable"] * 2
    assert all(not r.reachable for r in report.redis)


def test_passwords(redis_auth_server: RedisServer) -> None:
    prefix = "t-auth:"
    ref = SecretRef("redis-password", "password")
    spec = server(redis_auth_server, prefix, password_ref=ref)
    seed(redis_auth_server, prefix, PROXY_ENTRIES[:2])
    try:
        missing = measure_sessions([spec], MeasureOptions())
        (finding,) = missing.findings
        assert finding.rule == "session-redis-auth" and "requires a password" in finding.message
        assert "no cluster is available" in finding.message  # why the passwordRef was not used

        # The manifest chose this address: the operator must allow it before a password goes there.
        with pytest.raises(DestinationRefused, match="not allowed"):
            measure_sessions([spec], MeasureOptions(password=GivenPassword("nope", "env X")))
        host = redis_auth_server.address.rpartition(":")[0]
        allowed = OperatorTrust(redis_hosts=(HostRule.parse(host),))
        wrong = measure_sessions(
            [spec], MeasureOptions(password=GivenPassword("nope", "env X"), trust=allowed)
        )
        (finding,) = wrong.findings
        assert finding.rule == "session-redis-auth" and "refused" in finding.message
        assert "env X" in finding.message and "nope" not in render(wrong, "json")
        assert wrong.fails()

        assert redis_auth_server.password is not None
        given = measure_sessions(
            [spec], MeasureOptions(password=GivenPassword(redis_auth_server.password, "f"), trust=allowed)
        )
        assert given.redis[0].reachable and given.prefixes[0].sessions == 2

        secret = FakeCluster(secrets={("tools", "redis-password", "password"): redis_auth_server.password})
        with pytest.raises(DestinationRefused):
            measure_sessions([spec], MeasureOptions(cluster=secret))
        from_secret = measure_sessions([spec], MeasureOptions(cluster=secret, trust=allowed))
        assert from_secret.redis[0].password_source == "secret tools/redis-password"
        assert from_secret.prefixes[0].sessions == 2 and not from_secret.fails()

        url = f"redis://:{redis_auth_server.password}@{redis_auth_server.address}"
        via_url = measure_sessions([spec], MeasureOptions(redis_urls={"*": url}))
        assert via_url.redis[0].reachable and via_url.redis[0].password_source == "url"
        assert redis_auth_server.password not in render(via_url, "json")
        assert via_url.redis[0].endpoint == f"redis://:***@{redis_auth_server.address}"
    finally:
        redis_auth_server.client().delete(*[prefix + s for s, _, _ in PROXY_ENTRIES[:2]])


def test_url_override_per_address(
    redis_server: RedisServer, redis_prefix: str, closed_redis_address: str
) -> None:
    seed(redis_server, redis_prefix, PROXY_ENTRIES[:4])
    spec = server("redis.tools.svc.cluster.local:6379", redis_prefix)
    urls = {
        "redis.tools.svc.cluster.local:6379": f"redis://{redis_server.address}",
        "*": "redis://" + closed_redis_address,
    }
    report = measure_sessions([spec], MeasureOptions(redis_urls=urls))
    assert report.redis[0].address == "redis.tools.svc.cluster.local:6379"
    assert report.redis[0].endpoint == f"redis://{redis_server.address}"
    assert report.prefixes[0].sessions == 4


def test_metric_samples(redis_server: RedisServer, redis_prefix: str) -> None:
    seed(redis_server, redis_prefix, PROXY_ENTRIES)
    report = measure_sessions([server(redis_server, redis_prefix)], MeasureOptions())
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in metric_samples(report)}
    labels = (("address", redis_server.address), ("db", "0"))
    assert samples[("mcp_gitops_session_redis_up", labels)] == 1.0
    group = (*labels, ("prefix", redis_prefix), ("servers", "MCPServer/tools/weather"))

    def value(name: str, **extra: str) -> float:
        return samples[(name, tuple(sorted(group + tuple(extra.items()))))]

    assert value("mcp_gitops_sessions", state="pinned") == 6
    assert value("mcp_gitops_session_keys", kind="unparseable") == 4
    assert value("mcp_gitops_proxy_sessions_by_type", type="sse") == 2
    assert not any(name == "mcp_gitops_sessions" and ("state", "stale") in key for name, key in samples)


def test_an_address_that_does_not_parse_is_a_finding() -> None:
    report = measure_sessions([server("redis:notaport", "p:")], MeasureOptions())
    (finding,) = report.findings
    assert finding.rule == "session-redis-error" and "redis:notaport" in finding.message
    assert report.fails()


def test_a_cluster_without_the_server_calls_nothing_stale(
    redis_server: RedisServer, redis_prefix: str
) -> None:
    seed(redis_server, redis_prefix, PROXY_ENTRIES[:8])
    report = measure_sessions([server(redis_server, redis_prefix)], MeasureOptions(cluster=FakeCluster()))
    proxy = report.prefixes[0].proxy
    assert proxy is not None and proxy.stale is None and "right one" in proxy.stale_check
    assert not report.fails()
