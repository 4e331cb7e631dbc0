"""Cross-checks against a real kube-apiserver: pod addresses (Pods need no kubelet to exist in the API),
the Service ClusterIP, a VirtualMCPServer's discoveredBackends and the password Secret."""

from __future__ import annotations

import base64
import json

import pytest

from reconciler.sessions import MeasureOptions, SecretRef, Threshold, measure_sessions, open_cluster, render
from reconciler.trust import HostRule, OperatorTrust
from tests.harness.kube import TEST_FIELD_MANAGER, KubeCluster
from tests.harness.redis import RedisServer
from tests.test_sessions import HOUR, MINUTE, assert_redacted, proxy_value, seed, server, vmcp_value

pytestmark = [pytest.mark.kube, pytest.mark.redis]


def _pod(kube: KubeCluster, namespace: str, name: str, app: str, ip: str, phase: str = "Running") -> None:
    from kubernetes import client

    core = client.CoreV1Api(kube.api_client)
    core.create_namespaced_pod(
        namespace,
        client.V1Pod(
            metadata=client.V1ObjectMeta(name=name, labels={"app": app}),
            spec=client.V1PodSpec(containers=[client.V1Container(name="mcp", image="example/mcp:1")]),
        ),
    )
    # No kubelet runs here: write what it would have reported.
    status = {"phase": phase, "podIP": ip, "podIPs": [{"ip": ip}]}
    core.patch_namespaced_pod_status(name, namespace, {"status": status})


def _service(kube: KubeCluster, namespace: str, name: str) -> str:
    from kubernetes import client

    core = client.CoreV1Api(kube.api_client)
    created = core.create_namespaced_service(
        namespace,
        client.V1Service(
            metadata=client.V1ObjectMeta(name=name),
            spec=client.V1ServiceSpec(selector={"app": "x"}, ports=[client.V1ServicePort(port=8080)]),
        ),
    )
    assert created.spec is not None
    return str(created.spec.cluster_ip)


def _secret(kube: KubeCluster, namespace: str, name: str, key: str, value: str) -> None:
    from kubernetes import client

    client.CoreV1Api(kube.api_client).create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name=name), data={key: base64.b64encode(value.encode()).decode()}
        ),
    )


def _vmcp(kube: KubeCluster, namespace: str, name: str, backends: list[str]) -> None:
    resource = kube.dynamic.resources.get(
        api_version="toolhive.stacklok.dev/v1beta1", kind="VirtualMCPServer"
    )
    body = {
        "apiVersion": "toolhive.stacklok.dev/v1beta1",
        "kind": "VirtualMCPServer",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"groupRef": {"name": "tools"}, "incomingAuth": {"type": "anonymous"}},
    }
    resource.server_side_apply(body=body, field_manager=TEST_FIELD_MANAGER)
    status = {"discoveredBackends": [{"name": b, "status": "ready"} for b in backends]}
    resource.status.patch(
        namespace=namespace, name=name, body={"status": status}, content_type="application/merge-patch+json"
    )


def test_pods_service_and_discovered_backends(
    kube: KubeCluster, kube_namespace: str, redis_server: RedisServer, redis_prefix: str
) -> None:
    ns = kube_namespace
    _pod(kube, ns, "weather-0", "weather", "10.1.0.5")
    _pod(kube, ns, "weather-1", "weather", "10.1.0.6")
    _pod(kube, ns, "weather-old", "weather", "10.1.0.7", phase="Failed")  # finished: not a live backend
    _pod(kube, ns, "other-0", "other", "10.1.0.8")  # another app's pod: not a backend of weather
    cluster_ip = _service(kube, ns, "mcp-weather")
    _vmcp(kube, ns, "gateway", ["weather", "github"])

    proxy_prefix, vmcp_prefix = redis_prefix + "proxy:", redis_prefix + "vmcp:"
    seed(
        redis_server,
        proxy_prefix,
        [
            ("u1", proxy_value("http://mcp-weather:8080"), HOUR),
            ("u2", proxy_value(f"http://{cluster_ip}:8080"), HOUR),
            ("p1", proxy_value("http://10.1.0.5:8080"), HOUR),
            ("p2", proxy_value("http://10.1.0.6:8080"), HOUR),
            ("s1", proxy_value("http://10.1.0.7:8080"), HOUR),
            ("s2", proxy_value("http://10.1.0.8:8080"), HOUR),
            ("s3", proxy_value("http://10.1.0.9:8080"), HOUR),
        ],
    )
    seed(
        redis_server,
        vmcp_prefix,
        [
            ("f1", vmcp_value("github,weather"), 20 * MINUTE),
            ("f2", vmcp_value("jira,weather"), 20 * MINUTE),
            ("ph", vmcp_value(), 20 * MINUTE),
        ],
    )
    reader, description = open_cluster(str(kube.kubeconfig), kube.context)
    assert reader is not None, description
    try:
        report = measure_sessions(
            [
                server(redis_server, proxy_prefix, namespace=ns),
                server(redis_server, vmcp_prefix, kind="VirtualMCPServer", name="gateway", namespace=ns),
            ],
            MeasureOptions(cluster=reader, stale_threshold=Threshold.parse("50%")),
        )
    finally:
        reader.close()

    proxy_group, vmcp_group = sorted(report.prefixes, key=lambda g: g.prefix)
    proxy = proxy_group.proxy
    assert proxy is not None and proxy.stale_check == "checked"
    assert (proxy.unpinned, proxy.pinned, proxy.stale) == (2, 5, 3)
    assert proxy.stale_hosts == {"10.1.0.7": 1, "10.1.0.8": 1, "10.1.0.9": 1}
    vmcp = vmcp_group.vmcp
    assert vmcp is not None and vmcp.backend_check == "checked"
    assert (vmcp.full, vmcp.placeholders, vmcp.unknown_backend_sessions) == (2, 1, 1)
    assert vmcp.unknown_backends == {"jira": 1}
    severities = {f.rule: f.severity.value for f in report.findings}
    # 3 of 7 proxy sessions stale (43%) and 1 of 2 vMCP sessions (50%): under the 50% threshold.
    assert severities == {"session-stale": "info", "session-unknown-backend": "info"}
    assert report.cluster == description
    assert_redacted(report)


def test_password_from_the_secret(
    kube: KubeCluster, kube_namespace: str, redis_auth_server: RedisServer
) -> None:
    assert redis_auth_server.password is not None
    _secret(kube, kube_namespace, "redis-password", "password", redis_auth_server.password)
    prefix = f"t-kube-{kube_namespace}:"
    seed(redis_auth_server, prefix, [("a", proxy_value("http://mcp-weather:8080"), HOUR)])
    reader, description = open_cluster(str(kube.kubeconfig), kube.context)
    assert reader is not None, description
    try:
        good = server(
            redis_auth_server,
            prefix,
            namespace=kube_namespace,
            password_ref=SecretRef("redis-password", "password"),
        )
        missing = server(
            redis_auth_server, prefix, namespace=kube_namespace, password_ref=SecretRef("nope", "password")
        )
        # The manifest chose the address: the operator allows it (tests/test_trust_sessions.py).
        allowed = OperatorTrust(redis_hosts=(HostRule.parse(redis_auth_server.address),))
        found = measure_sessions([good], MeasureOptions(cluster=reader, trust=allowed))
        absent = measure_sessions([missing], MeasureOptions(cluster=reader, trust=allowed))
    finally:
        reader.close()
        redis_auth_server.client().delete(prefix + "a")
    assert found.redis[0].password_source == f"secret {kube_namespace}/redis-password"
    assert found.prefixes[0].sessions == 1 and not found.fails()
    assert redis_auth_server.password not in render(found, "json") + render(found, "text")
    (finding,) = absent.findings
    assert finding.rule == "session-redis-auth" and "does not exist" in finding.message


def test_an_unreachable_cluster_is_a_warning(
    redis_server: RedisServer, redis_prefix: str, tmp_path: object
) -> None:
    from pathlib import Path

    from tests.harness.redis import free_port

    kubeconfig = Path(str(tmp_path)) / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{free_port()}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    seed(redis_server, redis_prefix, [("p", proxy_value("http://10.1.0.5:8080"), HOUR)])
    reader, _ = open_cluster(str(kubeconfig), None)
    assert reader is not None
    report = measure_sessions([server(redis_server, redis_prefix)], MeasureOptions(cluster=reader))
    proxy = report.prefixes[0].proxy
    assert proxy is not None and proxy.stale is None
    (finding,) = report.findings
    assert finding.rule == "session-cluster-unavailable" and finding.severity.value == "warning"
    assert not report.fails()
