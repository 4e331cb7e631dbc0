"""`mcp-gitops plan/apply/drift` against the cluster target end to end: exit codes, conflicts as findings
in every format, drift after a `kubectl` edit, a repository of manifests only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.harness.kube import KubeCluster
from tests.test_cluster_support import get_server, server, write_repo

pytestmark = pytest.mark.kube


def run(kube: KubeCluster, *args: str, target: bool = True) -> tuple[int, str, str]:
    from reconciler.cli import cli

    flags = ["--kubeconfig", str(kube.kubeconfig), "--context", str(kube.context)]
    flags = ["--target", "cluster", *flags] if target else flags
    result = CliRunner().invoke(cli, [*args, *flags], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_plan_apply_exit_codes(kube: KubeCluster, kube_namespace: str, tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", {"s.yaml": server("cli")}, kube_namespace, registry_config=True)
    code, out, _ = run(kube, "plan", str(repo))
    assert code == 1, out  # changes
    assert f"+ MCPServer {kube_namespace}/cli" in out
    code, out, _ = run(kube, "apply", str(repo))
    assert code == 0, out
    code, out, _ = run(kube, "plan", str(repo), "--format", "json")
    assert code == 0
    (plan,) = json.loads(out)["plans"]
    assert plan["summary"]["unchanged"] == 1


def test_kubectl_edit_is_drift_a_conflict_finding_then_taken_back(
    kube: KubeCluster, kube_namespace: str, tmp_path: Path
) -> None:
    from tests.test_cluster_support import mcpservers

    repo = write_repo(tmp_path / "repo", {"s.yaml": server("cli2")}, kube_namespace, registry_config=True)
    assert run(kube, "apply", str(repo))[0] == 0
    assert run(kube, "drift", str(repo))[0] == 0
    mcpservers(kube).patch(
        namespace=kube_namespace,
        name="cli2",
        body={"spec": {"replicas": 7}},
        content_type="application/merge-patch+json",
        field_manager="kubectl-scale",
    )
    code, out, err = run(kube, "drift", str(repo))
    assert code == 1, out + err
    assert "spec.replicas: 7 -> 2" in out
    code, out, err = run(kube, "drift", str(repo), "--format", "github")
    assert code == 1, out + err
    drifted, taken_over, summary = out.splitlines()
    assert summary.startswith("mcp-gitops:") and "2 warnings" in summary
    assert "title=cluster-conflict" in taken_over and "taken over (conflicts: force)" in taken_over
    annotation = drifted
    assert annotation.startswith("::warning file=") and "manifests/s.yaml,line=1" in annotation
    assert f"MCPServer {kube_namespace}/cli2: spec.replicas: 7 -> 2" in annotation

    # conflicts: skip reports the field as a SARIF result at the manifest's line and leaves it alone
    code, out, err = run(kube, "plan", str(repo), "--conflicts", "skip", "--format", "sarif")
    assert code == 0, out + err
    (result,) = json.loads(out)["runs"][0]["results"]
    assert result["ruleId"] == "cluster-conflict"
    assert 'spec.replicas is owned by field manager "kubectl-scale"' in result["message"]["text"]
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"].endswith("manifests/s.yaml")
    assert location["region"]["startLine"] == 8
    code, out, err = run(kube, "apply", str(repo), "--conflicts", "skip", "--format", "github")
    assert code == 0, out + err
    assert out.startswith("::warning file=") and "cluster-conflict" in out
    assert get_server(kube, kube_namespace, "cli2")["spec"]["replicas"] == 7

    # the default takes the field back (as Flux does), naming where it writes first
    code, out, err = run(kube, "apply", str(repo))
    assert code == 0, out + err
    assert "cluster: writing to https://" in err
    assert get_server(kube, kube_namespace, "cli2")["spec"]["replicas"] == 2
    assert run(kube, "drift", str(repo))[0] == 0


def test_a_repository_of_manifests_only(kube: KubeCluster, kube_namespace: str, tmp_path: Path) -> None:
    # `targets: [cluster]` in mcp-gitops.yaml, no registry.yaml: validates, plans and applies
    repo = write_repo(tmp_path / "repo", {"s.yaml": server("only")}, kube_namespace)
    assert not (repo / "registry.yaml").exists()
    code, out, err = run(kube, "plan", str(repo), target=False)
    assert code == 1, out + err
    code, out, err = run(kube, "apply", str(repo), "--format", "json", target=False)
    assert code == 0, out + err
    document = json.loads(out)
    assert list(document["targets"]) == ["cluster"]
    assert document["targets"]["cluster"]["outcome"] == "applied"
    assert get_server(kube, kube_namespace, "only")["spec"]["replicas"] == 2


def test_manifests_only_without_settings_need_the_cluster_target_named(
    kube: KubeCluster, kube_namespace: str, tmp_path: Path
) -> None:
    repo = write_repo(tmp_path / "repo", {"s.yaml": server("bare")}, kube_namespace)
    (repo / "mcp-gitops.yaml").write_text(f"namespace: {kube_namespace}\n")  # no `targets:`
    # the default target (registry) refuses with a reason, and validation is clean
    code, out, err = run(kube, "plan", str(repo), target=False)
    assert code == 2 and "has no registry config" in err, out + err
    assert "not found" not in out + err
    code, out, err = run(kube, "apply", str(repo))  # --target cluster
    assert code == 0, out + err
    assert get_server(kube, kube_namespace, "bare")["spec"]["replicas"] == 2


@pytest.mark.postgres
def test_an_exported_kubeconfig_does_not_add_the_cluster_target(
    kube: KubeCluster, kube_namespace: str, tmp_path: Path, pg_url: str
) -> None:
    from reconciler.cli import cli
    from tests.test_cluster_support import mcpservers
    from tests.test_postgres_cli import write_registry_repo

    repo = write_registry_repo(tmp_path / "repo")
    (repo / "manifests").mkdir()
    (repo / "manifests" / "s.yaml").write_text(server("ambient", namespace=kube_namespace))
    env = {"KUBECONFIG": str(kube.kubeconfig)}
    result = CliRunner().invoke(
        cli,
        ["apply", str(repo), "--database-url", pg_url, "--format", "json"],
        env=env,
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert list(json.loads(result.stdout)["targets"]) == ["registry"]
    assert not mcpservers(kube).get(namespace=kube_namespace).items
