"""`mcp-gitops sessions` without services: specs from manifests, thresholds, addresses, formats, TTLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.repository import load_repository
from reconciler.sessions import SecretRef, ServerSpec, SessionStorage, Threshold, servers_from_manifests
from reconciler.sessions.connection import Endpoint, mask_url, split_address
from reconciler.sessions.proxy_format import ProxyBackends, ProxyClassifier
from reconciler.sessions.scan import match_pattern
from reconciler.sessions.specs import spec_from_manifest
from reconciler.sessions.ttl import LABELS, TtlCollector
from reconciler.sessions.vmcp_format import VmcpClassifier
from reconciler.source import FolderSource


def test_specs_from_the_sample_repository(sample_repo: Path) -> None:
    repo = load_repository(FolderSource(sample_repo))
    specs = {s.ref: s for s in servers_from_manifests(repo.manifests, repo.settings.namespace)}
    assert set(specs) == {
        "MCPServer/toolhive-system/weather",
        "VirtualMCPServer/toolhive-system/platform-vmcp",
    }
    weather = specs["MCPServer/toolhive-system/weather"]
    assert weather.prefix == "mcp-sessions:weather:"
    assert weather.storage == SessionStorage(
        "redis.toolhive-system.svc.cluster.local:6379",
        0,
        "mcp-sessions:weather:",
        SecretRef("redis-password", "password"),
    )
    vmcp = specs["VirtualMCPServer/toolhive-system/platform-vmcp"]
    assert (vmcp.storage.db, vmcp.prefix, vmcp.session_format) == (1, "vmcp-sessions:platform:", "vmcp")


def _manifest(kind: str, storage: object, namespace: str | None = None) -> dict[str, object]:
    metadata = {"name": "s"} | ({"namespace": namespace} if namespace else {})
    return {"kind": kind, "metadata": metadata, "spec": {"sessionStorage": storage}}


def test_default_prefixes_namespace_and_what_is_skipped() -> None:
    redis = {"provider": "redis", "address": "r:6379"}
    proxy = spec_from_manifest("MCPServer", _manifest("MCPServer", redis), "dflt")
    vmcp = spec_from_manifest("VirtualMCPServer", _manifest("VirtualMCPServer", redis, "ns"), "dflt")
    remote = spec_from_manifest("MCPRemoteProxy", _manifest("MCPRemoteProxy", redis), "dflt")
    assert proxy is not None and vmcp is not None and remote is not None
    assert (proxy.prefix, proxy.namespace, proxy.storage.db) == ("thv:proxy:session:", "dflt", 0)
    assert (vmcp.prefix, vmcp.namespace) == ("thv:vmcp:session:", "ns")
    assert remote.prefix == "thv:proxy:session:"  # shares the proxy's default
    assert spec_from_manifest("MCPServer", _manifest("MCPServer", {"provider": "memory"}), "d") is None
    assert spec_from_manifest("MCPServer", _manifest("MCPServer", None), "d") is None
    assert spec_from_manifest("MCPGroup", _manifest("MCPGroup", redis), "d") is None
    assert spec_from_manifest("MCPServer", _manifest("MCPServer", {"provider": "redis"}), "d") is None


@pytest.mark.parametrize(
    ("text", "bad", "total", "exceeded"),
    [
        ("10%", 2, 10, True),
        ("10%", 1, 10, False),
        ("0%", 1, 100, True),
        ("5", 5, 6, False),
        ("5", 6, 6, True),
    ],
)
def test_threshold(text: str, bad: int, total: int, exceeded: bool) -> None:
    assert Threshold.parse(text).exceeded(bad, total) is exceeded


@pytest.mark.parametrize("text", ["ten", "150%", "-1", ""])
def test_threshold_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        Threshold.parse(text)


def test_addresses_and_urls() -> None:
    assert split_address("redis.ns.svc:6380") == ("redis.ns.svc", 6380)
    assert split_address("redis") == ("redis", 6379)
    assert split_address("[fd00::1]:7000") == ("fd00::1", 7000)
    assert split_address("fd00::1") == ("fd00::1", 6379)
    assert mask_url("redis://:hunter2@localhost:6379/1") == "redis://:***@localhost:6379/1"
    assert mask_url("redis://localhost:6379") == "redis://localhost:6379"
    assert Endpoint("a:1", "redis://u:pw@h:2").display == "redis://u:***@h:2"
    assert Endpoint("a:1", "redis://u:pw@h:2").url_password == "pw"


def test_match_pattern_escapes_glob_characters() -> None:
    assert match_pattern(b"thv:proxy:session:") == b"thv:proxy:session:*"
    assert match_pattern(b"a*b?[c]\\:") == b"a\\*b\\?\\[c\\]\\\\:*"


def test_proxy_placement() -> None:
    backends = ProxyBackends(
        frozenset({"mcp-w", "mcp-w.ns", "10.0.0.10"}), live_pod_ips=frozenset({"10.1.0.5", "fd00::5"})
    )
    classifier = ProxyClassifier(backends)
    for url in (
        "http://mcp-w:8080",
        "http://MCP-W.ns:8080",
        "http://10.0.0.10:8080",
        "http://10.1.0.5:8080",
        "http://[fd00::5]:8080",
        "http://10.1.0.9:8080",
        "https://remote.example.com/mcp",
        "http://[bad",
    ):
        assert classifier.add({"id": "x", "type": "mcp", "metadata": {"backend_url": url}})
    assert classifier.add({"id": "x", "type": "sse", "metadata": {}})
    assert not classifier.add({"id": "x"})
    assert not classifier.add({"id": "x", "type": "mcp", "metadata": "nope"})
    counts = classifier.counts()
    assert (counts.unpinned, counts.pinned, counts.other_host, counts.no_backend) == (3, 3, 2, 1)
    assert counts.stale == 1 and counts.stale_hosts == {"10.1.0.9": 1}
    assert counts.by_type == {"mcp": 8, "sse": 1}


def test_vmcp_kinds() -> None:
    classifier = VmcpClassifier(frozenset({"github"}))
    values = [
        {},
        {"terminated": "true"},
        {"vmcp.backend.ids": "github,jira", "terminated": "true"},
        {"vmcp.token.hash": "h", "vmcp.token.salt": "s"},
        {"vmcp.backend.ids": "github,jira", "vmcp.identity.binding": "unauthenticated"},
        {"vmcp.backend.ids": ""},
    ]
    assert all(classifier.add(v) for v in values)
    assert not classifier.add({"vmcp.backend.ids": 3})
    assert not classifier.add({"something": "else"})
    counts = classifier.counts()
    assert (counts.full, counts.placeholders, counts.terminated, counts.legacy) == (2, 1, 2, 1)
    assert counts.unknown_backend_sessions == 1 and counts.unknown_backends == {"jira": 1}


def test_ttl_buckets_and_idle() -> None:
    collector = TtlCollector(configured_seconds=7200)
    for ms in (30_000, 60_000, 7_000_000, 7_200_000, 9_000_000):
        collector.add(ms)
    collector.add(-1)
    summary = collector.summary()
    assert list(summary.buckets) == LABELS == ["0-1m", "1m-5m", "5m-15m", "15m-30m", "30m-1h", "1h-2h", ">2h"]
    assert summary.buckets == {
        "0-1m": 1,
        "1m-5m": 1,
        "5m-15m": 0,
        "15m-30m": 0,
        "30m-1h": 0,
        "1h-2h": 1,
        ">2h": 2,
    }
    assert summary.no_expiry == 1
    assert summary.idle_max_seconds == 7170.0  # 2 h - 30 s
    assert summary.idle_median_seconds == 200.0  # 2 h - 7,000 s


def test_spec_refs() -> None:
    spec = ServerSpec("MCPServer", "ns", "w", SessionStorage("r:1"))
    assert spec.ref == "MCPServer/ns/w" and spec.session_format == "proxy"
