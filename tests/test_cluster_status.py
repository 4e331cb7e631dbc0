"""Status read-back and --wait, credentials, and the skipped-without-a-cluster rule."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from reconciler.targets import TargetError
from reconciler.targets.cluster import ClusterOptions, ClusterTarget, ClusterWaitTimeout
from tests.harness.kube import KubeCluster
from tests.test_cluster_support import load, mcpservers, plan_and_apply, server, write_repo

GROUP = """\
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPGroup
metadata:
  name: tools
spec:
  description: the tools
"""

SESSION_WARNING = {
    "type": "SessionStorageWarning",
    "status": "True",
    "reason": "SessionStorageMissingForReplicas",
    "message": "replicas > 1 but sessionStorage.provider is not redis; "
    "sessions are not shared across replicas",
    "lastTransitionTime": "2026-11-23T10:00:00Z",
}


def set_status(kube: KubeCluster, namespace: str, name: str, status: dict, kind: str = "MCPServer") -> None:
    resource = kube.dynamic.resources.get(api_version="toolhive.stacklok.dev/v1beta1", kind=kind)
    resource.status.patch(
        namespace=namespace, name=name, body={"status": status}, content_type="application/merge-patch+json"
    )


def ready(replicas: int, *extra: dict) -> dict:
    condition = {
        "type": "Ready",
        "status": "True",
        "reason": "Ready",
        "message": "ready",  # required by the operator's CRDs (metav1.Condition)
        "lastTransitionTime": "2026-11-23T10:00:00Z",
    }
    return {"phase": "Ready", "readyReplicas": replicas, "conditions": [condition, *extra]}


@pytest.mark.kube
def test_status_read_back(kube: KubeCluster, kube_namespace: str, tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", {"g.yaml": GROUP, "s.yaml": server("web")}, kube_namespace)
    plan_and_apply(kube, repo)
    set_status(kube, kube_namespace, "web", ready(2, SESSION_WARNING))
    set_status(kube, kube_namespace, "tools", {"phase": "Ready", "serverCount": 1}, kind="MCPGroup")

    _, result = plan_and_apply(kube, repo)
    statuses = {s.key.name: s for s in result.status.statuses}
    web = statuses["web"]
    assert (web.phase, web.ready_replicas, web.ready) == ("Ready", 2, True)
    assert [w.reason for w in web.warnings] == ["SessionStorageMissingForReplicas"]
    assert statuses["tools"].ready  # MCPGroup: phase only, no Ready condition
    text = result.render_text()
    assert f"MCPServer {kube_namespace}/web: phase Ready, readyReplicas 2, Ready=True (Ready)" in text
    assert "warning SessionStorageWarning (SessionStorageMissingForReplicas)" in text
    as_json = result.to_json()["status"]
    assert {c["type"] for s in as_json for c in s["conditions"]} >= {"Ready", "SessionStorageWarning"}


@pytest.mark.kube
def test_wait_for_ready_and_timeout(kube: KubeCluster, kube_namespace: str, tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", {"s.yaml": server("slow")}, kube_namespace)
    with pytest.raises(ClusterWaitTimeout) as raised:
        plan_and_apply(kube, repo, wait=True, timeout=1.0)
    assert f"MCPServer {kube_namespace}/slow" in str(raised.value)
    assert raised.value.result.created  # applied; only readiness is missing

    # The "operator" reports Ready a moment later, while apply is waiting.
    def operator() -> None:
        time.sleep(1.0)
        set_status(kube, kube_namespace, "slow", ready(2))

    thread = threading.Thread(target=operator)
    thread.start()
    started = time.monotonic()
    _, result = plan_and_apply(kube, repo, wait=True, timeout=20.0)
    thread.join()
    assert result.status.waited and not result.status.timed_out
    assert result.status.statuses[0].ready
    assert time.monotonic() - started < 10


@pytest.mark.kube
def test_stale_ready_is_not_ready(kube: KubeCluster, kube_namespace: str, tmp_path: Path) -> None:
    repo = write_repo(tmp_path / "repo", {"s.yaml": server("stale")}, kube_namespace)
    plan_and_apply(kube, repo)
    generation = mcpservers(kube).get(namespace=kube_namespace, name="stale").metadata.generation
    set_status(kube, kube_namespace, "stale", {**ready(2), "observedGeneration": generation})
    write_repo(tmp_path / "repo", {"s.yaml": server("stale", replicas=4)}, kube_namespace)
    # Ready was reported for the old spec; after the change the operator has not caught up.
    _, result = plan_and_apply(kube, repo)
    assert not result.status.statuses[0].ready


@pytest.mark.kube
def test_kubeconfig_and_context_options(kube: KubeCluster, kube_namespace: str, tmp_path: Path) -> None:
    repo = load(write_repo(tmp_path / "repo", {"s.yaml": server("cfg")}, kube_namespace))
    target = ClusterTarget()
    try:
        options = ClusterOptions(kubeconfig=str(kube.kubeconfig), context=kube.context)
        plan = target.plan(repo, options)
        assert plan.has_changes
        assert str(kube.kubeconfig) in plan.cluster and str(kube.kubeconfig) in plan.destination
        bad = ClusterOptions(kubeconfig=str(kube.kubeconfig), context="no-such-context")
        with pytest.raises(TargetError, match="credentials did not load"):
            target.plan(repo, bad)
    finally:
        target.close()


@pytest.fixture
def no_cluster_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_no_cluster_configured_is_an_error_once_the_target_is_selected(
    no_cluster_env: None, tmp_path: Path
) -> None:
    repo = load(write_repo(tmp_path / "repo", {"s.yaml": server("x")}, "default"))
    with pytest.raises(TargetError, match="no cluster configured"):
        ClusterTarget().plan(repo, ClusterOptions())


def test_importing_the_target_does_not_import_kubernetes() -> None:
    import subprocess
    import sys

    code = "import sys, reconciler.targets.cluster; print('kubernetes' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
