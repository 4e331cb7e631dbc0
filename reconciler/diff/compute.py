"""Two revisions compared: their registry and cluster changes, and the findings the change introduces
or fixes (`compute_diff`)."""

from __future__ import annotations

import gc
from collections import Counter

from reconciler import pipeline
from reconciler.diff.cluster import cluster_changes
from reconciler.diff.findings import base_report
from reconciler.diff.model import Change, RevisionDiff
from reconciler.diff.registry import desired_registry, registry_changes
from reconciler.findings import Finding, Report
from reconciler.repository import Repository, load_repository
from reconciler.source import Source
from reconciler.targets.postgres.desired import DesiredState
from reconciler.targets.postgres.errors import DesiredStateError


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
    """Raises SourceError and PolicyError (exit 2). A revision whose registry state cannot be built
    (what `plan` would refuse) is a problem of the diff, reported with its reasons."""
    collecting = gc.isenabled()
    gc.disable()  # as pipeline.validate: a large acyclic tree of parsed documents is being built
    try:
        validation = pipeline.validate(rev)
        base_repo = load_repository(base, reuse=validation.repo)
        policies = pipeline.load_policies(base, base_repo.settings.policies)
        base_findings = base_report(base_repo, validation, policies)
        problems: list[str] = []
        states = [
            _registry_state(repo, which, problems)
            for repo, which in ((base_repo, "base"), (validation.repo, "revision"))
        ]
        changes: list[Change] = []
        if states[0] is not None and states[1] is not None:
            changes += registry_changes(states[0], states[1])
        changes += cluster_changes(base_repo, validation.repo)
    finally:
        if collecting:
            gc.enable()
    return RevisionDiff(
        base=base.revision,
        revision=rev.revision,
        changes=changes,
        introduced=_only_in(validation.report, base_findings),
        fixed=_only_in(base_findings, validation.report),
        errors=validation.report.errors,
        problems=problems,
    )


def _registry_state(repo: Repository, which: str, problems: list[str]) -> DesiredState | None:
    try:
        return desired_registry(repo)
    except DesiredStateError as exc:
        problems.append(f"registry changes not computed: at the {which}, {exc}")
        return None
