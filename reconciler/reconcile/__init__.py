"""The reconcile stage shared by `plan`, `apply`, `drift` and the daemon (see stage.py)."""

from reconciler.reconcile.options import TargetOptions, selected_targets
from reconciler.reconcile.rules import RECONCILE_RULES
from reconciler.reconcile.stage import Attempt, ReconcileStage, Reconciliation, TargetRun

__all__ = [
    "RECONCILE_RULES",
    "Attempt",
    "ReconcileStage",
    "Reconciliation",
    "TargetOptions",
    "TargetRun",
    "selected_targets",
]
