"""Computing the cluster plan: discovery, live state, one server-side dry run per object, prune candidates.

Every object that may change goes through a dry run, because only the server knows what an apply would
do (defaults, conversions, other managers' fields); objects provably unchanged since our last apply skip
it (unchanged.py). Dry runs go out in parallel.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar

from reconciler.crds.manifests import is_applied
from reconciler.targets import TargetError
from reconciler.targets.cluster import diff
from reconciler.targets.cluster.api import KubeApi, Resource, Response
from reconciler.targets.cluster.desired import DesiredObject, ObjectKey, build_desired, key_of
from reconciler.targets.cluster.marks import (
    FIELD_MANAGER,
    MANAGED_SELECTOR,
    SOURCE_PATH_ANNOTATION,
    TOOLHIVE_GROUP,
    TOOLHIVE_KINDS,
    TOOLHIVE_VERSION,
    is_marked,
    prune_opted_out,
)
from reconciler.targets.cluster.options import ClusterOptions
from reconciler.targets.cluster.plan import (
    CREATE,
    UNCHANGED,
    UPDATE,
    ClusterPlan,
    Conflict,
    ObjectPlan,
    Problem,
    PruneCandidate,
)
from reconciler.targets.cluster.unchanged import known_unchanged

APPLY_PATCH = "application/apply-patch+yaml"
_CONFLICT_MANAGER = re.compile(r'conflict with "([^"]+)"')

T = TypeVar("T")
R = TypeVar("R")


def parallel(func: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    if len(items) <= 1 or workers <= 1:
        return [func(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        return list(pool.map(func, items))


def apply_request(api: KubeApi, obj: DesiredObject, *, dry_run: bool, force: bool) -> Response:
    query = [("fieldManager", FIELD_MANAGER)]
    if dry_run:
        query.append(("dryRun", "All"))
    if force:
        query.append(("force", "true"))
    return api.request(
        "PATCH",
        obj.resource.path(obj.name, obj.namespace),
        query=query,
        body=obj.body,
        content_type=APPLY_PATCH,
    )


# --- live state ----------------------------------------------------------------------------------------


def list_marked(api: KubeApi, resource: Resource, namespaces: Iterable[str]) -> list[dict[str, Any]]:
    """Every object of `resource` that carries our label: cluster-wide, or per namespace when the
    credentials may not list across namespaces (a namespace-scoped service account)."""
    query = [("labelSelector", MANAGED_SELECTOR)]
    response = api.request("GET", resource.collection_path(), query=query)
    if response.status == 403 and resource.namespaced:
        items: list[dict[str, Any]] = []
        for namespace in sorted(set(namespaces)):
            scoped = api.request("GET", resource.collection_path(namespace), query=query)
            if not scoped.ok:
                raise TargetError(f"listing {resource.type_name} in {namespace} failed: {scoped.message}")
            items += _items(scoped, resource)
        return items
    if not response.ok:
        raise TargetError(f"listing {resource.type_name} on {api.description} failed: {response.message}")
    return _items(response, resource)


def _items(response: Response, resource: Resource) -> list[dict[str, Any]]:
    # A list's items carry neither apiVersion nor kind; put them back so keys and diffs work.
    items = response.body.get("items") or []
    for item in items:
        item.setdefault("apiVersion", resource.api_version)
        item.setdefault("kind", resource.kind)
    return list(items)


def load_live(
    api: KubeApi,
    objects: Sequence[DesiredObject],
    resources: Iterable[Resource],
    namespaces: set[str],
    workers: int,
) -> tuple[dict[ObjectKey, dict[str, Any]], dict[ObjectKey, tuple[Resource, dict[str, Any]]]]:
    """(live object per desired key, every marked live object with its resource)."""
    marked: dict[ObjectKey, tuple[Resource, dict[str, Any]]] = {}
    for resource in resources:
        for item in list_marked(api, resource, namespaces):
            marked.setdefault(key_of(item), (resource, item))
    live: dict[ObjectKey, dict[str, Any]] = {}
    unlisted: list[DesiredObject] = []
    for obj in objects:
        found = marked.get(obj.key)
        # A marked object listed under another version (v1alpha1 vs v1beta1) is fetched in ours, so
        # both sides of the diff speak the same version.
        if found is not None and found[1].get("apiVersion") == obj.body.get("apiVersion"):
            live[obj.key] = found[1]
        else:
            unlisted.append(obj)

    def fetch(obj: DesiredObject) -> tuple[ObjectKey, dict[str, Any] | None]:
        response = api.request("GET", obj.resource.path(obj.name, obj.namespace))
        if response.status == 404:
            return obj.key, None
        if not response.ok:
            raise TargetError(f"reading {obj.key} on {api.description} failed: {response.message}")
        return obj.key, response.body

    for key, body in parallel(fetch, unlisted, workers):
        if body is not None:
            live[key] = body
    return live, marked


# --- the plan ------------------------------------------------------------------------------------------


def make_plan(api: KubeApi, repo: Any, options: ClusterOptions) -> ClusterPlan:
    settings = repo.settings
    prune = options.prune if options.prune is not None else bool(settings.prune.cluster)
    plan = ClusterPlan(
        cluster=api.description,
        revision=repo.revision,
        prune_enabled=prune,
        force_conflicts=options.force_conflicts,
        api=api,
    )
    applied = [d for d in repo.manifests if is_applied(d.data.get("apiVersion"), d.data.get("kind"))]
    desired = build_desired(api, applied, settings.namespace, repo.revision)
    if desired.missing_kinds:
        # Reported before any request that could change the cluster; the rest is not dry-run.
        plan.missing_kinds = {
            kind: [(doc.path, doc.line) for doc in docs] for kind, docs in desired.missing_kinds.items()
        }
        return plan
    for key, docs in desired.duplicates.items():
        first = docs[0]
        for doc in docs[1:]:
            plan.problems.append(
                Problem(
                    doc.path, doc.line, 1, f"{key} is declared twice (first at {first.path}:{first.line})"
                )
            )

    objects = desired.objects
    namespaces = {o.namespace for o in objects if o.namespace} | {settings.namespace}
    live, marked = load_live(
        api, objects, _scanned_resources(api, desired.resources), namespaces, options.workers
    )
    created_namespaces = {o.name for o in objects if o.resource.kind == "Namespace" and o.key not in live}

    # Objects known to be unchanged skip the dry run; the rest (and all of them with verify_all) get one.
    skipped = (
        set() if options.verify_all else {o.key for o in objects if known_unchanged(o.body, live.get(o.key))}
    )

    def check(obj: DesiredObject) -> ObjectPlan | Problem | list[Conflict]:
        if obj.key in skipped:
            return ObjectPlan(obj, UNCHANGED)
        return _dry_run(api, obj, live.get(obj.key), options.force_conflicts, created_namespaces)

    for outcome in parallel(check, objects, options.workers):
        if isinstance(outcome, ObjectPlan):
            plan.objects.append(outcome)
            plan.conflicts += outcome.conflicts
        elif isinstance(outcome, Problem):
            plan.problems.append(outcome)
        else:  # conflicts without --force-conflicts: reported, not applied
            plan.conflicts += outcome

    # Prune looks only in the namespaces this repository uses (its objects', the default one, those it
    # creates), so another repository's objects in other namespaces are never taken for ours.
    scope = namespaces | {o.name for o in objects if o.resource.kind == "Namespace"}
    desired_keys = {o.key for o in objects}
    for key, (resource, item) in sorted(marked.items()):
        if key in desired_keys or not is_marked(item) or (key.namespace and key.namespace not in scope):
            continue
        annotations = (item.get("metadata") or {}).get("annotations") or {}
        plan.prune.append(
            PruneCandidate(resource, key, annotations.get(SOURCE_PATH_ANNOTATION), prune_opted_out(item))
        )
    if prune and not objects and plan.to_delete and not options.allow_empty:
        plan.problems.append(
            Problem(
                "mcp-gitops.yaml",
                0,
                0,
                f"refusing to prune all {len(plan.to_delete)} objects: the repository yields no manifests "
                "(pass --allow-empty if that is intended)",
            )
        )
    return plan


def _scanned_resources(api: KubeApi, resources: list[Resource]) -> list[Resource]:
    """Kinds to look for our objects in: those the repository uses, plus the ToolHive kinds (so a kind
    whose last manifest was removed is still found for prune)."""
    scanned = {(r.group, r.kind): r for r in resources}
    for kind in TOOLHIVE_KINDS:
        if (TOOLHIVE_GROUP, kind) not in scanned:
            resource = api.resource(f"{TOOLHIVE_GROUP}/{TOOLHIVE_VERSION}", kind)
            if resource is not None:
                scanned[(TOOLHIVE_GROUP, kind)] = resource
    return list(scanned.values())


def _dry_run(
    api: KubeApi,
    obj: DesiredObject,
    live: dict[str, Any] | None,
    force: bool,
    created_namespaces: set[str],
) -> ObjectPlan | Problem | list[Conflict]:
    response = apply_request(api, obj, dry_run=True, force=False)
    conflicts = _conflicts(obj, response)
    if conflicts:
        if not force:
            return conflicts
        conflicts = [replace(c, forced=True) for c in conflicts]
        response = apply_request(api, obj, dry_run=True, force=True)
    if response.ok:
        if live is None:
            return ObjectPlan(obj, CREATE, diff.declared_fields(obj.body), conflicts)
        changes = diff.changes(live, response.body)
        return ObjectPlan(obj, UPDATE if changes else UNCHANGED, changes, conflicts)
    details = response.body.get("details") or {}
    if response.status == 404 and details.get("kind") == "namespaces" and obj.namespace in created_namespaces:
        # The namespace comes with this apply, so the server cannot check the object yet.
        return ObjectPlan(obj, CREATE, diff.declared_fields(obj.body), unchecked=True)
    return _problem(obj, response)


def _conflicts(obj: DesiredObject, response: Response) -> list[Conflict]:
    if response.status != 409:
        return []
    found = []
    for cause in response.causes:
        if cause.get("reason") != "FieldManagerConflict":
            continue
        field_path = str(cause.get("field", "")).lstrip(".")
        match = _CONFLICT_MANAGER.search(str(cause.get("message", "")))
        path, line, column = _where(obj, field_path)
        found.append(Conflict(obj.key, field_path, match.group(1) if match else "?", path, line, column))
    return found


def _problem(obj: DesiredObject, response: Response) -> Problem:
    """A failed dry run, placed at the first field the server names (or at the object)."""
    fields = [str(c.get("field", "")).lstrip(".") for c in response.causes if c.get("field")]
    path, line, column = _where(obj, fields[0] if fields else None)
    return Problem(path, line, column, f"{obj.key}: {response.message}")


def _where(obj: DesiredObject, field_path: str | None) -> tuple[str, int, int]:
    if not field_path:
        return obj.where()
    try:
        return obj.where(field_path)
    except Exception:  # server field paths ("spec.x[name=\"a\"]") may not parse as ours; the object will do
        return obj.where()
