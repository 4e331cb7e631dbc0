"""MCPServer, VirtualMCPServer and MCPGroup: one failing and one passing case per rule."""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_schemas import assert_problem, assert_valid, changed, problems

REDIS = {
    "provider": "redis",
    "address": "redis.toolhive-system.svc.cluster.local:6379",
    "db": 0,
    "keyPrefix": "mcp-sessions:",
    "passwordRef": {"name": "redis-password", "key": "password"},
}

SERVER: dict[str, Any] = {
    "apiVersion": "toolhive.stacklok.dev/v1beta1",
    "kind": "MCPServer",
    "metadata": {"name": "weather", "namespace": "toolhive-system"},
    "spec": {"image": "ghcr.io/acme/weather:1.0.0"},
}

VMCP: dict[str, Any] = {
    "apiVersion": "toolhive.stacklok.dev/v1beta1",
    "kind": "VirtualMCPServer",
    "metadata": {"name": "platform", "namespace": "toolhive-system"},
    "spec": {"groupRef": {"name": "platform-tools"}, "incomingAuth": {"type": "anonymous"}},
}

GROUP: dict[str, Any] = {
    "apiVersion": "toolhive.stacklok.dev/v1beta1",
    "kind": "MCPGroup",
    "metadata": {"name": "platform-tools"},
    "spec": {"description": "Shared tools"},
}


def spec(doc: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return changed(doc, ("spec",), {**doc["spec"], **fields})


# ---- all three kinds


@pytest.mark.parametrize(
    ("kind", "doc"), [("MCPServer", SERVER), ("VirtualMCPServer", VMCP), ("MCPGroup", GROUP)]
)
def test_envelope(kind: str, doc: dict[str, Any]) -> None:
    assert_valid(kind, doc)
    assert_valid(kind, changed(doc, ("apiVersion",), "toolhive.stacklok.dev/v1alpha1"))
    assert_problem(
        kind, changed(doc, ("apiVersion",), "toolhive.stacklok.dev/v2"), ("apiVersion",), "must be one of"
    )
    assert_problem(kind, changed(doc, ("kind",), "Other"), ("kind",), f"must be one of '{kind}'")
    assert_problem(kind, changed(doc, ("metadata",)), ("metadata",), "required")
    assert_problem(kind, changed(doc, ("metadata", "name")), ("metadata", "name"), "required")
    assert_problem(
        kind, changed(doc, ("metadata", "name"), "Weather_1"), ("metadata", "name"), "DNS subdomain"
    )
    assert_problem(
        kind, changed(doc, ("metadata", "namespace"), "Tools"), ("metadata", "namespace"), "DNS label"
    )
    assert_problem(
        kind, changed(doc, ("metadata", "labels"), {"a": 1}), ("metadata", "labels", "a"), "expected a string"
    )
    assert_problem(kind, changed(doc, ("specs",), {}), ("specs",), "did you mean 'spec'?")
    # Kubernetes' own metadata fields and a status are allowed, unchecked
    meta = {
        **doc["metadata"],
        "uid": "1234",
        "generation": 3,
        "annotations": {"a": "b"},
        "labels": {"c": "d"},
    }
    assert_valid(
        kind, changed(changed(doc, ("metadata",), meta), ("status",), {"phase": "Ready", "anything": [1]})
    )


# ---- MCPServer


def test_mcpserver_full_spec() -> None:
    full = spec(
        SERVER,
        transport="streamable-http",
        proxyMode="streamable-http",
        proxyPort=8080,
        mcpPort=8081,
        args=["--verbose"],
        env=[{"name": "LOG_LEVEL", "value": "debug"}],
        volumes=[{"name": "data", "hostPath": "/srv/data", "mountPath": "/data", "readOnly": True}],
        resources={"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m"}},
        secrets=[{"name": "weather-api", "key": "api-key", "targetEnvName": "WEATHER_API_KEY"}],
        serviceAccount="weather",
        permissionProfile={"type": "builtin", "name": "network"},
        podTemplateSpec={"spec": {"terminationGracePeriodSeconds": 60, "containers": [{"name": "mcp"}]}},
        resourceOverrides={"proxyDeployment": {"labels": {"a": "b"}}},
        oidcConfigRef={"name": "sso", "audience": "weather"},
        authzConfig={"type": "configMap", "configMap": {"name": "authz"}},
        audit={"enabled": True},
        toolConfigRef={"name": "tools"},
        externalAuthConfigRef={"name": "ext"},
        telemetryConfigRef={"name": "otel"},
        trustProxyHeaders=True,
        endpointPrefix="/weather",
        groupRef={"name": "platform-tools"},
        sessionAffinity="None",
        replicas=2,
        backendReplicas=3,
        sessionStorage=REDIS,
        rateLimiting={"shared": {"capacity": 100, "refillPeriod": "1m"}},
        proxyReadTimeout="1m",
    )
    assert_valid("MCPServer", full)


def test_mcpserver_field_rules() -> None:
    s = ("spec",)
    cases = [
        ({"image": None}, "image", "expected a string"),
        ({"image": ""}, "image", "must not be empty"),
        ({"transport": "http"}, "transport", "'stdio', 'streamable-http' or 'sse'"),
        ({"proxyMode": "stdio"}, "proxyMode", "'sse' or 'streamable-http'"),
        ({"proxyPort": 0}, "proxyPort", "1 or more"),
        ({"mcpPort": 65536}, "mcpPort", "65535 or less"),
        ({"replicas": -1}, "replicas", "0 or more"),
        ({"replicas": "2"}, "replicas", "expected an integer"),
        ({"backendReplicas": -1}, "backendReplicas", "0 or more"),
        ({"sessionAffinity": "Cookie"}, "sessionAffinity", "'ClientIP' or 'None'"),
        ({"groupRef": {}}, "groupRef", None),
        ({"podTemplateSpec": []}, "podTemplateSpec", "expected a mapping"),
        ({"permissionProfile": {"type": "file", "name": "x"}}, "permissionProfile", None),
        ({"env": [{"name": "A"}]}, "env", None),
    ]
    for fields, field, fragment in cases:
        found = problems("MCPServer", spec(SERVER, **fields))
        assert found and all(path[:2] == (*s, field) for path, _ in found), (fields, found)
        if fragment:
            assert any(fragment in message for _, message in found), (fields, found)
    assert_problem("MCPServer", changed(SERVER, ("spec", "image")), ("spec", "image"), "required")
    assert_valid("MCPServer", spec(SERVER, replicas=0, backendReplicas=0))


def test_session_storage() -> None:
    ss = ("spec", "sessionStorage")
    assert_valid("MCPServer", spec(SERVER, sessionStorage=REDIS))
    assert_valid("MCPServer", spec(SERVER, sessionStorage={"provider": "memory"}))
    # the trailing ':' is the session-key-prefix policy's business
    assert_valid("MCPServer", spec(SERVER, sessionStorage={**REDIS, "keyPrefix": "mcp-sessions"}))
    assert_problem(
        "MCPServer",
        spec(SERVER, sessionStorage={**REDIS, "provider": "valkey"}),
        (*ss, "provider"),
        "'memory' or 'redis'",
    )
    assert_problem(
        "MCPServer", spec(SERVER, sessionStorage={"address": "r:6379"}), (*ss, "provider"), "required"
    )
    no_address = {k: v for k, v in REDIS.items() if k != "address"}
    assert_problem(
        "MCPServer", spec(SERVER, sessionStorage=no_address), ss, "address is required when provider is redis"
    )
    assert_problem(
        "MCPServer",
        spec(SERVER, sessionStorage={**REDIS, "address": ""}),
        (*ss, "address"),
        "must not be empty",
    )
    assert_problem("MCPServer", spec(SERVER, sessionStorage={**REDIS, "db": -1}), (*ss, "db"), "0 or more")
    for field in ("name", "key"):
        ref = {k: v for k, v in REDIS["passwordRef"].items() if k != field}
        assert_problem(
            "MCPServer",
            spec(SERVER, sessionStorage={**REDIS, "passwordRef": ref}),
            (*ss, "passwordRef", field),
            "required",
        )
    assert_problem(
        "MCPServer",
        spec(SERVER, sessionStorage={**REDIS, "password": "x"}),
        (*ss, "password"),
        "did you mean 'passwordRef'?",
    )
    assert_problem(
        "MCPServer", spec(SERVER, sessionStorage={**REDIS, "tls": True}), (*ss, "tls"), "unknown field 'tls'"
    )


def test_mcpserver_unknown_spec_keys() -> None:
    assert_problem(
        "MCPServer", spec(SERVER, targetPort=8080), ("spec", "targetPort"), "unknown field 'targetPort'"
    )
    assert_problem(
        "MCPServer",
        spec(SERVER, backendReplica=2),
        ("spec", "backendReplica"),
        "did you mean 'backendReplicas'?",
    )
    assert_problem(
        "MCPServer",
        spec(SERVER, sessionStorge=REDIS),
        ("spec", "sessionStorge"),
        "did you mean 'sessionStorage'?",
    )


# ---- VirtualMCPServer


def test_vmcp_full_spec() -> None:
    full = spec(
        VMCP,
        incomingAuth={
            "type": "oidc",
            "oidcConfigRef": {"name": "sso", "audience": "vmcp"},
            "authzConfig": {"type": "inline"},
        },
        outgoingAuth={
            "source": "inline",
            "default": {"type": "discovered"},
            "backends": {
                "github": {"type": "externalAuthConfigRef", "externalAuthConfigRef": {"name": "gh"}}
            },
        },
        passthroughHeaders=["X-Request-Id"],
        serviceType="ClusterIP",
        sessionAffinity="ClientIP",
        serviceAccount="vmcp",
        podTemplateSpec={"spec": {"terminationGracePeriodSeconds": 60}},
        config={"aggregation": {"conflictResolution": "prefix"}, "operational": {"logLevel": "debug"}},
        telemetryConfigRef={"name": "otel"},
        embeddingServerRef={"name": "embeddings"},
        authServerConfig={"issuer": "https://vmcp.acme.example.com"},
        imagePullSecrets=[{"name": "ghcr"}],
        replicas=2,
        sessionStorage=REDIS,
        rateLimiting={"shared": {"capacity": 10}},
    )
    assert_valid("VirtualMCPServer", full)


def test_vmcp_rules() -> None:
    s = ("spec",)
    assert_problem(
        "VirtualMCPServer", changed(VMCP, ("spec", "incomingAuth")), (*s, "incomingAuth"), "required"
    )
    # groupRef is CRD-required, but the group-ref-required policy explains it
    assert_valid("VirtualMCPServer", changed(VMCP, ("spec", "groupRef")))
    assert_problem(
        "VirtualMCPServer", spec(VMCP, groupRef={"nam": "x"}), (*s, "groupRef", "nam"), "did you mean 'name'?"
    )
    ia = (*s, "incomingAuth")
    assert_problem(
        "VirtualMCPServer", spec(VMCP, incomingAuth={"type": "jwt"}), (*ia, "type"), "'anonymous' or 'oidc'"
    )
    assert_problem(
        "VirtualMCPServer", spec(VMCP, incomingAuth={"type": "oidc"}), ia, "oidcConfigRef is required"
    )
    both = {"type": "anonymous", "authzConfig": {}, "authzConfigRef": {"name": "a"}}
    assert_problem("VirtualMCPServer", spec(VMCP, incomingAuth=both), ia, "mutually exclusive")
    assert_problem(
        "VirtualMCPServer",
        spec(VMCP, outgoingAuth={"source": "static"}),
        (*s, "outgoingAuth", "source"),
        "'discovered' or 'inline'",
    )
    assert_problem("VirtualMCPServer", spec(VMCP, replicas=-1), (*s, "replicas"), "0 or more")
    assert_problem(
        "VirtualMCPServer", spec(VMCP, serviceType="Ingress"), (*s, "serviceType"), "must be one of"
    )
    assert_problem(
        "VirtualMCPServer",
        spec(VMCP, sessionStorage={"provider": "redis"}),
        (*s, "sessionStorage"),
        "address is required",
    )
    assert_problem(
        "VirtualMCPServer", spec(VMCP, backendReplicas=2), (*s, "backendReplicas"), "unknown field"
    )
    assert_problem("VirtualMCPServer", spec(VMCP, config=[]), (*s, "config"), "expected a mapping")


# ---- MCPGroup


def test_mcpgroup() -> None:
    assert_valid("MCPGroup", changed(GROUP, ("spec",)))
    assert_valid("MCPGroup", changed(GROUP, ("spec",), {}))
    assert_problem(
        "MCPGroup", spec(GROUP, servers=["weather"]), ("spec", "servers"), "unknown field 'servers'"
    )
    assert_problem("MCPGroup", spec(GROUP, description=3), ("spec", "description"), "expected a string")
