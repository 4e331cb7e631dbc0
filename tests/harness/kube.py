"""Harness plugin: a real Kubernetes API server for the tests.

Where the cluster comes from:

- `MCP_GITOPS_TEST_KUBECONFIG` (optionally `MCP_GITOPS_TEST_KUBE_CONTEXT`): an existing cluster the tests
  may write to. Plain `KUBECONFIG` is deliberately not used, so a developer's production context is never
  the test target by accident.
- otherwise a private control plane, the way controller-runtime's envtest runs one: `etcd` and
  `kube-apiserver` as plain processes on free local ports in a temporary directory, with token auth. The
  binaries come from `KUBEBUILDER_ASSETS`, or from `scripts/envtest-assets` (which fills a user cache).

One control plane per test session (startup takes a few seconds). The ToolHive operator's own CRDs
(`../shared/upstream/toolhive-v0.44.0/crds/`, see tests.harness.upstream) are installed once, made fit
for the 1.20 server (`for_old_server`); skip with `MCP_GITOPS_TEST_KUBE_SKIP_CRDS=1` on a cluster that has
the operator's own.
There is no controller-manager: namespaces never finish deleting and nothing reconciles, so tests use a
fresh namespace each (`kube_namespace`) and write status themselves through the status subresource.

When no cluster can be had, tests that need one are skipped locally and fail under `CI=true`
(`tests.harness.services.unavailable`).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.services import unavailable
from tests.harness.upstream import TOOLHIVE_CRDS

ROOT = Path(__file__).resolve().parents[2]
ASSETS_SCRIPT = ROOT / "scripts" / "envtest-assets"
TEST_FIELD_MANAGER = "mcp-gitops-tests"
TOKEN = "test-token"  # only valid on the private control plane, bound to 127.0.0.1
STARTUP_TIMEOUT_S = 60.0


class KubeCluster:
    """How tests reach the cluster: a kubeconfig file (and context), plus ready-made clients."""

    def __init__(self, kubeconfig: Path, context: str | None, private: bool) -> None:
        self.kubeconfig = kubeconfig
        self.context = context
        self.private = private  # True when this harness started the control plane
        self.api_client = self.new_api_client()
        self._dynamic: Any = None

    def new_api_client(self) -> Any:
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig), context=self.context)

    @property
    def dynamic(self) -> Any:
        """A DynamicClient whose discovery cache lives next to the kubeconfig, never in a shared /tmp file
        that a cluster started earlier on the same port may have left behind."""
        if self._dynamic is None:
            from kubernetes.dynamic import DynamicClient

            cache = self.kubeconfig.with_name(f"discovery-{uuid.uuid4().hex}.json")
            self._dynamic = DynamicClient(self.api_client, cache_file=str(cache))
        return self._dynamic

    def env(self) -> dict[str, str]:
        """Environment for a subprocess (the CLI, kubectl) that should talk to this cluster."""
        return dict(os.environ, KUBECONFIG=str(self.kubeconfig))


# --- the private control plane ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _assets_dir() -> Path:
    explicit = os.environ.get("KUBEBUILDER_ASSETS")
    if explicit and all((Path(explicit) / name).is_file() for name in ("kube-apiserver", "etcd")):
        return Path(explicit)
    done = subprocess.run([str(ASSETS_SCRIPT)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/envtest-assets failed: {done.stderr.strip()[-2000:]}")
    return Path(done.stdout.strip())


def _write_service_account_keys(directory: Path) -> tuple[Path, Path]:
    # The API server refuses to start without a service-account signing key; any RSA key will do.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = directory / "sa.key"
    public = directory / "sa.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def _tail(path: Path, limit: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


class ControlPlane:
    """etcd + kube-apiserver as child processes; `start()` returns once /readyz answers ok."""

    def __init__(self, assets: Path, workdir: Path) -> None:
        self.assets = assets
        self.workdir = workdir
        self.processes: list[subprocess.Popen[bytes]] = []
        self.server = ""

    def _spawn(self, argv: list[str], log_name: str) -> subprocess.Popen[bytes]:
        log = (self.workdir / log_name).open("wb")
        # A session of its own: Ctrl-C on pytest must not kill the servers before the fixture stops them.
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.processes.append(process)
        return process

    def start(self) -> str:
        work = self.workdir
        etcd_port, peer_port, api_port = _free_port(), _free_port(), _free_port()
        self._spawn(
            [
                str(self.assets / "etcd"),
                "--name=t",
                f"--data-dir={work / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-cluster=t=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            "etcd.log",
        )
        sa_key, sa_pub = _write_service_account_keys(work)
        tokens = work / "tokens.csv"
        tokens.write_text(f'{TOKEN},admin,admin-uid,"system:masters"\n')
        # The API server retries etcd until it answers, so both start at once.
        self._spawn(
            [
                str(self.assets / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                f"--cert-dir={work / 'certs'}",
                "--insecure-port=0",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={sa_pub}",
                f"--service-account-signing-key-file={sa_key}",
                f"--token-auth-file={tokens}",
                "--authorization-mode=RBAC",
                "--endpoint-reconciler-type=none",
                "--disable-admission-plugins=ServiceAccount",
                "--enable-priority-and-fairness=false",
            ],
            "kube-apiserver.log",
        )
        self.server = f"https://127.0.0.1:{api_port}"
        self._wait_ready()
        return self.server

    def _get(self, path: str) -> tuple[int, str]:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the server's certificate is self-signed, made at startup
        request = urllib.request.Request(self.server + path, headers={"Authorization": f"Bearer {TOKEN}"})
        try:
            with urllib.request.urlopen(request, timeout=2, context=context) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, ""

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        # /readyz can say ok a moment before the bootstrap controller has made the `default` namespace.
        for path in ("/readyz", "/api/v1/namespaces/default"):
            while True:
                for process, log in zip(self.processes, ("etcd.log", "kube-apiserver.log"), strict=True):
                    if process.poll() is not None:
                        raise RuntimeError(
                            f"{log.removesuffix('.log')} exited with {process.returncode}:\n"
                            + _tail(self.workdir / log)
                        )
                try:
                    status, _ = self._get(path)
                    if status == 200:
                        break
                except OSError:
                    pass  # not listening yet
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"kube-apiserver not ready after {STARTUP_TIMEOUT_S:.0f}s:\n"
                        + _tail(self.workdir / "kube-apiserver.log")
                    )
                time.sleep(0.2)

    def stop(self) -> None:
        # API server first, so it does not log a storm of etcd connection errors on the way down.
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
        self.processes.clear()

    def write_kubeconfig(self, path: Path) -> Path:
        import yaml

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            # The API server writes its self-signed certificate and the CA that signed it to cert-dir.
            "clusters": [
                {
                    "name": "envtest",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority": str(self.workdir / "certs" / "apiserver.crt"),
                    },
                }
            ],
            "users": [{"name": "admin", "user": {"token": TOKEN}}],
            "contexts": [{"name": "envtest", "context": {"cluster": "envtest", "user": "admin"}}],
            "current-context": "envtest",
        }
        path.write_text(yaml.safe_dump(config))
        return path


# --- CRDs ---------------------------------------------------------------------------------------------


def for_old_server(node: Any) -> Any:
    """A CRD as kube-apiserver 1.20 accepts it: without CEL rules (`x-kubernetes-validations`, 1.25+) and
    without `default: ""` on strings, which 1.20 refuses ("must be of type string: null")."""
    if isinstance(node, dict):
        return {
            key: for_old_server(value)
            for key, value in node.items()
            if key != "x-kubernetes-validations"
            and not (key == "default" and value == "" and node.get("type") == "string")
        }
    if isinstance(node, list):
        return [for_old_server(item) for item in node]
    return node


def crd_documents(directory: Path = TOOLHIVE_CRDS) -> list[dict[str, Any]]:
    """The upstream CRDs, as the test API server takes them."""
    import yaml

    documents: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.yaml")):
        documents.extend(for_old_server(doc) for doc in yaml.safe_load_all(path.read_text()) if doc)
    if not documents:
        raise RuntimeError(f"no CRDs in {directory}")
    return documents


def _crd_request(cluster: KubeCluster, method: str, path: str, body: str | None = None) -> dict[str, Any]:
    """One raw request: the upstream CRDs are large (VirtualMCPServer's is 470 KB), and the dynamic
    client's object wrappers around them would grow the test process by hundreds of megabytes, which
    tests that measure a child's peak RSS inherit (Linux keeps the high-water mark across vfork+exec)."""
    import json

    client = cluster.api_client
    query = [("fieldManager", TEST_FIELD_MANAGER), ("force", "true")] if method == "PATCH" else []
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/apply-patch+yaml"
    serialized = client.param_serialize(
        method=method,
        resource_path=path,
        query_params=query,
        header_params=headers,
        body=body,
        auth_settings=["BearerToken"],
    )
    response = client.call_api(*serialized)
    data: dict[str, Any] = json.loads(response.read())
    return data


def install_crds(cluster: KubeCluster, documents: list[dict[str, Any]], timeout: float = 30.0) -> None:
    """Server-side apply each CRD and wait until the API server serves it (condition Established)."""
    import json

    base = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    for document in documents:
        _crd_request(cluster, "PATCH", f"{base}/{document['metadata']['name']}", json.dumps(document))
    deadline = time.monotonic() + timeout
    for document in documents:
        name = document["metadata"]["name"]
        while True:
            status = _crd_request(cluster, "GET", f"{base}/{name}").get("status") or {}
            conditions = status.get("conditions") or []
            if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"CRD {name} not established after {timeout:.0f}s: {conditions}")
            time.sleep(0.1)


# --- fixtures -----------------------------------------------------------------------------------------


def _external_cluster() -> KubeCluster | None:
    kubeconfig = os.environ.get("MCP_GITOPS_TEST_KUBECONFIG")
    if not kubeconfig:
        return None
    return KubeCluster(
        Path(kubeconfig), os.environ.get("MCP_GITOPS_TEST_KUBE_CONTEXT") or None, private=False
    )


@pytest.fixture(scope="session")
def kube_cluster_or_reason(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster | str]:
    """The session's cluster, or why there is none (kept as a value, so each test that asks for `kube`
    is skipped or failed on its own, rather than erroring at session setup)."""
    plane: ControlPlane | None = None
    try:
        cluster = _external_cluster()
        if cluster is None:
            workdir = tmp_path_factory.mktemp("kube")
            plane = ControlPlane(_assets_dir(), workdir)
            atexit.register(plane.stop)  # backstop if the session dies without running finalizers
            plane.start()
            cluster = KubeCluster(plane.write_kubeconfig(workdir / "kubeconfig"), "envtest", private=True)
        if os.environ.get("MCP_GITOPS_TEST_KUBE_SKIP_CRDS") != "1":
            install_crds(cluster, crd_documents())
    except Exception as error:  # any failure here means "no cluster", reported per test
        if plane is not None:
            plane.stop()
        yield f"{type(error).__name__}: {error}"
        return
    try:
        yield cluster
    finally:
        if plane is not None:
            plane.stop()
            with contextlib.suppress(OSError):
                shutil.rmtree(plane.workdir / "etcd")


@pytest.fixture
def kube(kube_cluster_or_reason: KubeCluster | str) -> KubeCluster:
    """A real Kubernetes API server with the project CRDs installed (see the module docstring)."""
    if isinstance(kube_cluster_or_reason, str):
        unavailable("kube-apiserver", kube_cluster_or_reason)
    assert isinstance(kube_cluster_or_reason, KubeCluster)
    return kube_cluster_or_reason


@pytest.fixture
def kube_namespace(kube: KubeCluster) -> Iterator[str]:
    """A fresh namespace for one test; deleted afterwards where a controller-manager can finish that."""
    from kubernetes import client

    name = f"t-{uuid.uuid4().hex[:10]}"
    core = client.CoreV1Api(kube.api_client)
    core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={"mcp-gitops.test": "true"}))
    )
    yield name
    if not kube.private:  # on the private control plane it would stay Terminating; the tmp dir goes anyway
        with contextlib.suppress(Exception):
            core.delete_namespace(name)
