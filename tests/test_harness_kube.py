"""Smoke test of the kube harness: the project CRDs are served and a custom resource round-trips,
including a write through the status subresource (what the cluster target's status tests rely on)."""

from __future__ import annotations

import pytest

from tests.harness.kube import TEST_FIELD_MANAGER, KubeCluster, crd_documents, install_crds

pytestmark = pytest.mark.kube

SMOKE_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "smokes.harness.mcp-gitops.test"},
    "spec": {
        "group": "harness.mcp-gitops.test",
        "scope": "Namespaced",
        "names": {"kind": "Smoke", "plural": "smokes", "singular": "smoke", "listKind": "SmokeList"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}
                        },
                    }
                },
            }
        ],
    },
}


def test_create_crd_and_custom_resource(kube: KubeCluster, kube_namespace: str) -> None:
    install_crds(kube, [SMOKE_CRD])
    smokes = kube.dynamic.resources.get(api_version="harness.mcp-gitops.test/v1", kind="Smoke")
    smokes.create(
        namespace=kube_namespace,
        body={
            "apiVersion": "harness.mcp-gitops.test/v1",
            "kind": "Smoke",
            "metadata": {"name": "s"},
            "spec": {"size": 3},
        },
    )
    assert smokes.get(namespace=kube_namespace, name="s").spec.size == 3


def test_upstream_crds_serve_both_versions_and_status(kube: KubeCluster, kube_namespace: str) -> None:
    kinds = {doc["spec"]["names"]["kind"] for doc in crd_documents()}
    assert len(kinds) == 14 and {"MCPServer", "VirtualMCPServer", "MCPGroup", "MCPRemoteProxy"} <= kinds
    servers = kube.dynamic.resources.get(api_version="toolhive.stacklok.dev/v1beta1", kind="MCPServer")
    body = {
        "apiVersion": "toolhive.stacklok.dev/v1beta1",
        "kind": "MCPServer",
        "metadata": {"name": "fetch", "namespace": kube_namespace},
        "spec": {
            "image": "ghcr.io/example/fetch:1.0.0",
            "transport": "streamable-http",
            "replicas": 2,
            "sessionStorage": {"provider": "redis", "address": "redis:6379"},
        },
    }
    created = servers.server_side_apply(body=body, field_manager=TEST_FIELD_MANAGER).to_dict()
    # Schema defaults are applied by the server (what the plan must not report as a change).
    assert created["spec"]["sessionAffinity"] == "ClientIP"
    assert created["spec"]["sessionStorage"]["db"] == 0

    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "Ready",
        "message": "ready",
        "lastTransitionTime": "2026-11-23T10:00:00Z",
    }
    status = {"phase": "Ready", "readyReplicas": 2, "conditions": [ready]}
    servers.status.patch(
        namespace=kube_namespace,
        name="fetch",
        body={"status": status},
        content_type="application/merge-patch+json",
    )
    # The deprecated version serves the same object.
    old = kube.dynamic.resources.get(api_version="toolhive.stacklok.dev/v1alpha1", kind="MCPServer")
    read = old.get(namespace=kube_namespace, name="fetch").to_dict()
    assert read["status"]["readyReplicas"] == 2
    assert read["spec"]["replicas"] == 2
