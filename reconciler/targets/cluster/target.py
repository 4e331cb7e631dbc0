"""The `cluster` target: the repository's ToolHive manifests (every kind of the operator's CRDs) and
Namespaces, server-side applied to a Kubernetes cluster (`reconciler.crds.manifests.is_applied`).

`plan` resolves credentials, checks every kind is served, reads what this repository owns and dry-runs
every object; `apply` applies the plan (refusing one with problems), prunes when asked, records the
inventory and reads status back. The `kubernetes` package is imported only once a cluster is contacted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.targets import Hook, TargetError, TargetPlan
from reconciler.targets.cluster.api import KubeApi
from reconciler.targets.cluster.applier import ClusterResult, apply_plan
from reconciler.targets.cluster.credentials import connect, find_cluster, no_cluster_reason
from reconciler.targets.cluster.options import ClusterOptions
from reconciler.targets.cluster.plan import ClusterPlan
from reconciler.targets.cluster.planner import make_plan
from reconciler.targets.ownership import repository_identity

if TYPE_CHECKING:
    from reconciler.repository import Repository


class ClusterTarget:
    name = "cluster"

    def __init__(self) -> None:
        self._apis: list[KubeApi] = []

    def _connect(self, options: ClusterOptions) -> KubeApi:
        choice = find_cluster(options.kubeconfig, options.context)
        if choice is None:
            raise TargetError(f"cluster target: {no_cluster_reason()}", reason="NoCluster")
        api = connect(choice, options.workers, options.request_timeout)
        self._apis.append(api)
        return api

    def plan(self, repo: Repository, options: ClusterOptions) -> ClusterPlan:
        """What blocks the apply (kinds the cluster does not serve, failed dry runs, another repository's
        objects, an empty prune) is in `plan.findings()`."""
        owner = repository_identity(repo, options.fetched_from)
        return make_plan(self._connect(options), repo, options, owner)

    def apply(self, plan: TargetPlan, options: ClusterOptions, hook: Hook | None = None) -> ClusterResult:
        """Raises ClusterPlanError for a plan with problems (nothing applied), ClusterApplyError when the
        apply stopped part way, ClusterWaitTimeout when --wait ran out of time (all TargetError)."""
        assert isinstance(plan, ClusterPlan)
        return apply_plan(plan, options)

    def probe(self, options: ClusterOptions) -> str | None:
        try:
            api = self._connect(options)
            try:
                response = api.request("GET", "/version", timeout=5)
            finally:
                api.close()
                self._apis.remove(api)
        except TargetError as exc:
            return str(exc)
        return None if response.ok else f"API server answered {response.status}"

    def close(self) -> None:
        for api in self._apis:
            api.close()
        self._apis.clear()
