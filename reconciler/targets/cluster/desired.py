"""From repository manifests to the objects to apply: marks added, namespace defaulted, kinds resolved.

A kind the cluster does not serve (a CRD that is not installed) is collected, not raised, so every
missing kind is named in one error before anything is applied.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from reconciler.targets.cluster.api import KubeApi, Resource
from reconciler.targets.cluster.marks import mark

# Fields a manifest may carry when it was exported from a cluster; sending them would make the apply
# fail (a stale resourceVersion) or be ignored, so they are dropped.
SERVER_OWNED_METADATA = (
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)

# Applied first (others may live in them) and pruned last.
APPLY_FIRST_KINDS = ("Namespace", "CustomResourceDefinition")


class ManifestDocument(Protocol):
    """What the target needs from a repository document (reconciler.documents.Document)."""

    path: str
    line: int
    data: Any

    def locate(self, field_path: Any = (), key: bool = False) -> tuple[int, int]: ...


class ObjectKey(NamedTuple):
    """Identity of an object across API versions (v1alpha1 and v1beta1 name the same object)."""

    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


def key_of(obj: dict[str, Any]) -> ObjectKey:
    meta = obj.get("metadata") or {}
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return ObjectKey(group, str(obj.get("kind", "")), meta.get("namespace") or "", meta.get("name") or "")


@dataclass
class DesiredObject:
    document: ManifestDocument
    resource: Resource
    body: dict[str, Any]

    @property
    def key(self) -> ObjectKey:
        return key_of(self.body)

    @property
    def namespace(self) -> str | None:
        return self.body["metadata"].get("namespace")

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def phase(self) -> int:
        """Apply order: namespaces and CRDs before what they hold."""
        return 0 if self.resource.kind in APPLY_FIRST_KINDS else 1

    def where(self, field_path: str | None = None) -> tuple[str, int, int]:
        """(path, line, column) in the repository, of a field when one is given ("spec.replicas")."""
        if field_path:
            line, column = self.document.locate(field_path.lstrip("."))
            return self.document.path, line, column
        return self.document.path, self.document.line, 1


@dataclass
class DesiredState:
    objects: list[DesiredObject] = field(default_factory=list)
    # `toolhive.stacklok.dev/v1beta1 MCPServer` -> the documents that use it
    missing_kinds: dict[str, list[ManifestDocument]] = field(default_factory=dict)
    # the same object declared more than once: key -> every document declaring it
    duplicates: dict[ObjectKey, list[ManifestDocument]] = field(default_factory=dict)

    @property
    def resources(self) -> list[Resource]:
        return list({(o.resource.api_version, o.resource.kind): o.resource for o in self.objects}.values())


def build_desired(
    api: KubeApi,
    manifests: Iterable[ManifestDocument],
    default_namespace: str,
    revision: str | None,
    owner: str,
    ignore_fields: Mapping[str, Sequence[str]] | None = None,
) -> DesiredState:
    """`ignore_fields` (kind -> dotted field paths) are left out of the applied objects: another
    manager (an HPA's `spec.replicas`) owns them, and server-side apply leaves a field nobody applies
    to whoever set it."""
    state = DesiredState()
    seen: dict[ObjectKey, DesiredObject] = {}
    for document in manifests:
        data = document.data
        if not isinstance(data, dict):
            continue
        api_version, kind = str(data.get("apiVersion", "")), str(data.get("kind", ""))
        resource = api.resource(api_version, kind)
        if resource is None:
            state.missing_kinds.setdefault(f"{api_version} {kind}", []).append(document)
            continue
        body = clean_copy(data)
        for field_path in (ignore_fields or {}).get(kind, ()):
            _drop(body, field_path)
        metadata = body["metadata"]
        if resource.namespaced:
            metadata["namespace"] = metadata.get("namespace") or default_namespace
        else:
            metadata.pop("namespace", None)  # a cluster-scoped object has none; the server would refuse it
        mark(body, document.path, revision, owner)
        desired = DesiredObject(document, resource, body)
        if desired.key in seen:
            state.duplicates.setdefault(desired.key, [seen[desired.key].document]).append(document)
            continue
        seen[desired.key] = desired
        state.objects.append(desired)
    return state


def clean_copy(data: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(data)
    body.pop("status", None)  # written by the operator through the status subresource, never by us
    metadata = body.setdefault("metadata", {})
    for name in SERVER_OWNED_METADATA:
        metadata.pop(name, None)
    return body


def _drop(body: dict[str, Any], field_path: str) -> None:
    *parents, last = field_path.strip(".").split(".")
    node: Any = body
    for name in parents:
        node = node.get(name) if isinstance(node, dict) else None
        if node is None:
            return
    if isinstance(node, dict):
        node.pop(last, None)
