"""The projection binds only what policies read, without changing what they see."""

from __future__ import annotations

from reconciler.documents import Document
from reconciler.policy.loader import compile_policy
from reconciler.policy.projection import build_trie, project


def reads_of(*expressions: str) -> dict[str, frozenset[tuple[str, ...]] | None]:
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
    return compile_policy(doc).reads


def test_paths_ignore_method_calls_and_null_tests() -> None:
    assert reads_of(
        "object.spec.keyPrefix.endsWith(':')", "oldObject == null || oldObject.claims.size() > 0"
    ) == {"object": {("spec", "keyPrefix")}, "oldObject": {("claims",)}}
    # A null test alone reads nothing inside the base object, but needs it bound.
    assert reads_of("oldObject == null || object.spec.replicas > 1") == {
        "object": {("spec", "replicas")},
        "oldObject": frozenset(),
    }


def test_an_object_never_named_is_not_read() -> None:
    assert reads_of("object.spec.replicas > 1") == {"object": {("spec", "replicas")}}
    assert reads_of("size(repo.MCPServer) > 0") == {}


def test_whole_object_use_disables_projection() -> None:
    assert reads_of("size(object) > 0") == {"object": None}
    # a macro or method on the variable itself reads every field, null test or not
    assert reads_of("object.all(k, k != 'x')") == {"object": None}
    assert reads_of("config == null || config.exists(k, k == 'auth')") == {"config": None}
    assert reads_of("object['spec'] != null") == {"object": None}
    assert reads_of("oldObject == object") == {"object": None, "oldObject": None}


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


def test_the_fixed_variables_are_projected_too() -> None:
    # Binding a document converts every bound variable again: config, server and token are bound
    # only when named, projected to the paths read.
    assert reads_of("config.auth.mode == 'oauth' || server.apiTimeout") == {
        "config": {("auth", "mode")},
        "server": {("apiTimeout",)},
    }
    assert reads_of("has(config.auth) && request.operation == 'CREATE'") == {
        "config": {("auth",)},
        "request": {("operation",)},
    }
    assert reads_of("size(config) > 0 && token != null") == {"config": None, "token": frozenset()}
    # A null test of a fixed variable reads nothing inside it either (the registry config is bound to
    # every entry's context: binding it whole cost a tenth of a second per 10,000 entries).
    assert reads_of("config == null || !has(config.auth) || config.auth.mode != 'anonymous'") == {
        "config": {("auth",), ("auth", "mode")}
    }
    assert reads_of("null != config && f(config.sources)") == {"config": {("sources",)}}
    # a field that happens to share a variable's name is no null test of that variable
    assert reads_of("object.config == null") == {"object": {("config",)}}
    assert reads_of("object.config.x == 1") == {"object": {("config", "x")}}


def test_a_projection_is_null_exactly_when_its_value_is() -> None:
    trie = build_trie({("auth", "mode")})
    assert project(None, trie) is None
    assert project({}, trie) == {}
    assert project({"database": {"host": "h"}}, trie) == {}  # present, so still not null
    assert project({"auth": {"mode": "oauth", "oauth": {}}}, trie) == {"auth": {"mode": "oauth"}}
