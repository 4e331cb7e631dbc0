"""The cluster target: server-side apply of ToolHive manifests with ownership, plan, conflicts, prune
and status.

Modules: `credentials` (which cluster), `api` (HTTP + discovery), `marks` (labels, annotations, field
manager), `desired` (manifests -> objects), `planner` (live state, dry runs, prune candidates), `diff`
(field changes), `plan` (the plan and its problems), `applier` (apply, prune, status, wait), `status`
(phase, readyReplicas, conditions), `options`, `target` (the Target interface).
"""

from reconciler.targets.cluster.applier import ClusterApplyError, ClusterResult, ClusterWaitTimeout
from reconciler.targets.cluster.options import ClusterOptions
from reconciler.targets.cluster.plan import ClusterPlan, ClusterPlanError
from reconciler.targets.cluster.target import ClusterTarget

__all__ = [
    "ClusterApplyError",
    "ClusterOptions",
    "ClusterPlan",
    "ClusterPlanError",
    "ClusterResult",
    "ClusterTarget",
    "ClusterWaitTimeout",
]
