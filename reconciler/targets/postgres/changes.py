"""The difference between desired and live state, as a list of changes a person can read and apply
can execute."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from reconciler.diff.fields import field_changes
from reconciler.targets.cluster.diff import FieldChange
from reconciler.targets.postgres.desired import DesiredState, EntrySpec, VersionSpec

Action = Literal["create", "update", "delete", "keep"]
Kind = Literal["schema", "source", "registry", "entry", "version", "latest"]


@dataclass
class Change:
    action: Action
    kind: Kind
    name: str
    version: str | None = None
    fields: list[str] = field(default_factory=list)
    before: Any = None
    after: Any = None
    path: str | None = None
    note: str | None = None
    # what apply needs; not part of the plan's JSON
    entry: EntrySpec | None = field(default=None, repr=False)
    spec: VersionSpec | None = field(default=None, repr=False)
    row_id: uuid.UUID | None = field(default=None, repr=False)

    def value_changes(self) -> list[FieldChange]:
        """A version update's changed fields, value by value (`packages[0].pkg_version: "1" -> "2"`),
        credentials redacted as everywhere."""
        if self.kind != "version" or not isinstance(self.before, dict) or not isinstance(self.after, dict):
            return []
        return field_changes(self.before, self.after)

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}" if self.version is not None else self.name

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action, "kind": self.kind, "name": self.name}
        if self.version is not None:
            out["version"] = self.version
        if self.fields:
            out["fields"] = list(self.fields)
        if "claims" in self.fields or (self.kind == "entry" and self.action == "create"):
            out["claims"] = {"before": self.before, "after": self.after}
        elif self.kind == "latest":
            out["latest"] = {"before": self.before, "after": self.after}
        elif self.kind == "version" and isinstance(self.before, dict):
            out["values"] = [c.to_json() for c in self.value_changes()]
        if self.path:
            out["path"] = self.path
        if self.note:
            out["note"] = self.note
        return out


_SYMBOL = {"create": "+", "update": "~", "delete": "-", "keep": "="}


def _claims_text(claims: Any) -> str:
    return "none" if claims is None else json.dumps(claims, sort_keys=True, separators=(",", ":"))


def render_change(change: Change) -> str:
    head = f"  {_SYMBOL[change.action]} {change.kind:<8} {change.key}"
    details: list[str] = []
    if change.kind == "entry" and change.action == "create":
        details.append(f"claims {_claims_text(change.after)}")
    elif "claims" in change.fields:
        details.append(f"CLAIMS {_claims_text(change.before)} -> {_claims_text(change.after)}")
        others = [f for f in change.fields if f != "claims"]
        if others:
            details.append("changed: " + ", ".join(others))
    elif change.kind == "latest":
        details.append(f"{change.before or 'none'} -> {change.after}")
    elif change.value_changes():
        details.append("changed: " + "; ".join(c.render() for c in change.value_changes()))
    elif change.fields:
        details.append("changed: " + ", ".join(change.fields))
    if change.path:
        details.append(f"({change.path})")
    if change.note:
        details.append(f"[{change.note}]")
    return head + ("  " + "  ".join(details) if details else "")


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    kept: int = 0

    @classmethod
    def of(cls, changes: list[Change]) -> Counts:
        counts = cls()
        for change in changes:
            if change.kind == "schema":
                continue
            if change.action == "create":
                counts.created += 1
            elif change.action == "update":
                counts.updated += 1
            elif change.action == "delete":
                counts.deleted += 1
            else:
                counts.kept += 1
        return counts

    def to_json(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class Bookkeeping:
    """Writes to our inventory that change nothing in the registry (a moved file, a reformatted one)."""

    refresh: list[VersionSpec] = field(default_factory=list)
    revision_changed: bool = False
    # EntrySpec.digest to record per entry written or compared (None: compare it row by row next time)
    entry_digests: dict[str, str | None] = field(default_factory=dict)

    @property
    def pending(self) -> bool:
        return bool(self.refresh or self.revision_changed or self.entry_digests)


@dataclass(frozen=True)
class OwnerConflict:
    """Rows the repository declares that another repository (or the registry server's API) owns: they
    are left as they are, and reported at the declaring file (None: the registry config)."""

    path: str | None
    message: str


@dataclass
class Diff:
    desired: DesiredState
    changes: list[Change]
    bookkeeping: Bookkeeping
    managed_source_id: uuid.UUID | None
    # current version ids and latest pointers of names whose versions change
    present_versions: dict[str, dict[str, uuid.UUID]]
    current_latest: dict[str, str]
    conflicts: list[OwnerConflict] = field(default_factory=list)

    @property
    def registry_changes(self) -> list[Change]:
        return [c for c in self.changes if c.action != "keep"]

    @property
    def kept(self) -> list[Change]:
        return [c for c in self.changes if c.action == "keep"]
