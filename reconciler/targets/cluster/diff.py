"""Field-level differences between a live object and what the server says it would become.

Both sides come from the server (the live object and a server-side dry run), so defaults, conversion
and pruning of unknown fields are already applied to each: what is left is a real change. The noise
removed here is bookkeeping (managedFields, resourceVersion, ...), status, and the revision annotation
(see marks.REVISION_ANNOTATION).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.documents import format_field_path
from reconciler.targets.cluster.marks import (
    DIGEST_ANNOTATION,
    MANAGED_BY_LABEL,
    OWNER_ANNOTATION,
    OWNER_LABEL,
    REVISION_ANNOTATION,
    SOURCE_PATH_ANNOTATION,
)

NOISE_METADATA = frozenset(
    {"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink"}
)
# The digest changes exactly when something else does; showing it would only add noise.
IGNORED_ANNOTATIONS = frozenset({REVISION_ANNOTATION, DIGEST_ANNOTATION})
# Our own marks: shown in neither a new object's field list nor counted as a reason to apply.
MARK_PATHS = frozenset(
    {
        ("metadata", "labels", MANAGED_BY_LABEL),
        ("metadata", "labels", OWNER_LABEL),
        ("metadata", "annotations", OWNER_ANNOTATION),
        ("metadata", "annotations", SOURCE_PATH_ANNOTATION),
        ("metadata", "annotations", REVISION_ANNOTATION),
        ("metadata", "annotations", DIGEST_ANNOTATION),
    }
)
# The fields this project exists for are listed first in a plan (issue: "scaling fields first").
SCALING_FIELDS: tuple[tuple[str, ...], ...] = (
    ("spec", "replicas"),
    ("spec", "backendReplicas"),
    ("spec", "sessionStorage"),
    ("spec", "sessionAffinity"),
)
SENSITIVE_KINDS = frozenset({"Secret"})


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class FieldChange:
    path: tuple[str | int, ...]
    before: Any  # ABSENT when the field is added
    after: Any  # ABSENT when the field is removed
    sensitive: bool = False

    @property
    def field(self) -> str:
        return format_field_path(self.path)

    @property
    def is_scaling(self) -> bool:
        return _scaling_rank(self.path) < len(SCALING_FIELDS)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field}
        if self.before is not ABSENT:
            out["before"] = "(sensitive)" if self.sensitive else self.before
        if self.after is not ABSENT:
            out["after"] = "(sensitive)" if self.sensitive else self.after
        return out

    def render(self) -> str:
        def show(value: Any) -> str:
            return "(sensitive)" if self.sensitive else _short(value)

        if self.before is ABSENT:
            return f"{self.field}: {show(self.after)}"
        if self.after is ABSENT:
            return f"{self.field}: {show(self.before)} -> (removed)"
        return f"{self.field}: {show(self.before)} -> {show(self.after)}"


def _short(value: Any, limit: int = 80) -> str:
    import json

    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def comparable(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without bookkeeping, status and ignored annotations (a shallow rebuild, no copy)."""
    out = {k: v for k, v in obj.items() if k != "status"}
    metadata = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in NOISE_METADATA}
    annotations = {
        k: v for k, v in (metadata.get("annotations") or {}).items() if k not in IGNORED_ANNOTATIONS
    }
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    out["metadata"] = metadata
    return out


def changes(live: dict[str, Any], after: dict[str, Any]) -> list[FieldChange]:
    """What differs between the live object and the dry-run result, scaling fields first."""
    sensitive = str(after.get("kind")) in SENSITIVE_KINDS
    found = list(_walk((), comparable(live), comparable(after), sensitive))
    return order(found)


def declared_fields(body: dict[str, Any]) -> list[FieldChange]:
    """A new object's fields as the manifest declares them (the dry run would add server defaults,
    which are noise for a reader), scaling fields first."""
    sensitive = str(body.get("kind")) in SENSITIVE_KINDS
    found: list[FieldChange] = []
    for key, value in body.items():
        if key in ("apiVersion", "kind"):
            continue
        if key == "metadata":
            value = {k: v for k, v in value.items() if k not in ("name", "namespace")}
        found.extend(_leaves((key,), value, sensitive))
    return order([c for c in found if c.path not in MARK_PATHS])


def order(found: list[FieldChange]) -> list[FieldChange]:
    return sorted(found, key=lambda c: (_scaling_rank(c.path), c.path[0] == "metadata", c.field))


def _scaling_rank(path: Sequence[str | int]) -> int:
    for rank, prefix in enumerate(SCALING_FIELDS):
        if tuple(path[: len(prefix)]) == prefix:
            return rank
    return len(SCALING_FIELDS)


def _walk(path: tuple[str | int, ...], before: Any, after: Any, sensitive: bool) -> Iterator[FieldChange]:
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after), key=str):
            yield from _walk((*path, key), before.get(key, ABSENT), after.get(key, ABSENT), sensitive)
        return
    if before != after or type(before) is not type(after):
        if before is ABSENT and isinstance(after, dict):
            yield from _leaves(path, after, sensitive)
        else:
            yield FieldChange(path, before, after, sensitive=sensitive and _is_secret_data(path))


def _leaves(path: tuple[str | int, ...], value: Any, sensitive: bool) -> Iterator[FieldChange]:
    if isinstance(value, dict) and value:
        for key in sorted(value, key=str):
            yield from _leaves((*path, key), value[key], sensitive)
    else:
        yield FieldChange(path, ABSENT, value, sensitive=sensitive and _is_secret_data(path))


def _is_secret_data(path: Sequence[str | int]) -> bool:
    return bool(path) and path[0] in ("data", "stringData")
