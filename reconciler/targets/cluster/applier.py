"""Applying a cluster plan: server-side apply of what changes, prune, then status read-back (and wait).

The plan's dry runs already passed for every object, so the apply itself is expected to succeed. A
failure now (the cluster changed in between, the API server went away) stops before the next phase; the
result lists exactly which objects were applied and which were not, and the inventory records the
applied ones, so the next run completes the rest and prunes correctly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from reconciler.targets import TargetError
from reconciler.targets.cluster import inventory
from reconciler.targets.cluster.api import KubeApi, Resource
from reconciler.targets.cluster.desired import ObjectKey, key_of
from reconciler.targets.cluster.inventory import InventoryItem
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
from reconciler.targets.cluster.planner import apply_request, list_owned, parallel
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
    # objects the plan would change that were not applied because the apply stopped part way
    not_applied: list[ObjectPlan] = field(default_factory=list)
    pruned: list[PruneCandidate] = field(default_factory=list)
    kept: list[PruneCandidate] = field(default_factory=list)
    status: StatusReport = field(default_factory=StatusReport)
    duration_ms: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.pruned)

    @property
    def drift(self) -> int:
        changed = len(self.created) + len(self.updated) + len(self.pruned)
        return changed + len(self.not_applied) + len(self.kept)

    def summary(self) -> dict[str, Any]:
        return {
            "outcome": "applied" if self.changed else "unchanged",
            "created": len(self.created),
            "updated": len(self.updated),
            "pruned": len(self.pruned),
            "notApplied": len(self.not_applied),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "cluster": self.cluster,
            "revision": self.revision,
            "outcome": "applied" if self.changed else "unchanged",
            "created": [o.to_json() for o in self.created],
            "updated": [o.to_json() for o in self.updated],
            "notApplied": [o.to_json() for o in self.not_applied],
            "pruned": [p.to_json() for p in self.pruned],
            "kept": [p.to_json() for p in self.kept],
            "status": [s.to_json() for s in self.status.statuses],
            "waited": self.status.waited,
            "timedOut": self.status.timed_out,
            "duration_ms": self.duration_ms,
        }

    def render_text(self) -> str:
        lines = [f"cluster: {self.cluster}"]
        for item in self.created + self.updated:
            lines += item.render()
        if self.not_applied:
            lines.append(f"  NOT applied ({len(self.not_applied)}; the next run applies them):")
            for item in self.not_applied:
                path, line, _ = item.desired.where()
                lines.append(f"    ! {item.key} ({path}:{line})")
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
        super().__init__(message, retryable=True, reason="ApplyInterrupted", partial=result)


class ClusterWaitTimeout(TargetError):
    """Applied, but not every object became Ready within --timeout; `.result` has the statuses."""

    def __init__(self, result: ClusterResult) -> None:
        self.result = result
        names = ", ".join(f"{s.key} (phase {s.phase or '-'})" for s in result.status.not_ready)
        super().__init__(
            f"cluster ({result.cluster}): applied, but not Ready in time: {names}",
            reason="NotReady",
            partial=result,
        )


def apply_plan(plan: ClusterPlan, options: ClusterOptions) -> ClusterResult:
    started = time.perf_counter()
    result = ClusterResult(cluster=plan.cluster, revision=plan.revision)
    if plan.has_errors:
        raise ClusterPlanError(plan)
    api = plan.api
    assert api is not None, "a plan from make_plan has its API handle"

    pending = [o for o in plan.objects if o.action != UNCHANGED]
    force = plan.conflicts_mode == "force"
    errors: list[str] = []
    for phase in sorted({o.desired.phase for o in pending}):
        batch = [o for o in pending if o.desired.phase == phase]

        def send(item: ObjectPlan) -> str | None:
            try:
                response = apply_request(api, item.desired, dry_run=False, force=force)
            except TargetError as exc:  # the API server went away mid-apply
                return f"{item.key}: {exc}"
            return None if response.ok else f"{item.key}: {response.message}"

        outcomes = parallel(send, batch, options.workers)
        applied = [o for o, error in zip(batch, outcomes, strict=True) if error is None]
        errors = [error for error in outcomes if error is not None]
        result.created += [o for o in applied if o.action == CREATE]
        result.updated += [o for o in applied if o.action != CREATE]
        if errors:
            break
    if errors:
        done = {o.key for o in result.created + result.updated}
        result.not_applied = [o for o in pending if o.key not in done]
        result.duration_ms = _ms(started)
        try:
            _record_inventory(api, plan, done, complete=False)
        except TargetError as exc:  # the applied objects carry the ownership label: still found
            errors.append(f"inventory not updated: {exc}")
        raise ClusterApplyError(
            f"cluster ({plan.cluster}): apply stopped part way; {len(done)} of {len(pending)} object(s) "
            f"applied, {len(result.not_applied)} not (the next run applies them):\n  " + "\n  ".join(errors),
            result,
        )

    result.kept = [p for p in plan.prune if p not in plan.to_delete]
    result.pruned = _prune(api, plan.to_delete, options)
    try:
        _record_inventory(api, plan, {o.key for o in pending}, complete=True)
    except TargetError as exc:
        # Everything was applied; without the inventory, prune still finds the objects by their labels.
        # Said loudly (and retried) rather than lost: the namespace or the rights need fixing.
        result.duration_ms = _ms(started)
        raise ClusterApplyError(
            f"cluster ({plan.cluster}): applied, but the inventory was not written: {exc}", result
        ) from None
    result.status = read_back(api, plan, options)
    result.duration_ms = _ms(started)
    if result.status.timed_out:
        raise ClusterWaitTimeout(result)
    return result


def _record_inventory(api: KubeApi, plan: ClusterPlan, applied: set[ObjectKey], complete: bool) -> None:
    """After a complete apply: every declared object plus what was kept from prune. After a partial one:
    the previous inventory plus what was applied, so nothing this repository wrote is ever forgotten."""
    items = {_item(o.desired.body) for o in plan.objects if complete or o.key in applied}
    if complete:
        kept = {p.key for p in plan.prune if p not in plan.to_delete}
        items |= {i for i in plan.inventory if _key(i) in kept}
    else:
        items |= plan.inventory
    if items != plan.inventory:
        inventory.write(api, plan.inventory_namespace, plan.owner, items)


def _item(body: dict[str, Any]) -> InventoryItem:
    meta = body.get("metadata") or {}
    namespace = meta.get("namespace") or ""
    return InventoryItem(str(body.get("apiVersion")), str(body.get("kind")), namespace, meta["name"])


def _key(item: InventoryItem) -> ObjectKey:
    return ObjectKey(item.api_version.rpartition("/")[0], item.kind, item.namespace, item.name)


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
        raise TargetError("prune failed:\n  " + "\n  ".join(errors), retryable=True, reason="PruneFailed")
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
        for item in list_owned(api, resource, namespaces, plan.owner):
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
