"""Reading back what the operator reports on an object: phase, ready replicas, conditions.

ToolHive reports readiness two ways: MCPServer and VirtualMCPServer carry a `Ready` condition, MCPGroup
only a `phase`. Kinds that report neither (a ConfigMap, a Secret) are not tracked and never waited for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reconciler.targets.cluster.desired import ObjectKey

READY = "Ready"
# Conditions worth a reader's attention when True (reference: toolhive-operator.md §2.3, §1).
WARNING_CONDITIONS = frozenset(
    {"SessionStorageWarning", "StdioReplicaCapped", "AuthzPrimaryUpstreamProviderIgnored"}
)


@dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str = ""
    message: str = ""

    def to_json(self) -> dict[str, str]:
        return {"type": self.type, "status": self.status, "reason": self.reason, "message": self.message}

    @property
    def is_warning(self) -> bool:
        return self.type in WARNING_CONDITIONS and self.status == "True"


@dataclass(frozen=True)
class ObjectStatus:
    key: ObjectKey
    found: bool = True
    phase: str | None = None
    ready_replicas: int | None = None
    conditions: tuple[Condition, ...] = ()
    # False while the operator has not yet looked at the latest spec (observedGeneration behind)
    current: bool = True
    tracked: bool = True

    @property
    def ready(self) -> bool:
        if not self.tracked:
            return True
        if not self.found or not self.current:
            return False
        ready = self.condition(READY)
        if ready is not None:
            return ready.status == "True"
        return self.phase == READY

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)

    @property
    def warnings(self) -> list[Condition]:
        return [c for c in self.conditions if c.is_warning]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.key.kind,
            "namespace": self.key.namespace or None,
            "name": self.key.name,
            "found": self.found,
            "tracked": self.tracked,
            "ready": self.ready,
            "phase": self.phase,
            "readyReplicas": self.ready_replicas,
            "conditions": [c.to_json() for c in self.conditions],
        }

    def render(self) -> str:
        if not self.found:
            return f"{self.key}: not found"
        if not self.tracked:
            return f"{self.key}: (no status reported by this kind)"
        if self.phase is None and not self.conditions:
            return f"{self.key}: no status yet (the ToolHive operator has not reported on it)"
        parts = [f"phase {self.phase or '-'}"]
        if self.ready_replicas is not None:
            parts.append(f"readyReplicas {self.ready_replicas}")
        ready = self.condition(READY)
        if ready is not None:
            parts.append(f"Ready={ready.status}" + (f" ({ready.reason})" if ready.reason else ""))
        if not self.current:
            parts.append("status not yet updated for the latest spec")
        lines = [f"{self.key}: " + ", ".join(parts)]
        for warning in self.warnings:
            lines.append(f"  warning {warning.type} ({warning.reason}): {warning.message}")
        return "\n".join(lines)


@dataclass
class StatusReport:
    statuses: list[ObjectStatus] = field(default_factory=list)
    waited: bool = False
    timed_out: bool = False

    @property
    def not_ready(self) -> list[ObjectStatus]:
        return [s for s in self.statuses if not s.ready]


def read_status(key: ObjectKey, obj: dict[str, Any] | None, tracked_kinds: frozenset[str]) -> ObjectStatus:
    if obj is None:
        return ObjectStatus(key, found=False, tracked=key.kind in tracked_kinds)
    status = obj.get("status") or {}
    tracked = key.kind in tracked_kinds or "phase" in status or "conditions" in status
    conditions = tuple(
        Condition(
            str(c.get("type", "")),
            str(c.get("status", "")),
            str(c.get("reason", "")),
            str(c.get("message", "")),
        )
        for c in status.get("conditions") or []
        if isinstance(c, dict)
    )
    generation = (obj.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    current = not (isinstance(generation, int) and isinstance(observed, int) and observed < generation)
    ready_replicas = status.get("readyReplicas")
    return ObjectStatus(
        key,
        phase=status.get("phase"),
        ready_replicas=ready_replicas if isinstance(ready_replicas, int) else None,
        conditions=conditions,
        current=current,
        tracked=tracked,
    )
