"""Ownership per repository on a real kube-apiserver: two repositories in one namespace, the inventory,
ignored fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.targets.cluster.marks import OWNER_ANNOTATION, OWNER_LABEL
from tests.harness.kube import KubeCluster
from tests.test_cluster_support import (
    GROUP_VERSION,
    get_server,
    managed_fields,
    mcpservers,
    plan_and_apply,
    plan_only,
    server,
    write_repo,
)

pytestmark = pytest.mark.kube

GROUP = """\
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPGroup
metadata:
  name: {name}
spec:
  description: a group
"""


def names(kube: KubeCluster, namespace: str) -> set[str]:
    return {item.metadata.name for item in mcpservers(kube).get(namespace=namespace).items}


def test_two_repositories_in_one_namespace_never_touch_each_other(
    kube: KubeCluster, kube_namespace: str, tmp_path: Path
) -> None:
    first = write_repo(
        tmp_path / "first",
        {"a.yaml": server("alpha"), "b.yaml": server("beta"), "g.yaml": GROUP.format(name="team-a")},
        kube_namespace,
        prune=True,
        settings="ownership:\n  identity: github.com/acme/team-a\n",
    )
    second = write_repo(
        tmp_path / "second",
        {"g.yaml": GROUP.format(name="team-b")},
        kube_namespace,
        prune=True,
        settings="ownership:\n  identity: github.com/acme/team-b\n",
    )
    plan_and_apply(kube, first)
    live = get_server(kube, kube_namespace, "alpha")
    assert live["metadata"]["annotations"][OWNER_ANNOTATION] == "github.com/acme/team-a"
    assert OWNER_LABEL in live["metadata"]["labels"]

    # The second repository neither lists nor prunes the first one's objects, even with prune on.
    plan, result = plan_and_apply(kube, second)
    assert plan.prune == [] and result.pruned == []
    assert "no longer in the repository" not in plan.render_text()
    assert names(kube, kube_namespace) == {"alpha", "beta"}

    # and the first one's plan does not see the second one's group either
    assert plan_only(kube, first).prune == []

    # Declaring the other repository's object is a conflict finding, not a takeover.
    write_repo(
        second,
        {"g.yaml": GROUP.format(name="team-b"), "steal.yaml": server("alpha", replicas=9)},
        kube_namespace,
        prune=True,
        settings="ownership:\n  identity: github.com/acme/team-b\n",
    )
    stolen = plan_only(kube, second)
    (finding,) = [f for f in stolen.findings() if f.rule == "cluster-owner-conflict"]
    assert finding.path == "manifests/steal.yaml" and finding.line == 1
    assert "github.com/acme/team-a" in finding.message
    assert get_server(kube, kube_namespace, "alpha")["spec"]["replicas"] == 2


def test_the_inventory_prunes_a_deleted_file_even_with_its_labels_edited(
    kube: KubeCluster, kube_namespace: str, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    write_repo(repo, {"a.yaml": server("keep"), "b.yaml": server("gone")}, kube_namespace, prune=True)
    plan_and_apply(kube, repo)
    # someone strips our labels from `gone`; then its file is deleted
    mcpservers(kube).patch(
        namespace=kube_namespace,
        name="gone",
        body={"metadata": {"labels": {"app.kubernetes.io/managed-by": None, OWNER_LABEL: None}}},
        content_type="application/merge-patch+json",
    )
    write_repo(repo, {"a.yaml": server("keep")}, kube_namespace, prune=True)
    _plan, result = plan_and_apply(kube, repo)
    assert [str(p.key) for p in result.pruned] == [f"MCPServer {kube_namespace}/gone"]
    assert names(kube, kube_namespace) == {"keep"}


def test_an_ignored_field_owned_by_another_manager_is_left_alone(
    kube: KubeCluster, kube_namespace: str, tmp_path: Path
) -> None:
    ignore = "cluster:\n  ignoreFields:\n    MCPServer: [spec.replicas]\n"
    manifests = {"s.yaml": server("hpa", replicas=2)}
    repo = write_repo(tmp_path / "repo", manifests, kube_namespace, settings=ignore)
    plan_and_apply(kube, repo)
    assert "replicas" not in managed_fields(get_server(kube, kube_namespace, "hpa"), "mcp-gitops")["f:spec"]
    mcpservers(kube).server_side_apply(
        body={
            "apiVersion": GROUP_VERSION,
            "kind": "MCPServer",
            "metadata": {"name": "hpa", "namespace": kube_namespace},
            "spec": {"replicas": 6},
        },
        field_manager="hpa-controller",
        force_conflicts=True,
    )
    plan, _ = plan_and_apply(kube, repo)
    assert plan.conflicts == [] and not plan.has_changes
    assert get_server(kube, kube_namespace, "hpa")["spec"]["replicas"] == 6


def test_an_inventory_that_cannot_be_written_is_an_error_that_keeps_the_result(
    kube: KubeCluster, kube_namespace: str, tmp_path: Path
) -> None:
    from reconciler.targets.cluster import ClusterApplyError

    # the settings' namespace (where the inventory lives) does not exist; the object names its own
    manifests = {"s.yaml": server("placed", namespace=kube_namespace)}
    repo = write_repo(tmp_path / "repo", manifests, f"{kube_namespace}-missing")
    with pytest.raises(ClusterApplyError, match="inventory was not written") as raised:
        plan_and_apply(kube, repo)
    assert [str(o.key) for o in raised.value.result.created] == [f"MCPServer {kube_namespace}/placed"]
    assert raised.value.retryable


def test_a_no_op_reads_only_its_own_namespace_and_objects(
    kube: KubeCluster, kube_namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17: a repository's cost must not grow with other repositories' objects. Every read of a
    no-op plan and apply is discovery, or scoped to the repository's namespace, and every listing asks
    for its ownership label only: nothing is listed cluster-wide (bench_cluster.py --others measures
    the time beside 2,500 objects of others)."""
    from reconciler.targets.cluster.api import KubeApi
    from reconciler.targets.cluster.marks import owned_selector

    root = write_repo(
        tmp_path / "repo",
        {"a.yaml": server("alpha"), "g.yaml": GROUP.format(name="team-a")},
        kube_namespace,
        prune=True,
        settings="ownership:\n  identity: github.com/acme/scoped\n",
    )
    plan_and_apply(kube, root)
    reads: list[tuple[str, list[tuple[str, str]]]] = []
    request = KubeApi.request

    def recorded(self: KubeApi, method: str, path: str, **kwargs: object) -> object:
        if method == "GET":
            reads.append((path, list(kwargs.get("query") or [])))  # type: ignore[call-overload]
        return request(self, method, path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(KubeApi, "request", recorded)
    _, result = plan_and_apply(kube, root, prune=True)

    assert not (result.created or result.updated or result.pruned)
    discovery = {"/version", "/api/v1", f"/apis/{GROUP_VERSION}"}
    scoped = [p for p, _ in reads if p not in discovery]
    assert scoped and all(f"/namespaces/{kube_namespace}/" in p for p in scoped), reads
    listings = [q for p, q in reads if p.rstrip("/").rsplit("/", 1)[-1] in ("mcpservers", "mcpgroups")]
    assert listings and all(
        ("labelSelector", owned_selector("github.com/acme/scoped")) in q for q in listings
    )
