"""`mcp-gitops plan/apply --target cluster` end to end. Runs once the cluster target is registered in
reconciler/targets/__init__.py (TARGETS) and the cluster flags are on the commands; skipped before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.harness.kube import KubeCluster
from tests.test_cluster_support import get_server, server, write_repo

pytestmark = pytest.mark.kube


def run(kube: KubeCluster, *args: str) -> tuple[int, str, str]:
    from reconciler.cli import cli

    flags = ["--target", "cluster", "--kubeconfig", str(kube.kubeconfig), "--context", str(kube.context)]
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


def test_conflict_exit_2_then_force(kube: KubeCluster, kube_namespace: str, tmp_path: Path) -> None:
    from tests.test_cluster_support import mcpservers

    repo = write_repo(tmp_path / "repo", {"s.yaml": server("cli2")}, kube_namespace, registry_config=True)
    assert run(kube, "apply", str(repo))[0] == 0
    mcpservers(kube).patch(
        namespace=kube_namespace,
        name="cli2",
        body={"spec": {"replicas": 7}},
        content_type="application/merge-patch+json",
        field_manager="kubectl-scale",
    )
    code, out, err = run(kube, "apply", str(repo))
    assert code == 2, out + err
    assert 'spec.replicas is owned by field manager "kubectl-scale"' in err
    assert get_server(kube, kube_namespace, "cli2")["spec"]["replicas"] == 7
    code, out, err = run(kube, "apply", str(repo), "--force-conflicts")
    assert code == 0, out + err
    assert get_server(kube, kube_namespace, "cli2")["spec"]["replicas"] == 2
