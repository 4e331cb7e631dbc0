"""Helpers shared by the cluster target tests (no tests in here): small config repositories on disk,
loaded through the real repository loader, and a target bound to the test cluster."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Any

from reconciler.targets.cluster import ClusterOptions, ClusterTarget
from tests.harness.kube import KubeCluster

GROUP_VERSION = "toolhive.stacklok.dev/v1beta1"
ROOT = Path(__file__).resolve().parent.parent


def server(name: str, replicas: int = 2, extra: str = "", namespace: str | None = None) -> str:
    ns = f"\n          namespace: {namespace}" if namespace else ""
    return textwrap.dedent(
        f"""\
        apiVersion: {GROUP_VERSION}
        kind: MCPServer
        metadata:
          name: {name}{ns}
        spec:
          image: ghcr.io/acme/{name}:1.0.0
          transport: streamable-http
          replicas: {replicas}
          backendReplicas: 2
          sessionStorage:
            provider: redis
            address: redis.toolhive-system.svc.cluster.local:6379
            keyPrefix: "mcp-sessions:{name}:"
        """
    ) + textwrap.indent(textwrap.dedent(extra), "  ")


def write_repo(
    root: Path,
    manifests: dict[str, str],
    namespace: str,
    prune: bool = False,
    registry_config: bool = False,
    settings: str = "",
) -> Path:
    """A config repository of `manifests` (targets: cluster); with `registry_config`, sample-repo's
    registry.yaml too (targets: registry and cluster). `settings` is appended to mcp-gitops.yaml."""
    root.mkdir(parents=True, exist_ok=True)
    if registry_config:
        shutil.copy(ROOT / "sample-repo" / "registry.yaml", root / "registry.yaml")
    targets = "[registry, cluster]" if registry_config else "[cluster]"
    (root / "mcp-gitops.yaml").write_text(
        f"namespace: {namespace}\ntargets: {targets}\nprune:\n  cluster: {'true' if prune else 'false'}\n"
        + settings
    )
    folder = root / "manifests"
    if folder.exists():
        for old in folder.iterdir():
            old.unlink()
    folder.mkdir(exist_ok=True)
    for name, text in manifests.items():
        (folder / name).write_text(text)
    return root


def load(root: Path, strict: bool = True) -> Any:
    from reconciler.repository import load_repository
    from reconciler.source import open_source

    repo = load_repository(open_source(str(root)))
    # Warnings (a deprecated version, a reference to an object managed elsewhere) do not block apply.
    errors = [f for f in repo.findings if f.severity.value == "error"]
    assert not (strict and errors), errors
    return repo


def options(kube: KubeCluster, **kwargs: Any) -> ClusterOptions:
    return ClusterOptions(kubeconfig=str(kube.kubeconfig), context=kube.context, **kwargs)


def plan_and_apply(kube: KubeCluster, root: Path, **kwargs: Any) -> tuple[Any, Any]:
    target = ClusterTarget()
    try:
        opts = options(kube, **kwargs)
        plan = target.plan(load(root), opts)
        return plan, target.apply(plan, opts)
    finally:
        target.close()


def plan_only(kube: KubeCluster, root: Path, **kwargs: Any) -> Any:
    target = ClusterTarget()
    try:
        return target.plan(load(root), options(kube, **kwargs))
    finally:
        target.close()


def mcpservers(kube: KubeCluster) -> Any:
    return kube.dynamic.resources.get(api_version=GROUP_VERSION, kind="MCPServer")


def get_server(kube: KubeCluster, namespace: str, name: str) -> dict[str, Any]:
    return dict(mcpservers(kube).get(namespace=namespace, name=name).to_dict())


def managed_fields(obj: dict[str, Any], manager: str, operation: str = "Apply") -> dict[str, Any]:
    """The fieldsV1 set `manager` owns on the main resource (not status) through `operation`."""
    for entry in obj["metadata"].get("managedFields") or []:
        if entry["manager"] == manager and entry["operation"] == operation and not entry.get("subresource"):
            return dict(entry.get("fieldsV1") or {})
    return {}
