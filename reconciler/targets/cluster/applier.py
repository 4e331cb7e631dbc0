"""Applying a cluster plan: server-side apply of what changes, prune, then status read-back (and wait).

The plan's dry runs already passed for every object, so the apply itself is expected to succeed; an
error now (the cluster changed in between) stops before the next phase and says what was applied.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from reconciler.targets import TargetError
from reconciler.targets.cluster.api import KubeApi, Resource
from reconciler.targets.cluster.desired import ObjectKey, key_of
from reconciler.targets.cluster.marks import TOOLHIVE_KINDS
from reconciler.targets.cluster.options import ClusterOptions
from reconciler.targets.cluster.plan import (
    CREATE,
    UNCHANGED,
    ClusterPlan,
    ClusterPlanError,
    ObjectPlan,
    PruneCandidate,
)
from reconciler.targets.cluster.planner import apply_request, list_marked, parallel
from reconciler.targets.cluster.status import ObjectStatus, StatusReport, read_status

TRACKED_KINDS = frozenset(TOOLHIVE_KINDS)
POLL_INTERVAL_S = 1.0


@dataclass
class ClusterResult:
    target: str = "cluster"
    cluster: str = ""
    revision: str | None = None
    created: list[ObjectPlan] = field(default_factory=list)
    updated: list[ObjectPlan] = field(default_factory=list)
    pruned: list[PruneCandidate] = field(default_factory=list)
    kept: list[PruneCandidate] = field(default_factory=list)
    status: StatusReport = field(default_factory=StatusReport)
    duration_ms: int = 0
    skipped: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.pruned)

    @property
    def ok(self) -> bool:
        """False when --wait ran out of time before every object was Ready."""
        return not self.status.timed_out

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "cluster": self.cluster,
            "revision": self.revision,
            "skipped": self.skipped,
            "outcome": "skipped" if self.skipped else ("applied" if self.changed else "unchanged"),
            "created": [o.to_json() for o in self.created],
            "updated": [o.to_json() for o in self.updated],
            "pruned": [p.to_json() for p in self.pruned],
            "kept": [p.to_json() for p in self.kept],
            "status": [s.to_json() for s in self.status.statuses],
            "waited": self.status.waited,
            "timedOut": self.status.timed_out,
            "duration_ms": self.duration_ms,
        }

    def render_text(self) -> str:
        if self.skipped:
            return f"cluster: skipped: {self.skipped}"
        lines = [f"cluster: {self.cluster}"]
        for item in self.created + self.updated:
            lines += item.render()
        lines += [p.render(True) for p in self.pruned]
        lines += [p.render(False) for p in self.kept]
        if self.changed:
            lines.append(
                f"  applied: {len(self.created)} created, {len(self.updated)} updated, "
                f"{len(self.pruned)} pruned in {self.duration_ms} ms"
            )
        else:
            lines.append(f"  no changes ({self.duration_ms} ms)")
        tracked = [s for s in self.status.statuses if s.tracked]
        if tracked:
            lines.append("  status:")
            lines += ["    " + line for s in tracked for line in s.render().splitlines()]
        if self.status.timed_out:
            names = ", ".join(str(s.key) for s in self.status.not_ready)
            lines.append(f"  timed out waiting for Ready: {names}")
        return "\n".join(lines)


class ClusterApplyError(TargetError):
    """The apply stopped part way; `.result` says what was applied before it did."""

    def __init__(self, message: str, result: ClusterResult) -> None:
        self.result = result
        super().__init__(message)


class ClusterWaitTimeout(TargetError):
    """Applied, but not every object became Ready within --timeout; `.result` has the statuses."""

    def __init__(self, result: ClusterResult) -> None:
        self.result = result
        names = ", ".join(f"{s.key} (phase {s.phase or '-'})" for s in result.status.not_ready)
        super().__init__(f"cluster ({result.cluster}): applied, but not Ready in time: {names}")


def apply_plan(plan: ClusterPlan, options: ClusterOptions) -> ClusterResult:
    started = time.perf_counter()
    result = ClusterResult(cluster=plan.cluster, revision=plan.revision, skipped=plan.skipped)
    if plan.skipped:
        return result
    if plan.has_errors:
        raise ClusterPlanError(plan)
    api = plan.api
    assert api is not None, "a plan that was not skipped has its API handle"

    pending = [o for o in plan.objects if o.action != UNCHANGED]
    for phase in sorted({o.desired.phase for o in pending}):
        batch = [o for o in pending if o.desired.phase == phase]

        def send(item: ObjectPlan) -> str | None:
            response = apply_request(api, item.desired, dry_run=False, force=plan.force_conflicts)
            return None if response.ok else f"{item.key}: {response.message}"

        outcomes = parallel(send, batch, options.workers)
        applied = [o for o, error in zip(batch, outcomes, strict=True) if error is None]
        errors = [error for error in outcomes if error is not None]
        result.created += [o for o in applied if o.action == CREATE]
        result.updated += [o for o in applied if o.action != CREATE]
        if errors:
            result.duration_ms = _ms(started)
            so_far = len(result.created) + len(result.updated)
            raise ClusterApplyError(
                f"cluster ({plan.cluster}): apply failed for {len(errors)} object(s) after the dry run "
                f"passed (the cluster changed in between?); {so_far} applied so far:\n  "
                + "\n  ".join(errors),
                result,
            )

    result.kept = [p for p in plan.prune if p not in plan.to_delete]
    result.pruned = _prune(api, plan.to_delete, options)
    result.status = read_back(api, plan, options)
    result.duration_ms = _ms(started)
    if result.status.timed_out:
        raise ClusterWaitTimeout(result)
    return result


def _prune(api: KubeApi, candidates: list[PruneCandidate], options: ClusterOptions) -> list[PruneCandidate]:
    # Namespaces last: deleting one deletes what it holds, so the rest goes first, one by one.
    ordered = sorted(candidates, key=lambda p: p.key.kind == "Namespace")

    def delete(candidate: PruneCandidate) -> str | None:
        path = candidate.resource.path(candidate.key.name, candidate.key.namespace or None)
        response = api.request(
            "DELETE", path, body={"propagationPolicy": "Background"}, content_type="application/json"
        )
        if response.ok or response.status == 404:
            return None
        return f"{candidate.key}: {response.message}"

    errors = [e for e in parallel(delete, ordered, options.workers) if e]
    if errors:
        raise TargetError("prune failed:\n  " + "\n  ".join(errors))
    return ordered


def read_back(api: KubeApi, plan: ClusterPlan, options: ClusterOptions) -> StatusReport:
    """Status of every declared object; with --wait, polled until all are Ready or time runs out."""
    report = StatusReport(waited=options.wait)
    deadline = time.monotonic() + options.timeout
    while True:
        report.statuses = _statuses(api, plan, options)
        if not options.wait or not report.not_ready:
            return report
        if time.monotonic() >= deadline:
            report.timed_out = True
            return report
        time.sleep(min(POLL_INTERVAL_S, max(deadline - time.monotonic(), 0)))


def _statuses(api: KubeApi, plan: ClusterPlan, options: ClusterOptions) -> list[ObjectStatus]:
    objects = [o.desired for o in plan.objects]
    namespaces = {o.namespace for o in objects if o.namespace}
    resources: dict[tuple[str, str], Resource] = {
        (o.resource.group, o.resource.kind): o.resource for o in objects
    }
    live: dict[ObjectKey, dict[str, Any]] = {}
    for resource in resources.values():
        if resource.kind not in TRACKED_KINDS:
            continue  # untracked kinds have no status to read; skip the request
        for item in list_marked(api, resource, namespaces):
            live[key_of(item)] = item
    statuses = []
    for obj in objects:
        if obj.resource.kind not in TRACKED_KINDS:
            statuses.append(ObjectStatus(obj.key, tracked=False))
        else:
            statuses.append(read_status(obj.key, live.get(obj.key), TRACKED_KINDS))
    return statuses


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
