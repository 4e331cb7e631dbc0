"""The cluster target: server-side apply of ToolHive manifests with ownership, plan, conflicts, prune
and status.

Modules: `credentials` (which cluster), `api` (HTTP + discovery), `marks` (labels, annotations, field
manager), `desired` (manifests -> objects), `planner` (live state, dry runs, prune candidates), `diff`
(field changes), `plan` (the plan and its problems), `applier` (apply, prune, status, wait), `status`
(phase, readyReplicas, conditions), `options`, `target` (the Target interface).
"""

# The names below are imported on first use, so that importing one module of the target (the
# desired-state builder, say) does not load the database or Kubernetes client libraries.
from typing import TYPE_CHECKING

from reconciler.lazy import lazy_exports

if TYPE_CHECKING:
    from reconciler.targets.cluster.applier import ClusterApplyError, ClusterResult, ClusterWaitTimeout
    from reconciler.targets.cluster.options import ClusterOptions
    from reconciler.targets.cluster.plan import ClusterPlan, ClusterPlanError
    from reconciler.targets.cluster.target import ClusterTarget

_LAZY = {
    "ClusterApplyError": "reconciler.targets.cluster.applier",
    "ClusterResult": "reconciler.targets.cluster.applier",
    "ClusterWaitTimeout": "reconciler.targets.cluster.applier",
    "ClusterOptions": "reconciler.targets.cluster.options",
    "ClusterPlan": "reconciler.targets.cluster.plan",
    "ClusterPlanError": "reconciler.targets.cluster.plan",
    "ClusterTarget": "reconciler.targets.cluster.target",
}

__getattr__ = lazy_exports(__name__, _LAZY)


__all__ = [
    "ClusterApplyError",
    "ClusterOptions",
    "ClusterPlan",
    "ClusterPlanError",
    "ClusterResult",
    "ClusterTarget",
    "ClusterWaitTimeout",
]
