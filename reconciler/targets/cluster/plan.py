"""The cluster plan: per object, what a server-side apply would change, and what blocks it.

Blocking problems (a kind the cluster does not serve, a failed dry run, a field another manager owns)
are kept with their file and line; a plan that has any is never applied (all or nothing).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from reconciler.targets import TargetError
from reconciler.targets.cluster.api import KubeApi, Resource
from reconciler.targets.cluster.desired import DesiredObject, ObjectKey
from reconciler.targets.cluster.diff import FieldChange
from reconciler.targets.cluster.marks import TOOLHIVE_GROUP

CREATE, UPDATE, UNCHANGED = "create", "update", "unchanged"
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

    def render(self) -> str:
        then = (
            "taken over (--force-conflicts)"
            if self.forced
            else "not applied; --force-conflicts takes it over"
        )
        return (
            f"{self.path}:{self.line}:{self.column}: {self.key}: {self.field} is owned by field manager "
            f'"{self.manager}": {then}'
        )


@dataclass(frozen=True)
class Problem:
    """Something that stops the apply, at a place in the repository."""

    path: str
    line: int
    column: int
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "column": self.column, "message": self.message}

    def render(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message}"


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
    objects: list[ObjectPlan] = field(default_factory=list)
    prune: list[PruneCandidate] = field(default_factory=list)
    prune_enabled: bool = False
    force_conflicts: bool = False
    missing_kinds: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    # Why the cluster step was skipped (no cluster configured); None when it ran.
    skipped: str | None = None
    api: KubeApi | None = field(default=None, repr=False)

    @property
    def to_delete(self) -> list[PruneCandidate]:
        return [p for p in self.prune if self.prune_enabled and not p.protected]

    @property
    def has_changes(self) -> bool:
        return any(o.action != UNCHANGED for o in self.objects) or bool(self.to_delete)

    @property
    def blocking_conflicts(self) -> list[Conflict]:
        return [c for c in self.conflicts if not c.forced]

    @property
    def has_errors(self) -> bool:
        return bool(self.missing_kinds or self.problems or self.blocking_conflicts)

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
            "skipped": self.skipped,
            "prune": self.prune_enabled,
            "forceConflicts": self.force_conflicts,
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

    def render_errors(self) -> list[str]:
        lines = []
        for kind, where in self.missing_kinds.items():
            first_path, first_line = where[0]
            more = f" and {len(where) - 1} more" if len(where) > 1 else ""
            hint = (
                "; install the ToolHive operator's CRDs first"
                if kind.startswith(TOOLHIVE_GROUP + "/")
                else ""
            )
            lines.append(
                f"{first_path}:{first_line}:1: the cluster does not serve {kind} (used by {len(where)} "
                f"manifest{'s' if len(where) != 1 else ''}: {first_path}:{first_line}{more}){hint}"
            )
        lines += [p.render() for p in self.problems]
        lines += [c.render() for c in self.blocking_conflicts]
        return lines

    def render_text(self) -> str:
        if self.skipped:
            return f"cluster: skipped: {self.skipped}"
        lines = [f"cluster: {self.cluster}"]
        if self.has_errors:
            lines += ["  error: " + line for line in self.render_errors()]
            lines.append("  nothing will be applied until these are fixed")
        for item in self.objects:
            if item.action != UNCHANGED:
                lines += item.render()
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
            f"cluster ({plan.cluster}): nothing applied; {len(errors)} problem(s):\n  " + "\n  ".join(errors)
        )
