"""Findings of the CRD checks on whole repositories: places, messages, every ToolHive kind, unknown kinds,
deprecated versions, no CRD source, references and Service names; and the CEL rule features the v0.44.0
CRDs do not use (transition rules with --base, messageExpression, fieldPath, reason, optionalOldSelf, an
unsupported function, a rule that fails to evaluate), on a small CRD written here."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from reconciler.crds.sources import CrdOptions
from reconciler.findings import Finding
from reconciler.pipeline import validate
from reconciler.source import FolderSource, open_source
from tests.builders import write_repo

V1 = "toolhive.stacklok.dev/v1beta1"


def run(root: Path, crds: Path | None, base: Path | None = None) -> list[Finding]:
    options = CrdOptions(locations=(str(crds),)) if crds else CrdOptions()
    base_source = FolderSource(base) if base else None
    return validate(FolderSource(root), crds=options, base=base_source).report.findings


def manifest(kind: str, name: str, spec: dict[str, Any], api: str = V1) -> dict[str, Any]:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": "ns"}, "spec": spec}


def test_a_planted_typo_is_reported_at_its_key_with_the_close_match(
    repo_copy: Path, toolhive_crds: Path
) -> None:
    path = repo_copy / "manifests" / "weather.yaml"
    text = path.read_text().replace("  backendReplicas: 3", "  backendReplcas: 3")
    path.write_text(text)
    line = text.splitlines().index("  backendReplcas: 3") + 1
    (finding,) = [f for f in run(repo_copy, toolhive_crds) if f.rule == "crd-schema"]
    assert (finding.path, finding.line, finding.column) == ("manifests/weather.yaml", line, 3)
    assert (
        finding.message
        == "spec.backendReplcas: unknown field 'backendReplcas' (did you mean 'backendReplicas'?)"
    )


def test_every_kind_is_checked_and_the_issue_examples_are_caught(tmp_path: Path, toolhive_crds: Path) -> None:
    docs = [
        manifest(
            "MCPServer", "a", {"image": "", "oidcConfigRef": {"name": "sso"}, "proxyReadTimeout": "30s"}
        ),
        manifest("MCPServer", "b", {"image": "x", "authzConfig": {"type": "opa"}}),
        manifest(
            "MCPServer",
            "c",
            {"image": "x", "rateLimiting": {"shared": {"maxTokens": 0, "refillPeriod": "1m"}}},
        ),
        manifest(
            "VirtualMCPServer",
            "v",
            {
                "groupRef": {"name": "g"},
                "incomingAuth": {"type": "anonymous"},
                "imagePullSecrets": [{}],
                "rateLimiting": {},
            },
        ),
        manifest("MCPGroup", "g", {}),
        manifest("MCPRemoteProxy", "r", {}),
        manifest("MCPTelemetryConfig", "t", {"bogus": 1}),
        manifest("EmbeddingServer", "e", {"replicas": "two"}),
    ]
    root = write_repo(tmp_path, manifests={"m.yaml": yaml.safe_dump_all(docs, sort_keys=False)})
    found = {(f.rule, f.message.split(":")[0]) for f in run(root, toolhive_crds)}
    assert ("crd-schema", "spec.oidcConfigRef.audience") in found
    assert ("crd-schema", "spec.proxyReadTimeout") in found
    assert ("crd-schema", "spec.authzConfig.type") in found
    assert ("crd-schema", "spec.rateLimiting.shared.maxTokens") in found
    assert ("crd-schema", "spec.rateLimiting") in found  # VirtualMCPServer has only spec.config.rateLimiting
    assert ("crd-schema", "spec.remoteUrl") in found  # MCPRemoteProxy requires it
    assert ("crd-schema", "spec.bogus") in found
    assert ("crd-schema", "spec.replicas") in found
    # What the CRDs allow is not refused: an empty image, an empty imagePullSecrets entry.
    assert not any(f[1] in ("spec.image", "spec.imagePullSecrets[0]") for f in found)


def test_unknown_kind_deprecated_version_and_unserved_version(tmp_path: Path, toolhive_crds: Path) -> None:
    text = (
        "apiVersion: toolhive.stacklok.dev/v1beta1\nkind: MCPServers\nmetadata: {name: a}\nspec: {}\n---\n"
        "apiVersion: toolhive.stacklok.dev/v1alpha1\nkind: MCPGroup\nmetadata: {name: g}\nspec: {}\n---\n"
        "apiVersion: toolhive.stacklok.dev/v2\nkind: MCPGroup\nmetadata: {name: h}\nspec: {}\n---\n"
        "apiVersion: example.com/v1\nkind: Anything\nmetadata: {name: x}\nspec: {whatever: 1}\n"
    )
    root = write_repo(tmp_path, manifests={"m.yaml": text})
    findings = {(f.rule, f.line, f.severity.value): f.message for f in run(root, toolhive_crds)}
    assert "did you mean MCPServer?" in findings[("unknown-kind", 2, "error")]
    assert findings[("deprecated-api-version", 6, "warning")].endswith("is deprecated; use v1beta1")
    assert (
        "served: toolhive.stacklok.dev/v1alpha1, toolhive.stacklok.dev/v1beta1"
        in findings[("crd-schema", 11, "error")]
    )
    # Other groups pass through: validated by no CRD, and not applied.
    assert [key for key in findings if key[1] >= 16] == [("kind-not-applied", 17, "info")]


def test_without_crds_each_toolhive_kind_gets_one_warning(tmp_path: Path) -> None:
    docs = [
        manifest("MCPServer", "a", {"image": "x"}),
        manifest("MCPServer", "b", {"image": "y"}),
        manifest("MCPGroup", "g", {}),
    ]
    root = write_repo(tmp_path, manifests={"m.yaml": yaml.safe_dump_all(docs)})
    warnings = [f for f in run(root, None) if f.rule == "crd-schema-unavailable"]
    assert sorted(f.message.split()[0] for f in warnings) == ["MCPGroup", "MCPServer"]
    assert all("--crds" in f.message and "--crds-from-cluster" in f.message for f in warnings)


def test_references_and_service_names(tmp_path: Path, toolhive_crds: Path) -> None:
    docs = [
        manifest("MCPGroup", "tools", {}),
        manifest(
            "MCPServer", "a", {"image": "x", "groupRef": {"name": "tool"}, "toolConfigRef": {"name": "t"}}
        ),
        manifest("MCPServer", "b" * 51, {"image": "x", "transport": "sse"}),
        manifest(
            "VirtualMCPServer",
            "weather.v2",
            {"groupRef": {"name": "tools"}, "incomingAuth": {"type": "anonymous"}},
        ),
    ]
    root = write_repo(tmp_path, manifests={"m.yaml": yaml.safe_dump_all(docs, sort_keys=False)})
    found = [(f.rule, f.severity.value, f.message) for f in run(root, toolhive_crds)]
    refs = [f for f in found if f[0] == "ref-unknown"]
    assert ("error", "spec.groupRef.name") in {(f[1], f[2].split(":")[0]) for f in refs}  # groups live here
    assert ("warning", "spec.toolConfigRef.name") in {
        (f[1], f[2].split(":")[0]) for f in refs
    }  # maybe elsewhere
    services = " ".join(f[2] for f in found if f[0] == "service-name")
    assert f"mcp-{'b' * 51}-headless" in services and f"mcp-{'b' * 51}-proxy" not in services
    assert "vmcp-weather.v2" in services
    # one finding per object, naming every Service that cannot be created
    assert len([f for f in found if f[0] == "service-name"]) == 2


# --- CEL rule features, on a small CRD --------------------------------------------------------------

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "names": {"kind": "Widget", "plural": "widgets"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "apiVersion": {"type": "string"},
                            "kind": {"type": "string"},
                            "metadata": {"type": "object"},
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "size": {"type": "integer", "default": 1},
                                    "name": {"type": "string"},
                                    "window": {"type": "string"},
                                    "tags": {
                                        "type": "array",
                                        "items": {"type": "string"},
                                        "x-kubernetes-list-type": "set",
                                    },
                                    "mode": {
                                        "type": "string",
                                        "x-kubernetes-validations": [
                                            {"rule": "self == oldSelf", "message": "mode is immutable"}
                                        ],
                                    },
                                },
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "self.size <= 10",
                                        "messageExpression": "'size ' + string(self.size) + ' is over 10'",
                                        "reason": "FieldValueForbidden",
                                    },
                                    {
                                        "rule": "!has(self.name) || self.name.lowerAscii() == self.name",
                                        "message": "name must be lowercase",
                                        "fieldPath": ".name",
                                    },
                                    {"rule": "!has(self.name) || self.name.quantity() > 0", "message": "q"},
                                    {"rule": "!has(self.tags) || self.tags[5] != ''", "message": "sixth tag"},
                                    {
                                        "rule": "!has(self.window) || duration(self.window) > duration('1s')",
                                        "message": "window",
                                    },
                                    {
                                        "rule": "oldSelf.hasValue() || self.size == 1",
                                        "optionalOldSelf": True,
                                        "message": "a new widget starts at size 1",
                                    },
                                ],
                            },
                        },
                    }
                },
            }
        ],
    },
}


def widget(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec}


def test_cel_rule_features(tmp_path: Path) -> None:
    crds = tmp_path / "crds.json"
    crds.write_text(json.dumps(WIDGET_CRD))
    root = write_repo(
        tmp_path / "repo",
        manifests={
            "w.yaml": yaml.safe_dump(widget({"size": 12, "name": "Big", "tags": ["a"], "window": "hunter2"}))
        },
    )
    findings = {f.message: f for f in run(root, crds)}
    assert "spec: size 12 is over 10 (FieldValueForbidden)" in findings
    assert findings["spec.name: name must be lowercase"].line == 6  # fieldPath: the name's line
    unsupported = next(f for f in findings.values() if f.rule == "crd-rule-unsupported")
    assert "quantity" in unsupported.message and unsupported.severity.value == "warning"
    failed = next(f for f in findings.values() if "failed to evaluate" in f.message)
    assert failed.rule == "crd-rule" and failed.severity.value == "error"
    # An evaluation error names the function, never the value it refused.
    assert "function duration() refused its argument" in " ".join(findings)
    assert not any("hunter2" in message for message in findings)
    # Without an old object the transition rule is skipped; optionalOldSelf rules run with none.
    assert "spec: a new widget starts at size 1" in findings
    assert not any("immutable" in m for m in findings)


def test_transition_rules_see_the_base_revision(tmp_path: Path) -> None:
    crds = tmp_path / "crds.json"
    crds.write_text(json.dumps(WIDGET_CRD))
    repo = tmp_path / "repo"
    write_repo(repo, manifests={"w.yaml": yaml.safe_dump(widget({"mode": "a"}))})
    git = ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    (repo / "manifests" / "w.yaml").write_text(yaml.safe_dump(widget({"mode": "b"})))
    options = CrdOptions(locations=(str(crds),))
    result = validate(open_source(repo), base=open_source(repo, "HEAD"), crds=options)
    messages = [f.message for f in result.report.findings if f.rule == "crd-rule"]
    assert messages == ["spec.mode: mode is immutable"]


def test_pull_request_mode_reports_repository_wide_findings_once(tmp_path: Path, toolhive_crds: Path) -> None:
    """The base reuses the head's unchanged files with their findings; findings worked out over the
    whole repository (references, Service names, no CRD source) are worked out again, not copied."""
    server = manifest("MCPServer", "a", {"image": "x", "toolConfigRef": {"name": "elsewhere"}})
    repo = tmp_path / "repo"
    write_repo(repo, manifests={"a.yaml": yaml.safe_dump(server), "b.yaml": yaml.safe_dump(server | {})})
    git = ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    (repo / "manifests" / "b.yaml").write_text(yaml.safe_dump(manifest("MCPGroup", "g", {})))
    options = CrdOptions(locations=(str(toolhive_crds),))
    result = validate(open_source(repo), base=open_source(repo, "HEAD"), crds=options)
    assert [(f.rule, f.path) for f in result.report.findings if f.rule == "ref-unknown"] == [
        ("ref-unknown", "manifests/a.yaml")
    ]
    assert result.base is not None
    assert [f.path for f in result.base.findings if f.rule == "ref-unknown"] == [
        "manifests/a.yaml",
        "manifests/b.yaml",
    ]
