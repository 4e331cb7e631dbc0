"""The proxy runner's session format (ToolHive `pkg/transport/session`, `serialization.go`):

    {"id": "<uuid>", "type": "mcp|sse|streamable", "created_at": ..., "updated_at": ...,
     "metadata": {"backend_url": "http://<pod ip>:<port>", "init_body": ..., "backend_sid": ...}}

Only `type` and the host of `backend_url` are looked at; `init_body` (the client's initialize request)
and `backend_sid` are never kept.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from reconciler.sessions.report import ProxyCounts

UNPINNED, PINNED, OTHER_HOST = "unpinned", "pinned", "other"


@dataclass(frozen=True)
class ProxyBackends:
    """What a `backend_url` host is compared with."""

    service_hosts: frozenset[str]  # `mcp-<name>` in its DNS forms, and the Service ClusterIPs
    live_pod_ips: frozenset[str] | None = None  # None: unknown (no cluster), so nothing is called stale
    stale_check: str = "checked"


def looks_like_proxy_session(obj: dict[str, Any]) -> bool:
    """Tell a proxy session from vMCP metadata (a map of strings) when both kinds share a prefix."""
    return isinstance(obj.get("metadata"), dict) or ("id" in obj and "type" in obj)


def _normal_ip(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


@dataclass
class ProxyClassifier:
    backends: ProxyBackends
    types: Counter[str] = field(default_factory=Counter)
    placement: Counter[str] = field(default_factory=Counter)
    no_backend: int = 0
    stale_hosts: Counter[str] = field(default_factory=Counter)
    # Many sessions share a backend (a handful of pods): classify each distinct URL once.
    _by_url: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    def add(self, obj: dict[str, Any]) -> bool:
        """Count one parsed value; False when it is not a proxy session."""
        kind = obj.get("type")
        if not isinstance(kind, str) or not isinstance(obj.get("id"), str):
            return False
        metadata = obj.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            return False
        self.types[kind] += 1
        url = metadata.get("backend_url") if metadata else None
        if not isinstance(url, str) or not url:
            self.no_backend += 1
            return True
        known = self._by_url.get(url)
        if known is None:
            known = self._by_url[url] = self._place(url)
        placement, stale_host = known
        self.placement[placement] += 1
        if stale_host is not None:
            self.stale_hosts[stale_host] += 1
        return True

    def _place(self, url: str) -> tuple[str, str | None]:
        """(placement, the host when it is a gone pod)."""
        try:
            host = (urlsplit(url).hostname or "").lower()
        except ValueError:
            return OTHER_HOST, None
        ip = _normal_ip(host)
        if host in self.backends.service_hosts or (ip is not None and ip in self.backends.service_hosts):
            return UNPINNED, None
        if ip is None:
            return OTHER_HOST, None
        live = self.backends.live_pod_ips
        return PINNED, (ip if live is not None and ip not in live else None)

    def counts(self) -> ProxyCounts:
        checked = self.backends.live_pod_ips is not None
        return ProxyCounts(
            by_type=dict(sorted(self.types.items())),
            unpinned=self.placement[UNPINNED],
            pinned=self.placement[PINNED],
            other_host=self.placement[OTHER_HOST],
            no_backend=self.no_backend,
            stale=sum(self.stale_hosts.values()) if checked else None,
            stale_hosts=dict(self.stale_hosts.most_common()),
            stale_check=self.backends.stale_check,
        )
