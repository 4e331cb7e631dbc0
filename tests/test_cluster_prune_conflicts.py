"""Prune (opt-in, opt-out annotation, empty repository) and field-manager conflicts (reported, then
forced) against a real kube-apiserver."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.targets.cluster.marks import FIELD_MANAGER, PRUNE_ANNOTATION
from tests.harness.kube import KubeCluster
from tests.test_cluster_support import (
    get_server,
    managed_fields,
    mcpservers,
    plan_and_apply,
    plan_only,
    server,
    write_repo,
)

pytestmark = pytest.mark.kube


def names(kube: KubeCluster, namespace: str) -> set[str]:
    return {item.metadata.name for item in mcpservers(kube).get(namespace=namespace).items}


def test_prune_is_opt_in_and_respects_the_opt_out(
    kube: KubeCluster, kube_namespace: str, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    three = {"a.yaml": server("alpha"), "b.yaml": server("beta"), "c.yaml": server("gamma")}
    write_repo(repo, three, kube_namespace)
    plan_and_apply(kube, repo)
    # Someone protects gamma from prune on the live object.
    mcpservers(kube).patch(
        namespace=kube_namespace,
        name="gamma",
        body={"metadata": {"annotations": {PRUNE_ANNOTATION: "false"}}},
        content_type="application/merge-patch+json",
    )
    write_repo(repo, {"a.yaml": server("alpha")}, kube_namespace)

    # Prune off (the settings default): reported, kept.
    plan, result = plan_and_apply(kube, repo)
    assert not plan.has_changes
    assert "no longer in the repository; kept (prune is off)" in plan.render_text()
    assert names(kube, kube_namespace) == {"alpha", "beta", "gamma"}

    # Prune on: beta goes, gamma stays because of its annotation.
    plan, result = plan_and_apply(kube, repo, prune=True)
    assert [str(p.key) for p in plan.to_delete] == [f"MCPServer {kube_namespace}/beta"]
    assert f"- MCPServer {kube_namespace}/beta (was manifests/b.yaml)" in plan.render_text()
    assert "kept, prune opted out by annotation" in plan.render_text()
    assert [p.key.name for p in result.pruned] == ["beta"]
    assert names(kube, kube_namespace) == {"alpha", "gamma"}


def test_prune_from_the_settings_file(kube: KubeCluster, kube_namespace: str, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write_repo(repo, {"a.yaml": server("one"), "b.yaml": server("two")}, kube_namespace, prune=True)
    plan_and_apply(kube, repo)
    write_repo(repo, {"a.yaml": server("one")}, kube_namespace, prune=True)
    plan_and_apply(kube, repo)
    assert names(kube, kube_namespace) == {"one"}


def test_prune_refuses_an_empty_repository_unless_allowed(
    kube: KubeCluster, kube_namespace: str, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    write_repo(repo, {"a.yaml": server("last")}, kube_namespace)
    plan_and_apply(kube, repo)
    write_repo(repo, {}, kube_namespace)
    (problem,) = plan_only(kube, repo, prune=True).problems
    assert "refusing to prune all 1 objects" in problem.message and problem.rule == "cluster-prune-refused"
    assert names(kube, kube_namespace) == {"last"}
    plan_and_apply(kube, repo, prune=True, allow_empty=True)
    assert names(kube, kube_namespace) == set()


def test_prune_leaves_other_namespaces_alone(kube: KubeCluster, kube_namespace: str, tmp_path: Path) -> None:
    from kubernetes import client

    other = f"{kube_namespace}-other"
    client.CoreV1Api(kube.api_client).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=other))
    )
    plan_and_apply(kube, write_repo(tmp_path / "other", {"x.yaml": server("theirs")}, other))
    repo = write_repo(tmp_path / "repo", {"a.yaml": server("ours")}, kube_namespace)
    plan = plan_only(kube, repo, prune=True)
    assert plan.prune == []  # another repository's object, in a namespace this one does not use


@pytest.mark.parametrize("how", ["apply", "update"])
def test_conflict_with_another_manager_is_reported_then_forced(
    kube: KubeCluster, kube_namespace: str, tmp_path: Path, how: str
) -> None:
    repo = write_repo(tmp_path / "repo", {"fetch.yaml": server("fetch", replicas=2)}, kube_namespace)
    plan_and_apply(kube, repo)
    servers = mcpservers(kube)
    if how == "apply":  # an HPA-like controller applying its own replica count
        servers.server_side_apply(
            body={
                "apiVersion": "toolhive.stacklok.dev/v1beta1",
                "kind": "MCPServer",
                "metadata": {"name": "fetch", "namespace": kube_namespace},
                "spec": {"replicas": 5},
            },
            field_manager="hpa-controller",
            force_conflicts=True,
        )
        manager = "hpa-controller"
    else:  # `kubectl scale`-like: a plain update takes the field over
        servers.patch(
            namespace=kube_namespace,
            name="fetch",
            body={"spec": {"replicas": 5}},
            content_type="application/merge-patch+json",
            field_manager="kubectl-scale",
        )
        manager = "kubectl-scale"

    # conflicts: skip reports the conflict (a warning at the field's line) and leaves that object alone
    skipping, _ = plan_and_apply(kube, repo, conflicts="skip")
    (conflict,) = skipping.conflicts
    assert (conflict.field, conflict.manager, conflict.forced) == ("spec.replicas", manager, False)
    assert (conflict.path, conflict.line) == ("manifests/fetch.yaml", 8)
    (finding,) = skipping.findings()
    assert (finding.rule, finding.severity, finding.line) == ("cluster-conflict", "warning", 8)
    assert f'spec.replicas is owned by field manager "{manager}"' in finding.message
    assert skipping.objects == [] and not skipping.has_errors
    assert get_server(kube, kube_namespace, "fetch")["spec"]["replicas"] == 5  # not forced

    # the default (force, as Flux does) takes the field back
    plan, _ = plan_and_apply(kube, repo)
    (item,) = plan.objects
    assert [(c.field, c.before, c.after) for c in item.changes] == [("spec.replicas", 5, 2)]
    assert item.conflicts[0].forced
    assert "takes over spec.replicas from field manager" in plan.render_text()
    live = get_server(kube, kube_namespace, "fetch")
    assert live["spec"]["replicas"] == 2
    assert "f:replicas" in managed_fields(live, FIELD_MANAGER)["f:spec"]
    assert not plan_only(kube, repo).has_changes  # ours again, no conflict left
