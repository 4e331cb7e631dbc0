"""`mcp-gitops diff`: what merging a revision would change in the registry and the cluster, computed
from two Git revisions alone (no database, no cluster), and the findings the change introduces or
fixes.

Both revisions are validated the way `validate --base` does (the revision in pull-request mode against
the base); the targets' desired states are built with the targets' own builders and compared.
"""

from __future__ import annotations

import gc
from collections import Counter

from reconciler import pipeline
from reconciler.diff.cluster import cluster_changes
from reconciler.diff.model import Change, RevisionDiff
from reconciler.diff.registry import desired_registry, registry_changes
from reconciler.findings import Finding, Report
from reconciler.policy.engine import Inputs
from reconciler.source import Source

__all__ = ["Change", "RevisionDiff", "compute_diff"]


def _identity(finding: Finding) -> tuple[str, str, str, str]:
    # Line numbers move with any edit above them; a finding is the same finding wherever it sits.
    return (finding.rule, finding.severity.value, finding.path, finding.message)


def _only_in(report: Report, other: Report) -> list[Finding]:
    left = Counter(_identity(f) for f in other.active())
    out = []
    for finding in sorted(report.active(), key=Finding.sort_key):
        key = _identity(finding)
        if left[key]:
            left[key] -= 1
        else:
            out.append(finding)
    return out


def compute_diff(base: Source, rev: Source) -> RevisionDiff:
    """Raises SourceError, PolicyError (exit 2) and DesiredStateError (the revision cannot be
    published: exit 2 with its reasons)."""
    collecting = gc.isenabled()
    gc.disable()  # as pipeline.validate: a large acyclic tree of parsed documents is being built
    try:
        validation = pipeline.validate(rev, base=base)
        base_repo = validation.base
        assert base_repo is not None
        policies = pipeline.load_policies(base, base_repo.settings.policies)
        base_report = pipeline.check(base_repo, policies, Inputs())
        changes: list[Change] = registry_changes(
            desired_registry(base_repo), desired_registry(validation.repo)
        )
        changes += cluster_changes(base_repo, validation.repo)
    finally:
        if collecting:
            gc.enable()
    return RevisionDiff(
        base=base.revision,
        revision=rev.revision,
        changes=changes,
        introduced=_only_in(validation.report, base_report),
        fixed=_only_in(base_report, validation.report),
        errors=validation.report.errors,
    )
