"""deploy/ as Kustomize: every overlay renders with `kubectl kustomize`, its objects pass a server-side
dry run against a real API server (with the ToolHive CRDs), and the rendered daemons are wired as
documented: their targets, their own identity and Lease, the ToolHive rights exactly in the namespaces
they manage, and the database CA mounted where the URL's sslrootcert points."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from tests.harness.services import unavailable

ROOT = Path(__file__).resolve().parent.parent
OVERLAYS = ROOT / "deploy" / "overlays"
# overlay -> {daemon (Deployment name): its targets}
EXPECTED_DAEMONS = {
    "one-repository": {"mcp-gitops": {"registry", "cluster"}},
    "registry-only": {"mcp-gitops": {"registry"}},
    "cluster-only": {"mcp-gitops": {"cluster"}},
    "several-repositories": {
        "platform-mcp-gitops": {"registry", "cluster"},
        "team-b-mcp-gitops": {"cluster"},
    },
}
# the namespaces the overlays name, and what a test puts in their place
NAMESPACES = ("toolhive-system", "team-b")
TOOLHIVE_GROUP = "toolhive.stacklok.dev"
# the resources of every ToolHive kind (operator v0.44.0): what `apply --target cluster` sends
TOOLHIVE_RESOURCES = sorted(
    [
        "mcpservers", "virtualmcpservers", "mcpgroups", "mcpremoteproxies", "mcpserverentries",
        "mcpoidcconfigs", "mcpexternalauthconfigs", "mcpauthzconfigs", "mcptoolconfigs",
        "mcptelemetryconfigs", "mcpwebhookconfigs", "embeddingservers",
        "virtualmcpcompositetooldefinitions", "mcpregistries",
    ]
)  # fmt: skip
CLUSTER_SCOPED = ("ClusterRole", "ClusterRoleBinding")


def render(overlay: str, namespaces: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The overlay's objects, as `kubectl kustomize` renders them; `namespaces` renames namespaces."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        unavailable("kubectl", "kubectl is not on PATH (it renders deploy/ with its built-in Kustomize)")
    assert kubectl is not None
    done = subprocess.run(
        [kubectl, "kustomize", str(OVERLAYS / overlay)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"kubectl kustomize {overlay}: {done.stderr}"
    text = done.stdout
    for old, new in (namespaces or {}).items():
        text = text.replace(f"namespace: {old}\n", f"namespace: {new}\n")
    return [doc for doc in yaml.safe_load_all(text) if doc]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def args_of(deployment: dict[str, Any]) -> list[str]:
    args: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    return args


def option(deployment: dict[str, Any], name: str) -> list[str]:
    return [arg.split("=", 1)[1] for arg in args_of(deployment) if arg.startswith(f"--{name}=")]


def bound_roles(docs: list[dict[str, Any]], service_account: str) -> list[dict[str, Any]]:
    """The Roles bound to `service_account` (with the namespace each is in)."""
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in of_kind(docs, "Role")}
    found = []
    for binding in of_kind(docs, "RoleBinding"):
        if any(s["kind"] == "ServiceAccount" and s["name"] == service_account for s in binding["subjects"]):
            found.append(roles[(binding["metadata"]["namespace"], binding["roleRef"]["name"])])
    return found


def test_every_overlay_is_tested() -> None:
    assert sorted(p.name for p in OVERLAYS.iterdir() if (p / "kustomization.yaml").exists()) == sorted(
        EXPECTED_DAEMONS
    )


@pytest.mark.parametrize("overlay", sorted(EXPECTED_DAEMONS))
def test_overlay_wiring(overlay: str) -> None:
    docs = render(overlay)
    deployments = {d["metadata"]["name"]: d for d in of_kind(docs, "Deployment")}
    assert set(deployments) == set(EXPECTED_DAEMONS[overlay])
    selectors = [tuple(sorted(d["spec"]["selector"]["matchLabels"].items())) for d in deployments.values()]
    assert len(set(selectors)) == len(selectors), "two daemons select each other's pods"
    leases = set()
    service_accounts = {sa["metadata"]["name"] for sa in of_kind(docs, "ServiceAccount")}
    accounts_at = {
        (sa["metadata"]["namespace"], sa["metadata"]["name"]) for sa in of_kind(docs, "ServiceAccount")
    }
    for binding in of_kind(docs, "RoleBinding"):
        for subject in binding["subjects"]:
            assert (subject.get("namespace"), subject["name"]) in accounts_at, binding["metadata"]["name"]
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        assert set(option(deployment, "target")) == EXPECTED_DAEMONS[overlay][name]
        container = pod["containers"][0]
        assert container["image"].startswith("registry.example.com/")
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert pod["serviceAccountName"] in service_accounts
        roles = bound_roles(docs, pod["serviceAccountName"])

        # its own Lease, granted by name to it alone
        [lease] = option(deployment, "lease-name")
        assert lease not in leases
        leases.add(lease)
        lease_rules = [r for role in roles for r in role["rules"] if "leases" in r["resources"]]
        assert {n for r in lease_rules for n in r.get("resourceNames", [])} == {lease}

        # ToolHive rights exactly where the cluster target applies, none for a registry-only daemon
        toolhive = [role for role in roles for r in role["rules"] if TOOLHIVE_GROUP in r["apiGroups"]]
        if "cluster" in EXPECTED_DAEMONS[overlay][name]:
            assert toolhive, name
        else:
            assert not toolhive, name
        for role in roles:
            for rule in role["rules"]:
                assert rule["apiGroups"] in ([TOOLHIVE_GROUP], ["coordination.k8s.io"], [""]), rule
                if TOOLHIVE_GROUP in rule["apiGroups"]:
                    assert sorted(rule["resources"]) == TOOLHIVE_RESOURCES

        # the registry's database: TLS verified against the mounted CA, the password from a Secret
        env = {e["name"]: e for e in pod["containers"][0].get("env", [])}
        if "registry" in EXPECTED_DAEMONS[overlay][name]:
            settings = env["MCP_GITOPS_DATABASE_URL"]["valueFrom"]["configMapKeyRef"]
            [config_map] = [
                c for c in of_kind(docs, "ConfigMap") if c["metadata"]["name"] == settings["name"]
            ]
            url = config_map["data"][settings["key"]]
            query = parse_qs(urlsplit(url).query)
            assert urlsplit(url).password is None
            assert query["sslmode"] == ["verify-full"]
            mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
            ca_dir, _, ca_file = query["sslrootcert"][0].rpartition("/")
            volume = next(v for v in pod["volumes"] if v["name"] == mounts[ca_dir])
            assert any(item["path"] == ca_file for item in volume["configMap"]["items"])
            assert "secretKeyRef" in env["THV_REGISTRY_DATABASE_PASSWORD"]["valueFrom"]
        else:
            assert "MCP_GITOPS_DATABASE_URL" not in env


def test_a_team_daemon_has_rights_only_in_its_namespace() -> None:
    docs = render("several-repositories")
    roles = bound_roles(docs, "team-b-mcp-gitops")
    toolhive = {role["metadata"]["namespace"] for role in roles if _grants_toolhive(role)}
    assert toolhive == {"team-b"}
    assert {
        role["metadata"]["namespace"]
        for role in bound_roles(docs, "platform-mcp-gitops")
        if _grants_toolhive(role)
    } == {"toolhive-system"}


def _grants_toolhive(role: dict[str, Any]) -> bool:
    return any(TOOLHIVE_GROUP in rule["apiGroups"] for rule in role["rules"])


@pytest.mark.kube
@pytest.mark.parametrize("overlay", sorted(EXPECTED_DAEMONS))
def test_overlay_passes_a_server_side_dry_run(overlay: str, kube: Any, kube_namespace: str) -> None:
    from kubernetes import client

    core = client.CoreV1Api(kube.api_client)
    names = {"toolhive-system": kube_namespace, "team-b": f"{kube_namespace}-b"}
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=names["team-b"])))
    docs = render(overlay, names)
    namespaced = [d for d in docs if d["kind"] not in CLUSTER_SCOPED]
    assert {d["metadata"].get("namespace") for d in namespaced} <= set(names.values())
    for doc in docs:
        resource = kube.dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        resource.server_side_apply(
            body=doc,
            namespace=doc["metadata"].get("namespace"),
            field_manager="mcp-gitops-tests",
            dry_run="All",
        )
