"""deploy/overlays/one-repository, rendered with Kustomize: the rights it gives the daemon's own
ServiceAccount are enough for a whole cycle (registry and cluster) and for holding its Lease, checked
with that ServiceAccount's token, and they stop there."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_daemon_e2e import CLI, GitRemote, free_port, http, wait_for
from tests.test_deploy_kustomize import render

ROOT = Path(__file__).resolve().parent.parent


def _documents(namespace: str) -> list[dict[str, Any]]:
    return render("one-repository", {"toolhive-system": namespace})


def _service_account_kubeconfig(kube: Any, namespace: str, directory: Path) -> Path:
    from kubernetes import client

    for doc in _documents(namespace):
        if doc["kind"] in ("ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"):
            resource = kube.dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
            resource.server_side_apply(body=doc, namespace=namespace, field_manager="mcp-gitops-tests")
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
    )
    token = client.CoreV1Api(kube.api_client).create_namespaced_service_account_token(
        "mcp-gitops", namespace, request
    )
    config = yaml.safe_load(kube.kubeconfig.read_text())
    assert token.status is not None
    config["users"] = [{"name": "sa", "user": {"token": token.status.token}}]
    for context in config["contexts"]:
        context["context"]["user"] = "sa"
    path = directory / "sa-kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def _can(
    kubeconfig: Path, context: str, namespace: str, verb: str, group: str, resource: str, name: str = ""
) -> bool:
    from kubernetes import client, config

    api = config.new_client_from_config(str(kubeconfig), context=context)
    review = client.V1SelfSubjectAccessReview(
        spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(
                namespace=namespace, verb=verb, group=group, resource=resource, name=name or None
            )
        )
    )
    status = client.AuthorizationV1Api(api).create_self_subject_access_review(review).status
    assert status is not None
    return bool(status.allowed)


@pytest.mark.kube
def test_the_service_account_gets_nothing_more(tmp_path: Path, kube: Any, kube_namespace: str) -> None:
    kubeconfig = _service_account_kubeconfig(kube, kube_namespace, tmp_path)

    def can(verb: str, group: str, resource: str, name: str = "", namespace: str = kube_namespace) -> bool:
        return _can(kubeconfig, kube.context, namespace, verb, group, resource, name)

    assert can("patch", "toolhive.stacklok.dev", "mcpservers")
    assert can("delete", "toolhive.stacklok.dev", "mcpgroups")
    assert can("update", "coordination.k8s.io", "leases", "mcp-gitops-leader")
    assert not can("update", "coordination.k8s.io", "leases", "another-lease")
    assert not can("create", "apps", "deployments")
    # the inventory ConfigMap: read and written, never listed or deleted
    assert can("patch", "", "configmaps") and can("get", "", "configmaps")
    assert not can("list", "", "configmaps") and not can("delete", "", "configmaps")
    assert not can("get", "", "configmaps", namespace="default")
    assert not can("patch", "toolhive.stacklok.dev", "mcpservers", namespace="default")


@pytest.mark.postgres
@pytest.mark.kube
def test_the_role_is_enough_to_reconcile_and_lead(
    tmp_path: Path, pg_url: str, kube: Any, kube_namespace: str
) -> None:
    kubeconfig = _service_account_kubeconfig(kube, kube_namespace, tmp_path)
    remote = GitRemote(tmp_path, namespace=kube_namespace)
    port = free_port()
    log = tmp_path / "daemon.log"
    args = [
        str(remote.bare), "--database-url", pg_url, "--state-dir", str(tmp_path / "state"),
        "--listen", f"127.0.0.1:{port}", "--kubeconfig", str(kubeconfig), "--context", kube.context,
        "--target", "registry", "--target", "cluster",
        "--leader-election", "lease", "--lease-namespace", kube_namespace, "--retry-period", "0.5s",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen([*CLI, *args], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:

        def status() -> dict[str, Any] | None:
            try:
                code, body = http(port, "/status")
            except OSError:
                assert process.poll() is None, log.read_text()
                return None
            data = json.loads(body) if code == 200 else None
            return data if data and data["cyclesCompleted"] >= 1 else None

        done = wait_for(status, 60, "the first cycle")
        assert done["lastOutcome"] == "applied", (
            json.dumps(done["history"], indent=1) + log.read_text()[-3000:]
        )
        assert done["role"] == "leader"
    finally:
        process.terminate()
        process.wait(30)
