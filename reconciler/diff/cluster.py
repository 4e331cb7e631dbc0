"""Cluster changes between two revisions: the objects the manifests declare, paired by
group/kind/namespace/name, compared field by field.

No cluster is read: an object is what its manifest declares, cleaned the way the cluster target
cleans it before applying (`clean_copy`), with the namespace defaulted for namespaced kinds. Kinds
the API server would report as cluster-scoped are recognised by name, since no server is asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.diff.fields import FieldPath, field_changes
from reconciler.diff.model import Change
from reconciler.documents import Document
from reconciler.repository import Repository
from reconciler.targets.cluster.desired import ObjectKey, clean_copy, key_of
from reconciler.targets.cluster.diff import SENSITIVE_KINDS

CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    }
)


@dataclass(frozen=True)
class _Declared:
    document: Document
    data: dict[str, Any]

    def body(self, namespace: str) -> dict[str, Any]:
        body = clean_copy(self.data)
        metadata = body["metadata"]
        if str(body.get("kind")) in CLUSTER_SCOPED_KINDS:
            metadata.pop("namespace", None)
        else:
            metadata["namespace"] = metadata.get("namespace") or namespace
        return body


def _declared(repo: Repository) -> dict[ObjectKey, _Declared]:
    objects: dict[ObjectKey, _Declared] = {}
    namespace = repo.settings.namespace
    for doc in repo.manifests:
        if not isinstance(doc.data, dict) or not isinstance(doc.data.get("metadata"), dict):
            continue
        declared = _Declared(doc, doc.data)
        # a duplicate is a validation finding; the first declaration is the one compared
        objects.setdefault(key_of(declared.body(namespace)), declared)
    return objects


def cluster_changes(base: Repository, rev: Repository) -> list[Change]:
    old_objects, new_objects = _declared(base), _declared(rev)
    changes: list[Change] = []
    for key in sorted(old_objects.keys() | new_objects.keys()):
        old, new = old_objects.get(key), new_objects.get(key)
        name = f"{key.namespace}/{key.name}" if key.namespace else key.name

        def sensitive(path: FieldPath, kind: str = key.kind) -> bool:
            return kind in SENSITIVE_KINDS and bool(path) and path[0] in ("data", "stringData")

        if old is not None and new is not None:
            same_file = old.document.path == new.document.path and old.document.index == new.document.index
            if same_file and old.document.digest and old.document.digest == new.document.digest:
                continue
            fields = field_changes(
                old.body(base.settings.namespace), new.body(rev.settings.namespace), sensitive
            )
            if fields:
                changes.append(Change("cluster", key.kind, name, "changed", new.document.path, tuple(fields)))
        elif new is not None:
            fields = field_changes({}, new.body(rev.settings.namespace), sensitive)
            changes.append(Change("cluster", key.kind, name, "added", new.document.path, tuple(fields)))
        elif old is not None:
            changes.append(Change("cluster", key.kind, name, "removed", old.document.path))
    return changes
