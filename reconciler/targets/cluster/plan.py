"""The cluster plan: per object, what a server-side apply would change, and what blocks it.

Blocking problems (a kind the cluster does not serve, a failed dry run, a field another manager owns)
are kept with their file and line; a plan that has any is never applied (all or nothing).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from reconciler.findings import Finding, Severity
from reconciler.settings import SETTINGS_FILE
from reconciler.targets import DRIFT_RULE, TargetError
from reconciler.targets.cluster.api import KubeApi, Resource
from reconciler.targets.cluster.desired import DesiredObject, ObjectKey
from reconciler.targets.cluster.diff import FieldChange
from reconciler.targets.cluster.inventory import InventoryItem
from reconciler.targets.cluster.marks import TOOLHIVE_GROUP
from reconciler.targets.cluster.options import Conflicts

CREATE, UPDATE, UNCHANGED = "create", "update", "unchanged"

# Rule IDs of the cluster plan's findings (described in reconciler/reconcile/rules.py).
MISSING_KIND_RULE = "cluster-missing-kind"
DRY_RUN_RULE = "cluster-dry-run"
DUPLICATE_RULE = "cluster-duplicate"
CONFLICT_RULE = "cluster-conflict"
OWNER_CONFLICT_RULE = "cluster-owner-conflict"
PRUNE_REFUSED_RULE = "cluster-prune-refused"
_SYMBOL = {CREATE: "+", UPDATE: "~", UNCHANGED: "="}


@dataclass(frozen=True)
class Conflict:
    """A field we declare that another field manager owns (an HPA's `replicas`, a `kubectl scale`)."""

    key: ObjectKey
    field: str
    manager: str
    path: str
    line: int
    column: int
    forced: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "object": str(self.key),
            "field": self.field,
            "manager": self.manager,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "forced": self.forced,
        }

    @property
    def message(self) -> str:
        then = (
            "taken over (conflicts: force)"
            if self.forced
            else "that object is not applied (conflicts: skip; `force` takes the field over, "
            "cluster.ignoreFields leaves it to the other manager)"
        )
        return f'{self.key}: {self.field} is owned by field manager "{self.manager}": {then}'

    def render(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message}"

    def finding(self) -> Finding:
        return Finding(CONFLICT_RULE, Severity.WARNING, self.path, self.line, self.column, self.message)


@dataclass(frozen=True)
class Problem:
    """Something that stops the apply, at a place in the repository."""

    path: str
    line: int
    column: int
    message: str
    rule: str = DRY_RUN_RULE

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "message": self.message,
        }

    def render(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message}"

    def finding(self) -> Finding:
        return Finding(self.rule, Severity.ERROR, self.path, self.line, self.column, self.message)


@dataclass
class ObjectPlan:
    desired: DesiredObject
    action: str
    changes: list[FieldChange] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    # True when the server did not check this object (its namespace is created by the same apply)
    unchecked: bool = False

    @property
    def key(self) -> ObjectKey:
        return self.desired.key

    def to_json(self) -> dict[str, Any]:
        path, line, _ = self.desired.where()
        return {
            "apiVersion": self.desired.body.get("apiVersion"),
            "kind": self.key.kind,
            "namespace": self.key.namespace or None,
            "name": self.key.name,
            "path": path,
            "line": line,
            "action": self.action,
            "fields": [c.to_json() for c in self.changes],
            "conflicts": [c.to_json() for c in self.conflicts],
        }

    def render(self) -> list[str]:
        path, line, _ = self.desired.where()
        lines = [f"  {_SYMBOL[self.action]} {self.key} ({path}:{line})"]
        lines += [f"      {change.render()}" for change in self.changes]
        lines += [
            f"      takes over {c.field} from field manager {c.manager!r}" for c in self.conflicts if c.forced
        ]
        if self.unchecked:
            lines.append("      (not checked by the server: its namespace is created by this apply)")
        return lines


@dataclass(frozen=True)
class PruneCandidate:
    """A live object with our marks that no manifest declares any more."""

    resource: Resource
    key: ObjectKey
    source_path: str | None
    protected: bool  # carries the opt-out annotation (marks.PRUNE_ANNOTATION)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.key.kind,
            "namespace": self.key.namespace or None,
            "name": self.key.name,
            "sourcePath": self.source_path,
            "protected": self.protected,
        }

    def render(self, prune: bool) -> str:
        origin = f" (was {self.source_path})" if self.source_path else ""
        if self.protected:
            return f"  # {self.key}{origin}: kept, prune opted out by annotation"
        if not prune:
            return f"  # {self.key}{origin}: no longer in the repository; kept (prune is off)"
        return f"  - {self.key}{origin}"


@dataclass
class ClusterPlan:
    target: str = "cluster"
    cluster: str = ""
    revision: str | None = None
    # the repository identity whose objects this plan considers (reconciler/targets/ownership.py)
    owner: str = ""
    inventory_namespace: str = "default"
    inventory: set[InventoryItem] = field(default_factory=set)
    objects: list[ObjectPlan] = field(default_factory=list)
    prune: list[PruneCandidate] = field(default_factory=list)
    prune_enabled: bool = False
    conflicts_mode: Conflicts = "force"
    missing_kinds: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    api: KubeApi | None = field(default=None, repr=False)

    @property
    def destination(self) -> str:
        return self.cluster

    @property
    def managed(self) -> int:
        return len(self.objects)

    def differences(self) -> list[Finding]:
        """Objects whose live state differs from the repository: changed, deleted, left behind, or
        holding a field another manager took (`conflicts: skip` leaves those as they are)."""
        found = []
        for item in self.objects:
            if item.action == UNCHANGED:
                continue
            path, line, _ = item.desired.where()
            what = "; ".join(c.render() for c in item.changes) if item.action == UPDATE else "missing"
            found.append(Finding(DRIFT_RULE, Severity.WARNING, path, line, 1, f"{item.key}: {what}"))
        found += [
            Finding(DRIFT_RULE, Severity.WARNING, c.path, c.line, c.column, c.message)
            for c in self.conflicts
            if not c.forced
        ]
        found += [
            Finding(
                DRIFT_RULE,
                Severity.WARNING,
                p.source_path or SETTINGS_FILE,
                0,
                0,
                f"{p.key}: no longer in the repository, still in the cluster",
            )
            for p in self.prune
        ]
        return found

    def findings(self) -> list[Finding]:
        found = [
            Finding(MISSING_KIND_RULE, Severity.ERROR, path, line, 1, message)
            for path, line, message in self._missing_kind_messages()
        ]
        found += [p.finding() for p in self.problems]
        found += [c.finding() for c in self.conflicts]
        return found

    @property
    def compared(self) -> bool:
        return True  # a cluster plan always reads the live objects (server-side dry run)

    @property
    def to_delete(self) -> list[PruneCandidate]:
        return [p for p in self.prune if self.prune_enabled and not p.protected]

    @property
    def has_changes(self) -> bool:
        return any(o.action != UNCHANGED for o in self.objects) or bool(self.to_delete)

    @property
    def has_errors(self) -> bool:
        return bool(self.missing_kinds or self.problems)

    def counts(self) -> dict[str, int]:
        actions = Counter(o.action for o in self.objects)
        return {
            "create": actions[CREATE],
            "update": actions[UPDATE],
            "unchanged": actions[UNCHANGED],
            "prune": len(self.to_delete),
            "kept": len(self.prune) - len(self.to_delete),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "cluster": self.cluster,
            "revision": self.revision,
            "owner": self.owner,
            "prune": self.prune_enabled,
            "conflictsMode": self.conflicts_mode,
            "objects": [o.to_json() for o in self.objects if o.action != UNCHANGED],
            "pruneCandidates": [p.to_json() for p in self.prune],
            "conflicts": [c.to_json() for c in self.conflicts],
            "missingKinds": [
                {"kind": kind, "documents": [{"path": p, "line": line} for p, line in where]}
                for kind, where in self.missing_kinds.items()
            ],
            "errors": [p.to_json() for p in self.problems],
            "summary": self.counts(),
        }

    def _missing_kind_messages(self) -> list[tuple[str, int, str]]:
        out = []
        for kind, where in self.missing_kinds.items():
            first_path, first_line = where[0]
            more = f" and {len(where) - 1} more" if len(where) > 1 else ""
            hint = (
                "; install the ToolHive operator's CRDs first"
                if kind.startswith(TOOLHIVE_GROUP + "/")
                else ""
            )
            out.append(
                (
                    first_path,
                    first_line,
                    f"the cluster does not serve {kind} (used by {len(where)} "
                    f"manifest{'s' if len(where) != 1 else ''}: {first_path}:{first_line}{more}){hint}",
                )
            )
        return out

    def render_errors(self) -> list[str]:
        lines = [f"{path}:{line}:1: {message}" for path, line, message in self._missing_kind_messages()]
        lines += [p.render() for p in self.problems]
        return lines

    def render_text(self) -> str:
        lines = [f"cluster: {self.cluster}"]
        if self.has_errors:
            lines += ["  error: " + line for line in self.render_errors()]
            lines.append("  nothing will be applied until these are fixed")
        for item in self.objects:
            if item.action != UNCHANGED:
                lines += item.render()
        lines += ["  conflict: " + c.render() for c in self.conflicts if not c.forced]
        lines += [candidate.render(self.prune_enabled) for candidate in self.prune]
        c = self.counts()
        if not self.has_changes and not self.has_errors:
            lines.append("  no changes")
        lines.append(
            f"  plan: {c['create']} to create, {c['update']} to update, {c['prune']} to prune, "
            f"{c['unchanged']} unchanged" + (f", {c['kept']} kept (not pruned)" if c["kept"] else "")
        )
        return "\n".join(lines)


class ClusterPlanError(TargetError):
    """The plan has blocking problems; nothing was (or will be) applied. `.plan` holds the details."""

    def __init__(self, plan: ClusterPlan) -> None:
        self.plan = plan
        errors = plan.render_errors()
        super().__init__(
            f"cluster ({plan.cluster}): nothing applied; {len(errors)} problem(s):\n  " + "\n  ".join(errors),
            reason="PlanRefused",
        )
