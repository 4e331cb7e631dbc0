"""The cluster target against a real kube-apiserver: apply, ownership, re-apply, targeted patches,
all-or-nothing dry runs and missing CRDs."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import pytest

from reconciler.targets.cluster import ClusterPlanError, ClusterTarget
from reconciler.targets.cluster.marks import (
    FIELD_MANAGER,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    REVISION_ANNOTATION,
    SOURCE_PATH_ANNOTATION,
)
from tests.harness.kube import KubeCluster
from tests.test_cluster_support import (
    get_server,
    load,
    managed_fields,
    mcpservers,
    options,
    plan_and_apply,
    plan_only,
    server,
    write_repo,
)

pytestmark = pytest.mark.kube

ROOT = Path(__file__).resolve().parent.parent


def test_apply_sample_repo_then_reapply_is_a_no_op(kube: KubeCluster, tmp_path: Path) -> None:
    from kubernetes import client

    with contextlib.suppress(client.ApiException):  # the sample's namespace; may exist from a rerun
        client.CoreV1Api(kube.api_client).create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name="toolhive-system"))
        )
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "sample-repo", repo)

    plan, result = plan_and_apply(kube, repo)
    assert {str(o.key) for o in result.created} == {
        "MCPGroup toolhive-system/platform-tools",
        "VirtualMCPServer toolhive-system/platform-vmcp",
        "MCPServer toolhive-system/weather",
    }
    weather = get_server(kube, "toolhive-system", "weather")
    assert weather["spec"]["replicas"] == 2 and weather["spec"]["backendReplicas"] == 3
    assert weather["metadata"]["labels"][MANAGED_BY_LABEL] == MANAGED_BY
    assert weather["metadata"]["labels"]["app.kubernetes.io/part-of"] == "platform-tools"
    assert weather["metadata"]["annotations"][SOURCE_PATH_ANNOTATION] == "manifests/weather.yaml"
    assert managed_fields(weather, FIELD_MANAGER), "applied under the mcp-gitops field manager"

    # The plan lists a new object's declared fields, scaling ones first, without server defaults.
    weather_plan = next(o for o in plan.objects if o.key.name == "weather")
    fields = [c.field for c in weather_plan.changes]
    assert fields[:2] == ["spec.replicas", "spec.backendReplicas"]
    assert fields[2].startswith("spec.sessionStorage")
    assert "spec.proxyMode" not in fields  # a CRD default, not declared

    versions = {
        o.key.name: kube.dynamic.resources.get(api_version=o.desired.body["apiVersion"], kind=o.key.kind)
        .get(namespace="toolhive-system", name=o.key.name)
        .metadata.resourceVersion
        for o in plan.objects
    }
    again, result = plan_and_apply(kube, repo)
    assert not again.has_changes and not result.changed
    assert "no changes" in again.render_text()
    # The same answer from the server when every object is dry-run (no unchanged-object shortcut).
    assert not plan_only(kube, repo, verify_all=True).has_changes
    for item in again.objects:
        live = kube.dynamic.resources.get(api_version=item.desired.body["apiVersion"], kind=item.key.kind)
        assert (
            live.get(namespace="toolhive-system", name=item.key.name).metadata.resourceVersion
            == versions[item.key.name]
        )


def test_owns_only_declared_fields_and_defaults_namespace(
    kube: KubeCluster, kube_namespace: str, tmp_path: Path
) -> None:
    manifest = """\
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPServer
metadata:
  name: scaled
spec:
  image: ghcr.io/acme/scaled:1.0.0
  replicas: 3
  backendReplicas: 2
  sessionStorage:
    provider: redis
    address: redis:6379
"""
    repo = write_repo(tmp_path / "repo", {"scaled.yaml": manifest}, kube_namespace)
    plan_and_apply(kube, repo)
    live = get_server(kube, kube_namespace, "scaled")  # no namespace in the manifest: the default one
    assert live["spec"]["sessionAffinity"] == "ClientIP"  # defaulted by the server...
    owned = managed_fields(live, FIELD_MANAGER)
    # ...but not owned by us: we own exactly what we declared, plus our marks.
    assert set(owned["f:spec"]) - {"."} == {"f:image", "f:replicas", "f:backendReplicas", "f:sessionStorage"}
    assert set(owned["f:spec"]["f:sessionStorage"]) - {"."} == {"f:provider", "f:address"}
    assert "f:labels" in owned["f:metadata"] and "f:annotations" in owned["f:metadata"]


def test_replica_change_patches_only_that(kube: KubeCluster, kube_namespace: str, tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", {"fetch.yaml": server("fetch", replicas=2)}, kube_namespace)
    plan_and_apply(kube, repo)
    # Someone else's field on the same object must survive our apply.
    mcpservers(kube).server_side_apply(
        body={
            "apiVersion": "toolhive.stacklok.dev/v1beta1",
            "kind": "MCPServer",
            "metadata": {"name": "fetch", "namespace": kube_namespace, "labels": {"team": "search"}},
        },
        field_manager="someone-else",
    )
    before = get_server(kube, kube_namespace, "fetch")

    write_repo(tmp_path / "repo", {"fetch.yaml": server("fetch", replicas=3)}, kube_namespace)
    plan, result = plan_and_apply(kube, repo)
    (item,) = [o for o in plan.objects if o.action == "update"]
    assert [(c.field, c.before, c.after) for c in item.changes] == [("spec.replicas", 2, 3)]
    assert "spec.replicas: 2 -> 3" in plan.render_text()
    assert [str(o.key) for o in result.updated] == [f"MCPServer {kube_namespace}/fetch"]

    after = get_server(kube, kube_namespace, "fetch")
    assert after["spec"]["replicas"] == 3
    assert after["metadata"]["labels"]["team"] == "search"
    for unchanged in ("image", "backendReplicas", "sessionStorage", "transport"):
        assert after["spec"][unchanged] == before["spec"][unchanged]
    assert managed_fields(after, FIELD_MANAGER) == managed_fields(before, FIELD_MANAGER)


def test_new_revision_alone_does_not_rewrite_objects(
    kube: KubeCluster, kube_namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo_dir = write_repo(tmp_path / "repo", {"a.yaml": server("rev")}, kube_namespace)
    target = ClusterTarget()
    try:
        repo = load(repo_dir)
        monkeypatch.setattr(type(repo), "revision", property(lambda self: "1111111"))
        target.apply(target.plan(repo, options(kube)), options(kube))
        first = get_server(kube, kube_namespace, "rev")
        assert first["metadata"]["annotations"][REVISION_ANNOTATION] == "1111111"
        monkeypatch.setattr(type(repo), "revision", property(lambda self: "2222222"))
        plan = target.plan(repo, options(kube))
        assert not plan.has_changes
    finally:
        target.close()


def test_v1alpha1_manifest_applies_and_reapplies_clean(
    kube: KubeCluster, kube_namespace: str, tmp_path: Path
) -> None:
    manifest = server("old-api").replace("v1beta1", "v1alpha1")
    repo = write_repo(tmp_path / "repo", {"old.yaml": manifest}, kube_namespace)
    _, result = plan_and_apply(kube, repo)
    assert len(result.created) == 1
    assert not plan_only(kube, repo).has_changes


def test_failing_dry_run_applies_nothing(kube: KubeCluster, kube_namespace: str, tmp_path: Path) -> None:
    # Past local validation (which would catch it first in `plan`), the server still refuses it.
    bad = server("bad", replicas=2).replace("transport: streamable-http", "transport: carrier-pigeon")
    repo = write_repo(tmp_path / "repo", {"a-good.yaml": server("good"), "b-bad.yaml": bad}, kube_namespace)
    target = ClusterTarget()
    try:
        plan = target.plan(load(repo, strict=False), options(kube))
    finally:
        target.close()
    (problem,) = plan.problems
    assert problem.path == "manifests/b-bad.yaml"
    assert problem.line == 7  # the `transport:` line, where the server says the value is wrong
    assert "carrier-pigeon" in problem.message or "transport" in problem.message
    (finding,) = plan.findings()
    assert (finding.rule, finding.severity, finding.path, finding.line) == (
        "cluster-dry-run",
        "error",
        "manifests/b-bad.yaml",
        7,
    )
    # The good object passed its dry run but was not created: all or nothing.
    assert not mcpservers(kube).get(namespace=kube_namespace).items
    with pytest.raises(ClusterPlanError) as raised:
        ClusterTarget().apply(plan, options(kube))
    assert "manifests/b-bad.yaml:7" in str(raised.value)
    assert not mcpservers(kube).get(namespace=kube_namespace).items


def test_missing_crd_reported_by_kind_before_anything_is_applied(
    kube: KubeCluster,
    kube_namespace: str,
    tmp_path: Path,
    toolhive_crds: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A kind of a newer operator release: its CRD is given to validate, not installed in the cluster.
    import yaml

    future = yaml.safe_load((toolhive_crds / "toolhive.stacklok.dev_mcpgroups.yaml").read_text())
    future["metadata"]["name"] = "mcpfutures.toolhive.stacklok.dev"
    future["spec"]["names"].update(
        kind="MCPFuture", plural="mcpfutures", singular="mcpfuture", listKind="MCPFutureList"
    )
    (tmp_path / "future.yaml").write_text(yaml.safe_dump(future))
    monkeypatch.setenv("MCP_GITOPS_CRDS", f"{toolhive_crds}:{tmp_path / 'future.yaml'}")
    proxy = """\
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPFuture
metadata:
  name: remote
spec: {}
"""
    repo = write_repo(tmp_path / "repo", {"a.yaml": server("fine"), "proxy.yaml": proxy}, kube_namespace)
    plan = plan_only(kube, repo)
    assert list(plan.missing_kinds) == ["toolhive.stacklok.dev/v1beta1 MCPFuture"]
    assert [f.rule for f in plan.findings()] == ["cluster-missing-kind"]
    message = "\n".join(plan.render_errors())
    assert "does not serve toolhive.stacklok.dev/v1beta1 MCPFuture" in message
    assert "manifests/proxy.yaml:1" in message
    assert not mcpservers(kube).get(namespace=kube_namespace).items


def test_missing_namespace_is_a_located_error(kube: KubeCluster, tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", {"a.yaml": server("lost", namespace="does-not-exist")}, "default")
    (problem,) = plan_only(kube, repo).problems
    assert problem.path == "manifests/a.yaml" and "does-not-exist" in problem.message


def test_namespace_created_by_the_same_apply(kube: KubeCluster, tmp_path: Path) -> None:
    import uuid

    name = f"t-new-{uuid.uuid4().hex[:8]}"
    namespace = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"
    repo = write_repo(
        tmp_path / "repo", {"a-ns.yaml": namespace, "b-server.yaml": server("inside", namespace=name)}, name
    )
    plan, result = plan_and_apply(kube, repo)
    assert any(o.unchecked for o in plan.objects)
    assert len(result.created) == 2
    assert get_server(kube, name, "inside")["spec"]["replicas"] == 2
