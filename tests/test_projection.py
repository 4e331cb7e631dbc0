"""The projection binds only what policies read, without changing what they see."""

from __future__ import annotations

from reconciler.documents import Document
from reconciler.policy.loader import compile_policy
from reconciler.policy.projection import build_trie, project


def paths_of(*expressions: str) -> frozenset[tuple[str, ...]] | None:
    doc = Document(
        "p.yaml",
        {
            "id": "p",
            "severity": "error",
            "description": "d",
            "match": {"kinds": ["MCPServer"]},
            "validations": [{"expression": e, "message": "m"} for e in expressions],
        },
    )
    return compile_policy(doc).object_paths


def test_paths_ignore_method_calls_and_null_tests() -> None:
    assert paths_of(
        "object.spec.keyPrefix.endsWith(':')", "oldObject == null || oldObject.claims.size() > 0"
    ) == {
        ("spec", "keyPrefix"),
        ("claims",),
    }


def test_whole_object_use_disables_projection() -> None:
    assert paths_of("size(object) > 0") is None
    assert paths_of("object['spec'] != null") is None
    assert paths_of("oldObject == object") is None


def test_projection_keeps_referenced_subtrees_only() -> None:
    data = {
        "spec": {"replicas": 2, "image": "x", "sessionStorage": {"provider": "redis", "address": "a"}},
        "kind": "K",
    }
    trie = build_trie(
        {("spec", "replicas"), ("spec", "sessionStorage"), ("spec", "sessionStorage", "provider")}
    )
    assert project(data, trie) == {
        "spec": {"replicas": 2, "sessionStorage": {"provider": "redis", "address": "a"}}
    }
    assert project({"spec": {}}, trie) == {"spec": {}}  # has() answers stay the same
