"""Rule IDs of what `plan`, `apply` and `drift` report, for the report renderers (SARIF `rules`)."""

from __future__ import annotations

from reconciler.findings import Severity
from reconciler.rules import RuleInfo
from reconciler.targets import DRIFT_RULE, REGISTRY_OWNER_CONFLICT_RULE

E, W = Severity.ERROR, Severity.WARNING
TARGET_FAILED = "target-failed"

RECONCILE_RULES: dict[str, RuleInfo] = {
    r.id: r
    for r in (
        RuleInfo(
            TARGET_FAILED,
            E,
            "A target could not be planned or applied.",
            "The message says why (unreachable, a lock timeout, a refusal); a retryable cause passes by "
            "itself, the daemon retries it.",
        ),
        RuleInfo(
            "cluster-missing-kind",
            E,
            "The cluster does not serve a kind the manifests use.",
            "Install the CRD (for ToolHive kinds: the ToolHive operator's CRDs) before applying.",
        ),
        RuleInfo(
            "cluster-dry-run",
            E,
            "The API server refused an object in the server-side dry run.",
            "The message is the server's; fix the manifest at the given line.",
        ),
        RuleInfo("cluster-duplicate", E, "An object is declared twice.", "Keep one declaration."),
        RuleInfo(
            "cluster-conflict",
            W,
            "A declared field is owned by another field manager (kubectl, an HPA).",
            "`cluster.conflicts: force` takes it over, `skip` leaves that object alone; list the field in "
            "`cluster.ignoreFields` to leave it to the other manager for good.",
        ),
        RuleInfo(
            "cluster-owner-conflict",
            E,
            "An object this repository declares belongs to another repository.",
            "Two repositories never take each other's objects; remove it from one of them.",
        ),
        RuleInfo(
            REGISTRY_OWNER_CONFLICT_RULE,
            E,
            "A registry entry or config row this repository declares belongs to another repository, or "
            "was published through the registry server's API.",
            "It is left as it is and the rest applies; drop the entry from one repository, or declare "
            "the shared source and registry config alike in both.",
        ),
        RuleInfo(
            "cluster-prune-refused",
            E,
            "Prune would delete every object because the repository yields no manifests.",
            "Pass --allow-empty when that is intended.",
        ),
        RuleInfo(
            DRIFT_RULE,
            W,
            "A target differs from the repository.",
            "`mcp-gitops apply` (or the daemon's next resync) brings it back in line.",
        ),
    )
}
