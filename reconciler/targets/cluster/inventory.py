"""The inventory: which objects a repository applied, kept in a ConfigMap next to them (as Flux keeps it
in its Kustomization's status).

Prune trusts the inventory as well as the ownership label, so an object whose file was deleted between
two revisions is pruned even when someone edited or removed its labels in the meantime. The ConfigMap
carries its own label (not the ownership label), so it never shows up among the objects it lists.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from reconciler.targets.cluster.api import KubeApi
from reconciler.targets.cluster.marks import MANAGED_BY, MANAGED_BY_LABEL, OWNER_ANNOTATION, owner_hash

INVENTORY_LABEL = "mcp-gitops.io/inventory-of"
_KEY = "objects"


@dataclass(frozen=True, order=True)
class InventoryItem:
    api_version: str
    kind: str
    namespace: str
    name: str


def configmap_name(owner: str) -> str:
    return f"mcp-gitops-inventory-{owner_hash(owner)}"


def _path(namespace: str, owner: str) -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps/{configmap_name(owner)}"


def read(api: KubeApi, namespace: str, owner: str) -> set[InventoryItem]:
    response = api.request("GET", _path(namespace, owner))
    if response.status == 404:
        return set()
    if not response.ok:
        raise response.error(f"reading the inventory {namespace}/{configmap_name(owner)}")
    try:
        rows = json.loads((response.body.get("data") or {}).get(_KEY) or "[]")
        return {InventoryItem(*row) for row in rows}
    except (TypeError, ValueError):
        return set()  # edited by hand into something else: the ownership label still finds ours


def write(api: KubeApi, namespace: str, owner: str, items: Iterable[InventoryItem]) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": configmap_name(owner),
            "namespace": namespace,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY, INVENTORY_LABEL: owner_hash(owner)},
            "annotations": {OWNER_ANNOTATION: owner},
        },
        "data": {_KEY: json.dumps([list(item.__dict__.values()) for item in sorted(set(items))])},
    }
    response = api.request(
        "PATCH",
        _path(namespace, owner),
        query=[("fieldManager", "mcp-gitops"), ("force", "true")],
        body=body,
        content_type="application/apply-patch+yaml",
    )
    if not response.ok:
        raise response.error(f"writing the inventory {namespace}/{configmap_name(owner)}")
