"""The optional cluster side: backend pods, Service ClusterIPs, VirtualMCPServer status and the password
Secret. The measurement works without it; it then cannot call anything stale.

`ClusterReader` is the interface the measurement uses; `KubeClusterReader` implements it over the cluster
target's thin API layer, which imports the `kubernetes` package only when a cluster is actually used.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Protocol
from urllib.parse import quote

TOOLHIVE_GROUP = "toolhive.stacklok.dev"
# v1alpha1 is still served (deprecated) by operators that predate v1beta1.
TOOLHIVE_VERSIONS = ("v1beta1", "v1alpha1")
REQUEST_TIMEOUT_S = 10.0
# A pod in one of these phases has stopped for good; any other pod with an IP can still serve.
FINISHED_PHASES = frozenset({"Succeeded", "Failed"})


class ClusterProblem(Exception):
    """The cluster could not answer (unreachable, forbidden, an unexpected status)."""


class ClusterReader(Protocol):
    description: str

    def backend_pod_ips(self, namespace: str, app: str) -> frozenset[str]:
        """IPs of the live pods labelled `app=<app>`."""
        ...

    def service_cluster_ips(self, namespace: str, service: str) -> frozenset[str]:
        """ClusterIPs of a Service; empty when it does not exist."""
        ...

    def discovered_backends(self, namespace: str, name: str) -> frozenset[str] | None:
        """Names in a VirtualMCPServer's `status.discoveredBackends`; None without an object or status."""
        ...

    def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        """One key of a Secret, decoded; None when the Secret or the key is missing."""
        ...


class KubeClusterReader:
    def __init__(self, api: Any) -> None:
        self.api = api  # reconciler.targets.cluster.api.KubeApi
        self.description: str = api.description

    def _get(self, path: str, query: list[tuple[str, str]] | None = None) -> dict[str, Any] | None:
        from reconciler.targets import TargetError

        try:
            response = self.api.request("GET", path, query=query, timeout=REQUEST_TIMEOUT_S)
        except TargetError as exc:
            raise ClusterProblem(str(exc)) from None
        if response.status == 404:
            return None
        if not response.ok:
            raise ClusterProblem(f"GET {path}: {response.message}")
        body: dict[str, Any] = response.body
        return body

    def backend_pod_ips(self, namespace: str, app: str) -> frozenset[str]:
        listing = self._get(f"/api/v1/namespaces/{quote(namespace)}/pods", [("labelSelector", f"app={app}")])
        ips: set[str] = set()
        for pod in (listing or {}).get("items") or []:
            status = pod.get("status") or {}
            if status.get("phase") in FINISHED_PHASES:
                continue
            if status.get("podIP"):
                ips.add(status["podIP"])
            ips.update(item["ip"] for item in status.get("podIPs") or [] if item.get("ip"))
        return frozenset(ips)

    def service_cluster_ips(self, namespace: str, service: str) -> frozenset[str]:
        found = self._get(f"/api/v1/namespaces/{quote(namespace)}/services/{quote(service)}")
        spec = (found or {}).get("spec") or {}
        ips = set(spec.get("clusterIPs") or [])
        if spec.get("clusterIP"):
            ips.add(spec["clusterIP"])
        ips.discard("None")  # a headless Service
        return frozenset(ips)

    def discovered_backends(self, namespace: str, name: str) -> frozenset[str] | None:
        for version in TOOLHIVE_VERSIONS:
            path = (
                f"/apis/{TOOLHIVE_GROUP}/{version}/namespaces/{quote(namespace)}"
                f"/virtualmcpservers/{quote(name)}"
            )
            found = self._get(path)
            if found is None:
                continue
            backends = (found.get("status") or {}).get("discoveredBackends")
            if backends is None:
                return None
            return frozenset(b["name"] for b in backends if isinstance(b, dict) and b.get("name"))
        return None

    def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        found = self._get(f"/api/v1/namespaces/{quote(namespace)}/secrets/{quote(name)}")
        encoded = ((found or {}).get("data") or {}).get(key)
        if encoded is None:
            return None
        try:
            return base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise ClusterProblem(f"Secret {namespace}/{name} key {key} is not base64 UTF-8 text") from None

    def close(self) -> None:
        self.api.close()


def open_cluster(
    kubeconfig: str | None = None, context: str | None = None
) -> tuple[KubeClusterReader | None, str]:
    """A reader for the configured cluster, or None and why there is none. Nothing is contacted yet."""
    from reconciler.targets import TargetError
    from reconciler.targets.cluster.credentials import connect, find_cluster, no_cluster_reason

    # Like kubectl, ~/.kube/config counts: the cross-check only reads, and a cluster that holds none of
    # the servers is recognised (nothing is then called stale).
    choice = find_cluster(kubeconfig, context)
    if choice is None:
        return None, no_cluster_reason()
    try:
        api = connect(choice, pool_size=1)
    except TargetError as exc:
        return None, str(exc)
    return KubeClusterReader(api), api.description
