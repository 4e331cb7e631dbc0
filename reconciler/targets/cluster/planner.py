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
from typing import TYPE_CHECKING, Any, TypeVar

from reconciler.crds.manifests import is_applied
from reconciler.targets.cluster import diff, inventory
from reconciler.targets.cluster.api import RETRYABLE_STATUSES, KubeApi, Resource, Response
from reconciler.targets.cluster.desired import DesiredObject, ObjectKey, build_desired, key_of
from reconciler.targets.cluster.marks import (
    FIELD_MANAGER,
    SOURCE_PATH_ANNOTATION,
    TOOLHIVE_GROUP,
    TOOLHIVE_KINDS,
    TOOLHIVE_VERSION,
    owned_selector,
    owner_of,
    prune_opted_out,
)
from reconciler.targets.cluster.options import ClusterOptions
from reconciler.targets.cluster.plan import (
    CREATE,
    DUPLICATE_RULE,
    OWNER_CONFLICT_RULE,
    PRUNE_REFUSED_RULE,
    UNCHANGED,
    UPDATE,
    ClusterPlan,
    Conflict,
    ObjectPlan,
    Problem,
    PruneCandidate,
)
from reconciler.targets.cluster.unchanged import known_unchanged

if TYPE_CHECKING:
    from reconciler.repository import Repository

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


def list_owned(
    api: KubeApi, resource: Resource, namespaces: Iterable[str], owner: str
) -> list[dict[str, Any]]:
    """Every object of `resource` this repository owns, listed in its own namespaces only (never
    cluster-wide: other repositories' and other teams' namespaces are none of its business)."""
    query = [("labelSelector", owned_selector(owner))]
    if not resource.namespaced:
        response = api.request("GET", resource.collection_path(), query=query)
        if not response.ok:
            raise response.error(f"listing {resource.type_name} on {api.description}")
        return _items(response, resource)
    items: list[dict[str, Any]] = []
    for namespace in sorted(set(namespaces)):
        scoped = api.request("GET", resource.collection_path(namespace), query=query)
        if scoped.status == 404:
            continue  # the namespace does not exist (yet)
        if not scoped.ok:
            raise scoped.error(f"listing {resource.type_name} in {namespace}")
        items += _items(scoped, resource)
    return items


def _items(response: Response, resource: Resource) -> list[dict[str, Any]]:
    # A list's items carry neither apiVersion nor kind; put them back so keys and diffs work.
    items = response.body.get("items") or []
    for item in items:
        item.setdefault("apiVersion", resource.api_version)
        item.setdefault("kind", resource.kind)
    return list(items)


def _get(api: KubeApi, resource: Resource, name: str, namespace: str | None) -> dict[str, Any] | None:
    response = api.request("GET", resource.path(name, namespace))
    if response.status == 404:
        return None
    if not response.ok:
        raise response.error(f"reading {resource.kind} {namespace or ''}/{name} on {api.description}")
    return response.body


def load_live(
    api: KubeApi,
    objects: Sequence[DesiredObject],
    resources: Iterable[Resource],
    namespaces: set[str],
    owner: str,
    workers: int,
) -> tuple[dict[ObjectKey, dict[str, Any]], dict[ObjectKey, tuple[Resource, dict[str, Any]]]]:
    """(live object per desired key, every live object this repository owns with its resource)."""
    owned: dict[ObjectKey, tuple[Resource, dict[str, Any]]] = {}
    for resource in resources:
        for item in list_owned(api, resource, namespaces, owner):
            owned.setdefault(key_of(item), (resource, item))
    live: dict[ObjectKey, dict[str, Any]] = {}
    unlisted: list[DesiredObject] = []
    for obj in objects:
        found = owned.get(obj.key)
        # An owned object listed under another version (v1alpha1 vs v1beta1) is fetched in ours, so
        # both sides of the diff speak the same version.
        if found is not None and found[1].get("apiVersion") == obj.body.get("apiVersion"):
            live[obj.key] = found[1]
        else:
            unlisted.append(obj)

    def fetch(obj: DesiredObject) -> tuple[ObjectKey, dict[str, Any] | None]:
        return obj.key, _get(api, obj.resource, obj.name, obj.namespace)

    for key, body in parallel(fetch, unlisted, workers):
        if body is not None:
            live[key] = body
    return live, owned


# --- the plan ------------------------------------------------------------------------------------------


def make_plan(api: KubeApi, repo: Repository, options: ClusterOptions, owner: str) -> ClusterPlan:
    settings = repo.settings
    prune = options.prune if options.prune is not None else bool(settings.prune.cluster)
    conflicts = options.conflicts or settings.cluster.conflicts
    plan = ClusterPlan(
        cluster=api.description,
        revision=repo.revision,
        owner=owner,
        inventory_namespace=settings.namespace,
        prune_enabled=prune,
        conflicts_mode=conflicts,
        api=api,
    )
    # Only the kinds apply sends (reconciler/crds/manifests.py): the CRD documents themselves are not.
    applied = [d for d in repo.manifests if is_applied(d.data.get("apiVersion"), d.data.get("kind"))]
    desired = build_desired(
        api, applied, settings.namespace, repo.revision, owner, settings.cluster.ignoreFields
    )
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
                    doc.path,
                    doc.line,
                    1,
                    f"{key} is declared twice (first at {first.path}:{first.line})",
                    DUPLICATE_RULE,
                )
            )

    objects = desired.objects
    plan.inventory = inventory.read(api, settings.namespace, owner)
    declared_namespaces = {o.name for o in objects if o.resource.kind == "Namespace"}
    namespaces = (
        {o.namespace for o in objects if o.namespace}
        | {settings.namespace}
        | declared_namespaces
        | {item.namespace for item in plan.inventory if item.namespace}
    )
    live, owned = load_live(
        api, objects, _scanned_resources(api, desired.resources), namespaces, owner, options.workers
    )
    created_namespaces = {o.name for o in objects if o.resource.kind == "Namespace" and o.key not in live}

    # Another repository's object is never taken over: the plan reports it and nothing is applied.
    foreign = {}
    for obj in objects:
        other = owner_of(live[obj.key]) if obj.key in live else None
        if other is not None and other != owner:
            foreign[obj.key] = other
            path, line, column = obj.where()
            plan.problems.append(
                Problem(
                    path,
                    line,
                    column,
                    f"{obj.key} belongs to another repository ({other}); this repository declares it too. "
                    "Remove it from one of them (or give both the same ownership.identity)",
                    OWNER_CONFLICT_RULE,
                )
            )

    # Objects known to be unchanged skip the dry run; the rest (and all of them with verify_all) get one.
    skipped = (
        set() if options.verify_all else {o.key for o in objects if known_unchanged(o.body, live.get(o.key))}
    )
    force = conflicts == "force"

    def check(obj: DesiredObject) -> ObjectPlan | Problem | list[Conflict]:
        if obj.key in skipped:
            return ObjectPlan(obj, UNCHANGED)
        return _dry_run(api, obj, live.get(obj.key), force, created_namespaces)

    for outcome in parallel(check, [o for o in objects if o.key not in foreign], options.workers):
        if isinstance(outcome, ObjectPlan):
            plan.objects.append(outcome)
            plan.conflicts += outcome.conflicts
        elif isinstance(outcome, Problem):
            plan.problems.append(outcome)
        else:  # conflicts with `conflicts: skip`: reported, that object not applied
            plan.conflicts += outcome

    # Prune candidates: what this repository owns (by label, in its namespaces) or applied before (by
    # inventory, even with its labels edited) that it no longer declares.
    desired_keys = {o.key for o in objects}
    candidates = {key: found for key, found in owned.items() if key not in desired_keys}
    for item in sorted(plan.inventory):
        key = ObjectKey(item.api_version.rpartition("/")[0], item.kind, item.namespace, item.name)
        if key in desired_keys or key in candidates:
            continue
        resource = api.resource(item.api_version, item.kind)
        body = None if resource is None else _get(api, resource, item.name, item.namespace or None)
        if resource is None or body is None or owner_of(body) not in (None, owner):
            continue  # gone already, or another repository took it since
        candidates[key] = (resource, body)
    for key, (resource, live_object) in sorted(candidates.items()):
        annotations = (live_object.get("metadata") or {}).get("annotations") or {}
        plan.prune.append(
            PruneCandidate(
                resource, key, annotations.get(SOURCE_PATH_ANNOTATION), prune_opted_out(live_object)
            )
        )
    if prune and not objects and plan.to_delete and not options.allow_empty:
        plan.problems.append(
            Problem(
                "mcp-gitops.yaml",
                0,
                0,
                f"refusing to prune all {len(plan.to_delete)} objects: the repository yields no manifests "
                "(pass --allow-empty if that is intended)",
                PRUNE_REFUSED_RULE,
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
    if response.status in RETRYABLE_STATUSES:
        raise response.error(f"dry run of {obj.key} on {api.description}")
    if response.ok:
        if live is None:
            return ObjectPlan(obj, CREATE, diff.declared_fields(obj.body), conflicts)
        changes = diff.changes(live, response.body)
        # An object marked before ownership was recorded is updated once to carry its owner.
        unowned = owner_of(live) is None
        return ObjectPlan(obj, UPDATE if changes or unowned else UNCHANGED, changes, conflicts)
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
