"""deploy/: the example manifests are accepted by a real API server, and the Role they grant is enough for
the daemon to reconcile the cluster and hold its Lease (and nothing more is needed)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_daemon_e2e import CLI, GitRemote, free_port, http, wait_for

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def _documents(namespace: str) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        text = path.read_text().replace("namespace: toolhive-system", f"namespace: {namespace}")
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


@pytest.mark.kube
def test_deploy_manifests_pass_a_server_side_dry_run(kube: Any, kube_namespace: str) -> None:
    kinds = []
    for doc in _documents(kube_namespace):
        resource = kube.dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        resource.server_side_apply(
            body=doc, namespace=kube_namespace, field_manager="mcp-gitops-tests", dry_run="All"
        )
        kinds.append(doc["kind"])
    assert sorted(kinds) == ["Deployment", "Role", "RoleBinding", "Service", "ServiceAccount"]
    deployment = next(d for d in _documents(kube_namespace) if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def _service_account_kubeconfig(kube: Any, namespace: str, directory: Path) -> Path:
    from kubernetes import client

    for doc in _documents(namespace):
        if doc["kind"] in ("ServiceAccount", "Role", "RoleBinding"):
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
