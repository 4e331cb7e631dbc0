"""The Virtual MCP server's session metadata (ToolHive `pkg/vmcp/server/sessionmanager`): a JSON map of
strings. `{}` is the placeholder written first (SET NX); a full session has `vmcp.backend.ids` (sorted,
comma-separated workload names, possibly empty); `terminated: "true"` marks a dead one; entries with
`vmcp.token.hash` come from an older release and are invalidated on read.

Only the keys and `vmcp.backend.ids` are looked at; `vmcp.identity.binding` (issuer and subject: PII)
and `vmcp.backend.session.*` (backend session ids) are never kept.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from reconciler.sessions.report import VmcpCounts

BACKEND_IDS = "vmcp.backend.ids"
TERMINATED = "terminated"
LEGACY_TOKEN_HASH = "vmcp.token.hash"


@dataclass
class VmcpClassifier:
    # Names in the VirtualMCPServers' status.discoveredBackends; None: unknown, nothing is flagged.
    discovered_backends: frozenset[str] | None = None
    backend_check: str = "checked"
    kinds: Counter[str] = field(default_factory=Counter)
    unknown_backends: Counter[str] = field(default_factory=Counter)
    unknown_backend_sessions: int = 0
    _by_ids: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def add(self, obj: dict[str, Any]) -> bool:
        """Count one parsed value; False when it is not vMCP session metadata."""
        if not all(isinstance(v, str) for v in obj.values()):
            return False
        if obj.get(TERMINATED) == "true":
            self.kinds["terminated"] += 1
        elif not obj:
            self.kinds["placeholders"] += 1
        elif LEGACY_TOKEN_HASH in obj:
            self.kinds["legacy"] += 1
        elif BACKEND_IDS in obj:
            self.kinds["full"] += 1
            self._check_backends(obj[BACKEND_IDS])
        else:
            return False
        return True

    def _check_backends(self, ids: str) -> None:
        if self.discovered_backends is None or not ids:
            return
        unknown = self._by_ids.get(ids)
        if unknown is None:
            names = (n.strip() for n in ids.split(","))
            unknown = self._by_ids[ids] = tuple(n for n in names if n and n not in self.discovered_backends)
        if unknown:
            self.unknown_backend_sessions += 1
            self.unknown_backends.update(unknown)

    def counts(self) -> VmcpCounts:
        checked = self.discovered_backends is not None
        return VmcpCounts(
            full=self.kinds["full"],
            placeholders=self.kinds["placeholders"],
            terminated=self.kinds["terminated"],
            legacy=self.kinds["legacy"],
            unknown_backend_sessions=self.unknown_backend_sessions if checked else None,
            unknown_backends=dict(self.unknown_backends.most_common()),
            backend_check=self.backend_check,
        )
