"""Field-level diffs, ownership marks and the unchanged-object shortcut, without a cluster."""

from __future__ import annotations

import copy
from typing import Any

from reconciler.targets.cluster.diff import ABSENT, changes, declared_fields
from reconciler.targets.cluster.marks import (
    DIGEST_ANNOTATION,
    MANAGED_BY_LABEL,
    REVISION_ANNOTATION,
    SOURCE_PATH_ANNOTATION,
    mark,
)
from reconciler.targets.cluster.unchanged import known_unchanged


def live_object(**spec: object) -> dict:
    return {
        "apiVersion": "toolhive.stacklok.dev/v1beta1",
        "kind": "MCPServer",
        "metadata": {
            "name": "a",
            "namespace": "ns",
            "resourceVersion": "10",
            "generation": 3,
            "uid": "u",
            "managedFields": [{"manager": "mcp-gitops"}],
            "annotations": {REVISION_ANNOTATION: "old", SOURCE_PATH_ANNOTATION: "m/a.yaml"},
        },
        "spec": {"image": "i:1", "transport": "stdio", "sessionAffinity": "ClientIP", **spec},
        "status": {"phase": "Ready"},
    }


def test_noise_is_ignored() -> None:
    before = live_object(replicas=2)
    after = live_object(replicas=2)
    after["metadata"].update(resourceVersion="11", generation=4, managedFields=[])
    after["metadata"]["annotations"][REVISION_ANNOTATION] = "new"
    after["status"] = {"phase": "Pending"}
    assert changes(before, after) == []


def test_scaling_fields_come_first() -> None:
    before = live_object(replicas=2, backendReplicas=1, sessionStorage={"provider": "memory"})
    after = live_object(
        replicas=3, backendReplicas=2, sessionStorage={"provider": "redis", "address": "r:6379"}
    )
    after["spec"]["image"] = "i:2"
    after["metadata"]["labels"] = {"team": "x"}
    fields = [c.field for c in changes(before, after)]
    assert fields == [
        "spec.replicas",
        "spec.backendReplicas",
        "spec.sessionStorage.address",
        "spec.sessionStorage.provider",
        "spec.image",
        "metadata.labels.team",
    ]


def test_removed_and_added_fields() -> None:
    found = {c.field: c for c in changes(live_object(replicas=2), live_object(backendReplicas=2))}
    assert (
        found["spec.replicas"].after is ABSENT
        and found["spec.replicas"].render() == "spec.replicas: 2 -> (removed)"
    )
    assert found["spec.backendReplicas"].before is ABSENT
    assert found["spec.backendReplicas"].to_json() == {"field": "spec.backendReplicas", "after": 2}


def test_secret_values_are_never_shown() -> None:
    before = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"password": "b2xk"}}
    after = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"password": "bmV3"}}
    (change,) = changes(before, after)
    assert change.render() == "data.password: (sensitive) -> (sensitive)"
    assert "bmV3" not in str(change.to_json())
    body = {**after}
    assert "bmV3" not in str([c.to_json() for c in declared_fields(body)])


def test_declared_fields_of_a_new_object_skip_identity_and_marks() -> None:
    body: dict[str, Any] = {
        "apiVersion": "toolhive.stacklok.dev/v1beta1",
        "kind": "MCPServer",
        "metadata": {"name": "a", "namespace": "ns", "labels": {"team": "x"}},
        "spec": {"image": "i:1", "replicas": 2, "sessionStorage": {"provider": "redis", "address": "r"}},
    }
    mark(body, "manifests/a.yaml", "abc123", "github.com/acme/config")
    assert body["metadata"]["labels"][MANAGED_BY_LABEL] == "mcp-gitops"
    fields = [c.field for c in declared_fields(body)]
    assert fields == [
        "spec.replicas",
        "spec.sessionStorage.address",
        "spec.sessionStorage.provider",
        "spec.image",
        "metadata.labels.team",
    ]


def marked_body(replicas: int = 2, revision: str = "r1") -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "toolhive.stacklok.dev/v1beta1",
        "kind": "MCPServer",
        "metadata": {"name": "a", "namespace": "ns"},
        "spec": {"image": "i:1", "replicas": replicas, "env": [{"name": "A", "value": "1"}]},
    }
    mark(body, "manifests/a.yaml", revision, "github.com/acme/config")
    return body


def as_live(body: dict[str, Any]) -> dict[str, Any]:
    """What the server would hold after applying `body`: defaults and bookkeeping added."""
    live = copy.deepcopy(body)
    live["metadata"].update(resourceVersion="5", uid="u", managedFields=[])
    live["spec"]["sessionAffinity"] = "ClientIP"
    live["status"] = {"phase": "Ready"}
    return live


def test_known_unchanged_needs_the_same_digest_and_the_same_declared_values() -> None:
    live = as_live(marked_body())
    assert known_unchanged(marked_body(), live)
    assert known_unchanged(marked_body(revision="r2"), live)  # a new commit alone changes nothing
    assert not known_unchanged(marked_body(replicas=3), live)  # a declared change: dry run
    drifted = copy.deepcopy(live)
    drifted["spec"]["replicas"] = 5  # someone scaled it: dry run (it also reports the conflict)
    assert not known_unchanged(marked_body(), drifted)
    unmarked = copy.deepcopy(live)
    del unmarked["metadata"]["labels"][MANAGED_BY_LABEL]
    assert not known_unchanged(marked_body(), unmarked)
    older = copy.deepcopy(live)
    older["metadata"]["annotations"][DIGEST_ANNOTATION] = "sha256:0"
    assert not known_unchanged(marked_body(), older)
    normalised = copy.deepcopy(live)
    normalised["spec"]["env"] = [{"name": "A", "value": "1", "valueFrom": None}]
    assert not known_unchanged(marked_body(), normalised)
    assert not known_unchanged(marked_body(), None)
