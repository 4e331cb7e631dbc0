"""Which cluster to talk to, found in controller-runtime's order: an explicit kubeconfig or context,
then $KUBECONFIG, then the in-cluster service account, then ~/.kube/config.

~/.kube/config counts only when the cluster target is asked for by name (`--target cluster`): it is
ambient state (whatever context a person last switched to), and `apply` across all targets must not
write to it by surprise. No cluster configured is not an error here (`find_cluster` returns None): the
cluster step is then skipped, unless the cluster target was asked for by name.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.targets import TargetError
from reconciler.targets.cluster.api import KubeApi

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


@dataclass(frozen=True)
class ClusterChoice:
    """Where the credentials come from, before anything is loaded."""

    kind: str  # "kubeconfig" or "in-cluster"
    kubeconfig: str | None = None  # None: the client's default ($KUBECONFIG, ~/.kube/config)
    context: str | None = None


def find_cluster(
    kubeconfig: str | None = None, context: str | None = None, explicit: bool = True
) -> ClusterChoice | None:
    if kubeconfig or context:
        return ClusterChoice("kubeconfig", kubeconfig, context)
    if os.environ.get("KUBECONFIG"):
        return ClusterChoice("kubeconfig", None, None)
    if os.environ.get("KUBERNETES_SERVICE_HOST") and SERVICE_ACCOUNT_TOKEN.is_file():
        return ClusterChoice("in-cluster")
    if explicit and (Path.home() / ".kube" / "config").is_file():
        return ClusterChoice("kubeconfig", str(Path.home() / ".kube" / "config"), None)
    return None


def no_cluster_reason(explicit: bool) -> str:
    if explicit:
        return (
            "no cluster configured (no --kubeconfig/--context, no $KUBECONFIG, not running in a pod, "
            "no ~/.kube/config)"
        )
    return (
        "no cluster configured (no --kubeconfig/--context, no $KUBECONFIG, not running in a pod; "
        "~/.kube/config is used only with --target cluster)"
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


def connect(choice: ClusterChoice, pool_size: int) -> KubeApi:
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
        raise TargetError(f"cluster credentials did not load: {exc}") from None
    if not configuration.verify_ssl:
        _warn_insecure(configuration.host)
    # Dry runs and applies go out from a thread pool; one pooled connection per worker.
    configuration.connection_pool_maxsize = max(pool_size, 1)
    api_client: Any = client.ApiClient(configuration)
    return KubeApi(api_client, description)
