"""What `mcp-gitops diff` finds between two revisions: target changes and finding changes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from reconciler.findings import Finding
from reconciler.targets.cluster.diff import FieldChange

Action = Literal["added", "removed", "changed"]
Target = Literal["registry", "cluster"]
NO_CLAIMS: dict[str, Any] = {}


@dataclass(frozen=True)
class Change:
    """One thing a target would create, delete or update: a registry entry (its claims), a version
    (name@version), a source or registry row, or a cluster object (`Kind namespace/name`)."""

    target: Target
    kind: str
    key: str
    action: Action
    path: str | None = None  # the file at the revision (at the base for a removal)
    fields: tuple[FieldChange, ...] = ()
    # an entry's claims before and after, in full (claims are authorisation data, not secrets);
    # None when they do not change
    claims: tuple[dict[str, Any] | None, dict[str, Any] | None] | None = None

    def sort_key(self) -> tuple[str, str, str]:
        return (self.target, self.kind, self.key)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "target": self.target,
            "kind": self.kind,
            "key": self.key,
            "action": self.action,
        }
        if self.path is not None:
            out["path"] = self.path
        if self.claims is not None:
            out["claims"] = {"before": self.claims[0], "after": self.claims[1]}
        if self.fields:
            out["fields"] = [f.to_json() for f in self.fields]
        return out


@dataclass
class RevisionDiff:
    base: str | None  # commit SHA of the base
    revision: str | None  # commit SHA of the revision, None for the work tree
    changes: list[Change] = field(default_factory=list)
    introduced: list[Finding] = field(default_factory=list)  # findings at the revision, not at the base
    fixed: list[Finding] = field(default_factory=list)  # findings at the base, gone at the revision
    errors: int = 0  # errors at the revision: `apply` would refuse it
    # what could not be compared, and why (exit 2: the diff is incomplete)
    problems: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def under(self, prefix: str) -> RevisionDiff:
        """The same diff with every path prefixed (`config/`): paths relative to the Git checkout, as
        in every report format."""
        if not prefix:
            return self
        return replace(
            self,
            changes=[replace(c, path=prefix + c.path) if c.path else c for c in self.changes],
            introduced=[replace(f, path=prefix + f.path) for f in self.introduced],
            fixed=[replace(f, path=prefix + f.path) for f in self.fixed],
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "revision": self.revision,
            "changes": [c.to_json() for c in self.changes],
            "findings": {
                "introduced": [f.to_json() for f in self.introduced],
                "fixed": [f.to_json() for f in self.fixed],
            },
            "problems": list(self.problems),
            "summary": {
                "added": sum(c.action == "added" for c in self.changes),
                "removed": sum(c.action == "removed" for c in self.changes),
                "changed": sum(c.action == "changed" for c in self.changes),
                "errors": self.errors,
            },
        }
