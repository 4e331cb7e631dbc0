"""The `cluster` target: the repository's ToolHive manifests (every kind of the operator's CRDs) and
Namespaces, server-side applied to a Kubernetes cluster (`reconciler.crds.manifests.is_applied`).

`plan` resolves credentials, checks every kind is served, reads live state and dry-runs every object;
`apply` applies the plan (refusing one with problems), prunes when asked, and reads status back.
The `kubernetes` package is imported only once a cluster is actually contacted.
"""

from __future__ import annotations

from typing import Any

from reconciler.targets import TargetError, TargetOptions, TargetPlan
from reconciler.targets.cluster.applier import ClusterResult, apply_plan
from reconciler.targets.cluster.credentials import connect, find_cluster, no_cluster_reason
from reconciler.targets.cluster.options import ClusterOptions
from reconciler.targets.cluster.plan import ClusterPlan, ClusterPlanError
from reconciler.targets.cluster.planner import make_plan


class ClusterTarget:
    name = "cluster"

    def __init__(self) -> None:
        self._apis: list[Any] = []

    def plan(self, repo: Any, options: TargetOptions | ClusterOptions) -> ClusterPlan:
        """Raises ClusterPlanError (a TargetError carrying the plan) when something blocks the apply:
        kinds the cluster does not serve, failed dry runs, conflicts not forced, an empty prune."""
        opts = _cluster_options(options)
        choice = find_cluster(opts.kubeconfig, opts.context, opts.explicit)
        if choice is None:
            if opts.explicit:
                raise TargetError(f"cluster target: {no_cluster_reason(True)}")
            return ClusterPlan(revision=repo.revision, skipped=no_cluster_reason(False))
        api = connect(choice, opts.workers)
        self._apis.append(api)
        plan = make_plan(api, repo, opts)
        if plan.has_errors:
            raise ClusterPlanError(plan)
        return plan

    def apply(self, plan: TargetPlan, options: TargetOptions | ClusterOptions) -> ClusterResult:
        """Raises ClusterPlanError for a plan with problems (nothing applied), ClusterApplyError when the
        apply stopped part way, ClusterWaitTimeout when --wait ran out of time (all TargetError)."""
        assert isinstance(plan, ClusterPlan)
        return apply_plan(plan, _cluster_options(options))

    def close(self) -> None:
        for api in self._apis:
            api.close()
        self._apis.clear()


def _cluster_options(options: TargetOptions | ClusterOptions) -> ClusterOptions:
    return options if isinstance(options, ClusterOptions) else ClusterOptions.from_target_options(options)
