"""Which cluster to talk to, found in controller-runtime's order: an explicit kubeconfig or context,
then $KUBECONFIG, then the in-cluster service account, then ~/.kube/config.

The cluster target runs only when it is selected (`targets:` in mcp-gitops.yaml or `--target`), never
because $KUBECONFIG happens to be set; once selected, no cluster configured is an error, and the plan
names the server and context it will write to before anything is written.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.targets import TargetError
from reconciler.targets.cluster.api import KubeApi
from reconciler.targets.cluster.options import DEFAULT_REQUEST_TIMEOUT_S

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


@dataclass(frozen=True)
class ClusterChoice:
    """Where the credentials come from, before anything is loaded."""

    kind: str  # "kubeconfig" or "in-cluster"
    kubeconfig: str | None = None  # None: the client's default ($KUBECONFIG, ~/.kube/config)
    context: str | None = None


def find_cluster(kubeconfig: str | None = None, context: str | None = None) -> ClusterChoice | None:
    if kubeconfig or context:
        return ClusterChoice("kubeconfig", kubeconfig, context)
    if os.environ.get("KUBECONFIG"):
        return ClusterChoice("kubeconfig", None, None)
    if os.environ.get("KUBERNETES_SERVICE_HOST") and SERVICE_ACCOUNT_TOKEN.is_file():
        return ClusterChoice("in-cluster")
    if (Path.home() / ".kube" / "config").is_file():
        return ClusterChoice("kubeconfig", str(Path.home() / ".kube" / "config"), None)
    return None


def no_cluster_reason() -> str:
    return (
        "no cluster configured (no --kubeconfig/--context, no $KUBECONFIG, not running in a pod, "
        "no ~/.kube/config)"
    )


_warned_insecure: set[str] = set()


def _warn_insecure(host: str) -> None:
    """One clear warning per API server when the kubeconfig turns TLS verification off, instead of
    urllib3's InsecureRequestWarning on every request (ten per plan)."""
    import warnings

    from urllib3.exceptions import InsecureRequestWarning

    warnings.filterwarnings("ignore", category=InsecureRequestWarning)
    if host not in _warned_insecure:
        _warned_insecure.add(host)
        logging.getLogger("mcp_gitops.cluster").warning(
            f"warning: TLS verification is off for {host} (insecure-skip-tls-verify in the kubeconfig): "
            "the API server's identity is not checked"
        )


def connect(
    choice: ClusterChoice, pool_size: int, request_timeout: float = DEFAULT_REQUEST_TIMEOUT_S
) -> KubeApi:
    """Load the credentials and return an API handle; raises TargetError when they do not load."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    configuration = client.Configuration()
    try:
        if choice.kind == "in-cluster":
            config.load_incluster_config(client_configuration=configuration)
            description = f"{configuration.host} (in-cluster service account)"
        else:
            config.load_kube_config(
                config_file=choice.kubeconfig,
                context=choice.context,
                client_configuration=configuration,
                persist_config=False,
            )
            where = choice.kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
            description = configuration.host + (f" (context {choice.context})" if choice.context else "")
            description += f" from {where}"
    except (ConfigException, OSError, TypeError, ValueError) as exc:
        raise TargetError(f"cluster credentials did not load: {exc}", reason="NoCredentials") from None
    if not configuration.verify_ssl:
        _warn_insecure(configuration.host)
    # Dry runs and applies go out from a thread pool; one pooled connection per worker.
    configuration.connection_pool_maxsize = max(pool_size, 1)
    api_client: Any = client.ApiClient(configuration)
    return KubeApi(api_client, description, request_timeout)
