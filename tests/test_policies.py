"""Every built-in rule: a failing case and a passing case, through the whole validation pipeline."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from reconciler.findings import Finding
from reconciler.pipeline import validate
from reconciler.source import FolderSource
from tests.builders import CONFIG, REDIS, entry, group, mcpserver, vmcp, write_repo


def run(root: Path, **kwargs: Any) -> list[Finding]:
    return [f for f in validate(FolderSource(root), **kwargs).report.findings if f.waived is None]


def rules(root: Path, **kwargs: Any) -> set[str]:
    return {f.rule for f in run(root, **kwargs)}


def config_with(**changes: Any) -> dict[str, Any]:
    config = copy.deepcopy(CONFIG)
    config.update(changes)
    return config


def test_clean_repository_has_no_findings(tmp_path: Path) -> None:
    root = write_repo(tmp_path, entries={"a.json": entry()}, manifests={"s.json": mcpserver()})
    assert run(root) == []


# --- claims ---------------------------------------------------------------------------------------


def test_claims_required_when_auth_enabled(tmp_path: Path) -> None:
    root = write_repo(
        tmp_path, entries={"a.json": entry(claims=None), "b.json": entry("io.github.acme/b", claims={})}
    )
    found = [f for f in run(root) if f.rule == "claims-required"]
    assert {f.path for f in found} == {"entries/a.json", "entries/b.json"}
    assert "enables authorization (auth.authz): the registry server v1.5.1 refuses" in found[0].message


def test_claims_not_required_in_anonymous_mode(tmp_path: Path) -> None:
    config = config_with(auth={"mode": "anonymous"})
    root = write_repo(tmp_path, config=config, entries={"a.json": entry(claims=None)})
    assert "claims-required" not in rules(root)


def test_claims_values(tmp_path: Path) -> None:
    bad = write_repo(
        tmp_path / "bad", entries={"a.json": entry(claims={"org": "acme", "level": 3, "t": ["a", 1]})}
    )
    found = [f for f in run(bad) if f.rule == "claims-values"]
    assert sorted(f.message for f in found) == [
        "claim level: value must be a string or an array of strings",
        "claim t: value must be a string or an array of strings",
    ]
    good = write_repo(tmp_path / "good", entries={"a.json": entry(claims={"org": "acme", "t": ["a", "b"]})})
    assert "claims-values" not in rules(good)


def test_claims_inconsistent_between_versions(tmp_path: Path) -> None:
    bad = write_repo(
        tmp_path / "bad",
        entries={
            "a1.json": entry(version="1.0.0"),
            "a2.json": entry(version="2.0.0", claims={"org": "other"}),
        },
    )
    assert "claims-inconsistent" in rules(bad)
    good = write_repo(
        tmp_path / "good",
        entries={
            "a1.json": entry(version="1.0.0", claims={"t": ["x", "y"]}),
            "a2.json": entry(version="2.0.0", claims={"t": ["y", "x"]}),
        },
    )
    assert "claims-inconsistent" not in rules(good)


def test_duplicate_version(tmp_path: Path) -> None:
    bad = write_repo(tmp_path / "bad", entries={"a.json": entry(), "copy.json": entry()})
    found = [f for f in run(bad) if f.rule == "duplicate-version"]
    assert len(found) == 2 and "entries/a.json, entries/copy.json" in found[0].message
    good = write_repo(tmp_path / "good", entries={"a.json": entry(), "b.json": entry(version="1.0.1")})
    assert "duplicate-version" not in rules(good)


# --- registry config ------------------------------------------------------------------------------


def test_single_managed_source(tmp_path: Path) -> None:
    config = config_with(
        sources=[*CONFIG["sources"], {"name": "second", "managed": {}}],
        registries=[{"name": "default", "sources": ["platform", "second"]}],
    )
    assert "single-managed-source" in rules(write_repo(tmp_path / "bad", config=config))
    assert "single-managed-source" not in rules(write_repo(tmp_path / "good"))


@pytest.mark.parametrize(
    "change",
    [
        {"database": {**CONFIG["database"], "password": "hunter2"}},
        {"database": {**CONFIG["database"], "migrationPassword": "hunter2"}},
        {
            "sources": [
                CONFIG["sources"][0],
                {
                    "name": "upstream",
                    "api": {"endpoint": "https://bob:hunter2@r.example.com"},
                    "syncPolicy": {"interval": "1h"},
                },
            ]
        },
    ],
    ids=["password", "migrationPassword", "url-with-password"],
)
def test_secret_in_repo_config(tmp_path: Path, change: dict[str, Any]) -> None:
    findings = [
        f for f in run(write_repo(tmp_path, config=config_with(**change))) if f.rule == "secret-in-repo"
    ]
    assert len(findings) == 1
    assert "hunter2" not in findings[0].message


def test_secret_in_repo_manifest_env(tmp_path: Path) -> None:
    pod = {"spec": {"containers": [{"name": "mcp", "env": [{"name": "REDIS_PASSWORD", "value": "hunter2"}]}]}}
    bad = write_repo(tmp_path / "bad", manifests={"s.json": mcpserver(podTemplateSpec=pod)})
    found = [f for f in run(bad) if f.rule == "secret-in-repo"]
    assert found and "hunter2" not in found[0].message
    ok_pod = {"spec": {"containers": [{"name": "mcp", "env": [{"name": "LOG_LEVEL", "value": "debug"}]}]}}
    good = write_repo(tmp_path / "good", manifests={"s.json": mcpserver(podTemplateSpec=ok_pod)})
    assert "secret-in-repo" not in rules(good)


# --- scaling --------------------------------------------------------------------------------------


def test_session_storage_missing_for_replicas(tmp_path: Path) -> None:
    bad = write_repo(tmp_path / "bad", manifests={"s.json": mcpserver(replicas=3)})
    found = [f for f in run(bad) if f.rule == "session-storage-missing"]
    assert len(found) == 1 and "SessionStorageMissingForReplicas" in found[0].message
    backend = write_repo(tmp_path / "backend", manifests={"s.json": mcpserver(backendReplicas=2)})
    found = [f for f in run(backend) if f.rule == "session-storage-missing"]
    assert len(found) == 1 and "backendReplicas" in found[0].message
    grace = {"spec": {"terminationGracePeriodSeconds": 60}}
    good = write_repo(
        tmp_path / "good",
        manifests={
            "s.json": mcpserver(replicas=3, backendReplicas=2, sessionStorage=REDIS, podTemplateSpec=grace)
        },
    )
    assert rules(good) == set()


def test_session_key_prefix(tmp_path: Path) -> None:
    bad = write_repo(
        tmp_path / "bad", manifests={"s.json": mcpserver(sessionStorage={**REDIS, "keyPrefix": "mcp"})}
    )
    assert "session-key-prefix" in rules(bad)
    good = write_repo(tmp_path / "good", manifests={"s.json": mcpserver(sessionStorage=REDIS)})
    assert "session-key-prefix" not in rules(good)


def test_stdio_replicas(tmp_path: Path) -> None:
    server = mcpserver(replicas=2, sessionStorage=REDIS)
    del server["spec"]["transport"]  # stdio is the default
    assert "stdio-replicas" in rules(write_repo(tmp_path / "bad", manifests={"s.json": server}))
    one = mcpserver(replicas=1, transport="stdio")
    assert "stdio-replicas" not in rules(write_repo(tmp_path / "good", manifests={"s.json": one}))


def test_session_affinity_none(tmp_path: Path) -> None:
    bad = write_repo(tmp_path / "bad", manifests={"s.json": mcpserver(replicas=2, sessionAffinity="None")})
    assert "session-affinity-none" in rules(bad)
    grace = {"spec": {"terminationGracePeriodSeconds": 60}}
    good = write_repo(
        tmp_path / "good",
        manifests={
            "s.json": mcpserver(
                replicas=2, sessionAffinity="None", sessionStorage=REDIS, podTemplateSpec=grace
            )
        },
    )
    assert "session-affinity-none" not in rules(good)


def test_drain_window(tmp_path: Path) -> None:
    bad = write_repo(tmp_path / "bad", manifests={"s.json": mcpserver(replicas=2, sessionStorage=REDIS)})
    found = [f for f in run(bad) if f.rule == "drain-window"]
    assert len(found) == 1 and "backend pods, not the proxy" in found[0].message
    vm = write_repo(tmp_path / "vm", manifests={"v.yaml": [group(), vmcp(replicas=2, sessionStorage=REDIS)]})
    assert "drain-window" in rules(vm)
    grace = {"spec": {"terminationGracePeriodSeconds": 60}}
    good = write_repo(
        tmp_path / "good",
        manifests={"s.json": mcpserver(replicas=2, sessionStorage=REDIS, podTemplateSpec=grace)},
    )
    assert "drain-window" not in rules(good)


def test_scaling_rules_cover_mcpremoteproxy(tmp_path: Path) -> None:
    proxy = {
        "apiVersion": "toolhive.stacklok.dev/v1beta1",
        "kind": "MCPRemoteProxy",
        "metadata": {"name": "remote", "namespace": "toolhive-system"},
        "spec": {"remoteUrl": "https://mcp.example.com", "replicas": 3, "sessionAffinity": "None"},
    }
    root = write_repo(tmp_path, manifests={"p.json": proxy})
    assert {"session-storage-missing", "session-affinity-none", "drain-window"} <= rules(root)


def test_a_secret_with_data_is_refused(tmp_path: Path) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "redis"}, "stringData": {"p": "x"}}
    assert "secret-in-repo" in rules(write_repo(tmp_path / "bad", manifests={"s.json": secret}))
    empty = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "redis"}, "type": "Opaque"}
    assert "secret-in-repo" not in rules(write_repo(tmp_path / "good", manifests={"s.json": empty}))


# --- findings carry the right line -----------------------------------------------------------------


def test_policy_finding_points_at_the_field(tmp_path: Path) -> None:
    text = """apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPServer
metadata:
  name: fetch
  namespace: toolhive-system
spec:
  image: ghcr.io/acme/fetch:1.0.0
  transport: streamable-http
  sessionStorage:
    provider: redis
    address: redis:6379
    keyPrefix: "nocolon"
"""
    root = write_repo(tmp_path, manifests={"s.yaml": text})
    (finding,) = [f for f in run(root) if f.rule == "session-key-prefix"]
    assert (finding.path, finding.line, finding.column) == ("manifests/s.yaml", 12, 16)


def test_without_a_token_coverage_is_said_in_the_summary_not_as_a_finding(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "a", entries={"a.json": entry(), "b.json": entry("io.github.acme/b")})
    report = validate(FolderSource(root)).report
    assert report.findings == []
    token_rules = (
        "claims-change-not-covered",
        "claims-not-covered",
        "entry-removal-not-covered",
        "publish-source-gate",
        "publish-token-role",
    )
    assert report.unjudged == token_rules
    assert report.to_json()["summary"]["notJudged"] == list(token_rules)
    # a registry server that does not authenticate publishers needs no token: nothing to say
    anonymous = write_repo(
        tmp_path / "b", config=config_with(auth={"mode": "anonymous"}), entries={"a.json": entry()}
    )
    assert validate(FolderSource(anonymous)).report.unjudged == ()


def test_secret_in_repo_is_secret_input_with_a_literal_default(tmp_path: Path) -> None:
    bad_entry = entry()
    bad_entry["server"]["packages"][0]["environmentVariables"] = [
        {"name": "API_KEY", "isSecret": True, "default": "sk-live-hunter2"},
        {"name": "REGION", "default": "eu-west-1"},
        {"name": "TOKEN", "isSecret": True, "description": "no default: fine"},
    ]
    found = [
        f for f in run(write_repo(tmp_path, entries={"a.yaml": bad_entry})) if f.rule == "secret-in-repo"
    ]
    assert len(found) == 1, found
    assert "API_KEY" in found[0].message and "hunter2" not in found[0].message
    text = (tmp_path / "entries" / "a.yaml").read_text().splitlines()
    assert found[0].line == next(i for i, t in enumerate(text, 1) if "sk-live-hunter2" in t)


def test_secrets_walk_visits_a_shared_or_cyclic_node_once() -> None:
    from reconciler.policy.functions import secrets_in

    shared = {"url": "postgres://u:pw@db/x"}
    looped: dict[str, Any] = {"a": shared, "b": shared, "c": [shared] * 1000}
    looped["self"] = looped
    found = secrets_in(looped)
    assert len(found) == 1 and "pw" not in str(found)
