"""Desired state against live state: which rows to create, update or delete.

Only rows recorded in our inventory are updated or deleted. Versions are compared by the digest of their
server.json; the rows of a version are derived only when it is new or its digest changed, which keeps a
plan over 10,000 unchanged entries to digests and one inventory read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reconciler.targets.postgres import live as live_state
from reconciler.targets.postgres.changes import Bookkeeping, Change, Diff, OwnerConflict
from reconciler.targets.postgres.desired import DesiredState, RegistryRow, SourceRow
from reconciler.targets.postgres.errors import LiveStateError
from reconciler.targets.postgres.live import LiveState
from reconciler.targets.postgres.schema import SchemaKind
from reconciler.targets.postgres.versions import newest

MAX_NAMES_IN_MESSAGE = 10
# Live claims that differ from what we wrote: a registry server restart resets them to the source's
# config claims (PropagateSourceClaimsToEntries), and the claims API can change them; Git wins.
DRIFTED_CLAIMS = (
    "claims changed in the database since mcp-gitops wrote them (a registry server restart resets them to "
    "the managed source's claims, or they were changed through its API); restoring the repository's claims"
)


@dataclass(frozen=True)
class PlanOptions:
    prune: bool = False
    allow_empty: bool = False
    revision: str | None = None


def _names(names: list[str]) -> str:
    shown = ", ".join(sorted(names)[:MAX_NAMES_IN_MESSAGE])
    return shown + (
        f" and {len(names) - MAX_NAMES_IN_MESSAGE} more" if len(names) > MAX_NAMES_IN_MESSAGE else ""
    )


def check_live(desired: DesiredState, live: LiveState) -> None:
    """Refuse what the registry server itself would refuse, and names we do not own."""
    managed = desired.managed_source
    if managed is not None:
        others = {n: c for n, c in live.managed_sources.items() if n != managed}
        if others:
            name, ctype = sorted(others.items())[0]
            raise LiveStateError(
                f"the database already holds managed source {name!r} (creation_type {ctype}) while the "
                f"registry config declares {managed!r}; ToolHive Registry Server allows one managed source "
                f"and refuses to start in this state too. Remove {name!r} or declare it in the config."
            )
        existing = live.sources.get(managed)
        if existing is not None and existing.fields["source_type"] != "managed":
            raise LiveStateError(
                f"source {managed!r} exists in the database as a {existing.fields['source_type']} source, "
                f"but the registry config declares it managed"
            )
    api_made = [n for n in desired.sources if n in live.sources and live.sources[n].creation_type == "API"]
    api_made += [
        n for n in desired.registries if n in live.registries and live.registries[n].creation_type == "API"
    ]
    if api_made:
        raise LiveStateError(
            f"the config declares {_names(api_made)}, which exist in the database created through the "
            f"registry server's API; mcp-gitops does not take over rows it did not create"
        )


def _repository(owner: str) -> str:
    return f"another repository ({owner})" if owner else "another repository (naming no ownership.identity)"


def entry_conflicts(desired: DesiredState, live: LiveState) -> list[OwnerConflict]:
    """Entries the repository declares that another repository or the registry server's API owns."""
    managed = desired.managed_source
    conflicts = []
    for name in sorted(n for n in desired.entries if n in live.foreign_entries):
        owner = live.foreign_entries[name]
        by = (
            f"owned by {_repository(owner)}"
            if owner is not None
            else "published through the registry server's API, not by mcp-gitops"
        )
        conflicts.append(
            OwnerConflict(
                desired.entries[name].claims_path,
                f"entry {name} already exists in managed source {managed!r}, {by}; it is not written. "
                "Drop it from this repository, or remove it there",
            )
        )
    return conflicts


def _diff_rows(
    kind: Any,
    desired: dict[str, SourceRow] | dict[str, RegistryRow],
    live: LiveState,
    prune: bool,
) -> tuple[list[Change], list[OwnerConflict]]:
    """Config rows are shared by every repository of the managed source: one created by another
    repository is left as it is when declared alike, and a conflict when declared otherwise. Rows this
    repository created are pruned only while no other repository owns entries."""
    live_rows: dict[str, Any] = live.sources if kind == "source" else live.registries
    owned = live.owned_sources if kind == "source" else live.owned_registries
    changes: list[Change] = []
    conflicts: list[OwnerConflict] = []
    for name, row in desired.items():
        current = live_rows.get(name)
        if current is None:
            changes.append(Change("create", kind, name))
            continue
        wanted = row.fields()
        changed = [k for k, v in wanted.items() if current.fields.get(k) != v]
        other = live.others_config.get((kind, name))
        if changed and other is not None:
            conflicts.append(
                OwnerConflict(
                    None,
                    f"{kind} {name!r} was written by {_repository(other)} with other values "
                    f"({', '.join(changed)}); this repository writes no config rows until both declare "
                    "it alike",
                )
            )
        elif changed:
            changes.append(Change("update", kind, name, fields=changed, row_id=current.id))
    for name, row_id in owned.items():
        if name in desired or name not in live_rows:
            continue
        if prune and not live.others_own_entries:
            changes.append(Change("delete", kind, name, row_id=row_id))
        elif prune:
            changes.append(
                Change("keep", kind, name, note="left the config, but another repository owns entries here")
            )
        else:
            changes.append(Change("keep", kind, name, note="left the config; --prune deletes it"))
    return changes, conflicts


def _guard_source_deletes(conn: Any, changes: list[Change], own: str) -> list[Change]:
    """Deleting a source cascades to every entry in it and must unlink it from every registry: keep a
    source this repository created when rows it does not own (`own`, a condition on alias `o`) still
    depend on it."""
    for change in changes:
        if change.kind != "source" or change.action != "delete":
            continue
        entries, registries = conn.execute(
            "SELECT (SELECT count(*) FROM registry_entry e WHERE e.source_id = %(id)s AND NOT EXISTS"
            f"   (SELECT 1 FROM mcp_gitops.owned_entry o WHERE o.entry_id = e.id AND {own})),"
            " (SELECT count(*) FROM registry_source rs WHERE rs.source_id = %(id)s AND NOT EXISTS"
            f"   (SELECT 1 FROM mcp_gitops.owned_registry o WHERE o.registry_id = rs.registry_id AND {own}))",
            {"id": change.row_id},
        ).fetchone()
        if entries or registries:
            change.action = "keep"
            change.note = (
                f"left the config, but {entries} entries and {registries} registries mcp-gitops did not "
                "create depend on it"
            )
    return changes


# Child rows in the order of their keys, so stored and desired lists pair item by item when shown.
_ROW_KEYS = {
    "packages": ("registry_type", "pkg_identifier", "transport"),
    "remotes": ("transport", "transport_url"),
    "icons": ("source_uri", "mime_type", "theme"),
}


def _in_key_order(name: str, value: Any) -> Any:
    keys = _ROW_KEYS.get(name)
    if keys is None or not isinstance(value, list):
        return value
    return sorted(value, key=lambda row: tuple(str(row.get(k)) for k in keys))


def compute(conn: Any, desired: DesiredState, live: LiveState, options: PlanOptions) -> Diff:
    check_live(desired, live)
    changes: list[Change] = []
    if live.schema.kind is SchemaKind.EMPTY:
        changes.append(
            Change(
                "create",
                "schema",
                f"ToolHive Registry Server {desired.server.version} tables (migration {live.schema.version})",
            )
        )
    source_changes, conflicts = _diff_rows("source", desired.sources, live, options.prune)
    registry_changes, registry_conflicts = _diff_rows("registry", desired.registries, live, options.prune)
    conflicts += registry_conflicts
    if conflicts:
        # a config another repository wrote otherwise: none of this one's config rows are written
        source_changes = [c for c in source_changes if c.action == "keep"]
        registry_changes = [c for c in registry_changes if c.action == "keep"]
    changes += _guard_source_deletes(conn, source_changes, live.own)
    changes += registry_changes
    conflicts += entry_conflicts(desired, live)

    if live.settled:
        bookkeeping = Bookkeeping(revision_changed=options.revision != live.last_revision)
        managed = live.managed_source_id(desired.managed_source)
        return Diff(desired, changes, bookkeeping, managed, {}, {}, conflicts)

    owned_live_entries = {n for n, e in live.owned_entries.items() if not e.missing}
    if options.prune and not desired.entries and owned_live_entries and not options.allow_empty:
        raise LiveStateError(
            f"the repository yields no entries while the database holds {len(owned_live_entries)} written by "
            f"mcp-gitops; refusing to prune them all (pass --allow-empty if that is intended)"
        )

    # With the same Git revision applied before, contents cannot differ (only presence can).
    trust_revision = options.revision is not None and options.revision == live.last_revision
    bookkeeping = Bookkeeping(revision_changed=options.revision != live.last_revision)
    version_changes: list[Change] = []
    touched_names: set[str] = set()

    # Entries whose recorded digest equals the repository's, untouched since, are not compared row by
    # row: only the others' inventory is read.
    compared = [
        name
        for name, owned in live.owned_entries.items()
        if name not in desired.entries or not (owned.missing or owned.unchanged(desired.entries[name].digest))
    ]
    live_state.load_versions(conn, live, compared)
    compared_names = set(compared)

    for name, entry in desired.entries.items():
        if name in live.foreign_entries:
            continue  # a conflict (above)
        owned = live.owned_entries.get(name)
        if owned is None or owned.missing:
            changes.append(
                Change("create", "entry", name, after=entry.claims, path=entry.claims_path, entry=entry)
            )
            touched_names.add(name)
            for version, spec in entry.versions.items():
                version_changes.append(Change("create", "version", name, version, path=spec.path, spec=spec))
            bookkeeping.entry_digests[name] = entry.digest
            continue
        if name not in compared_names:
            continue
        if owned.drifted or owned.claims_digest != entry.claims_digest:
            changes.append(
                Change(
                    "update",
                    "entry",
                    name,
                    fields=["claims"],
                    after=entry.claims,
                    path=entry.claims_path,
                    entry=entry,
                    row_id=owned.entry_id,
                    note=DRIFTED_CLAIMS if owned.drifted else None,
                )
            )
        for version, spec in entry.versions.items():
            have = live.owned_versions.get((name, version))
            if have is None or have.missing:
                version_changes.append(Change("create", "version", name, version, path=spec.path, spec=spec))
                touched_names.add(name)
            elif trust_revision:
                continue
            elif have.digest != spec.digest:
                version_changes.append(Change("update", "version", name, version, path=spec.path, spec=spec))

    for (name, version), have in live.owned_versions.items():
        entry_spec = desired.entries.get(name)
        if have.missing or (entry_spec is not None and version in entry_spec.versions):
            continue
        if options.prune:
            version_changes.append(Change("delete", "version", name, version))
            touched_names.add(name)
        else:
            version_changes.append(
                Change("keep", "version", name, version, note="left the repository; --prune deletes it")
            )

    # What the inventory of each compared entry holds once written; an entry keeping versions the
    # repository dropped holds more than its digest says, and is compared again next time.
    kept = {c.name for c in version_changes if c.action == "keep"}
    for name in compared:
        entry_spec = desired.entries.get(name)
        if entry_spec is not None:
            recorded = None if name in kept else entry_spec.digest
            if recorded != live.owned_entries[name].digest:
                bookkeeping.entry_digests[name] = recorded

    # Row ids (to write) and recorded paths (to show) of the versions that changed or left.
    recorded_rows = live_state.version_rows_of(
        conn, [(c.name, c.version or "") for c in version_changes if c.action != "create"]
    )
    for change in version_changes:
        if change.action != "create":
            row_id, path = recorded_rows[(change.name, change.version or "")]
            change.row_id = row_id
            change.path = change.path or path

    # The versions whose file changed: their stored values name the fields that changed (and are what
    # a reviewer is shown beside the new ones); a file change that changes no row (reformatting) is
    # bookkeeping only.
    updated = [c for c in version_changes if c.action == "update" and c.spec is not None and c.row_id]
    stored = live_state.field_values(conn, [c.row_id for c in updated if c.row_id is not None])
    for change in updated:
        assert change.spec is not None and change.row_id is not None
        groups, now = change.spec.rows.field_groups(), stored.get(change.row_id, {})
        before = {name: _in_key_order(name, now.get(name)) for name in groups}
        after = {name: _in_key_order(name, value) for name, value in groups.items()}
        change.fields = [name for name in groups if before[name] != after[name]]
        if not change.fields:
            change.action = "keep"
            bookkeeping.refresh.append(change.spec)
        change.before = {name: before[name] for name in change.fields}
        change.after = {name: after[name] for name in change.fields}
    changes += [c for c in version_changes if not (c.action == "keep" and c.note is None)]

    # Entries that lose their last owned version.
    for name, owned in live.owned_entries.items():
        if name in desired.entries or owned.missing:
            continue
        if options.prune:
            changes.append(Change("delete", "entry", name, row_id=owned.entry_id))
        else:
            changes.append(Change("keep", "entry", name, note="left the repository; --prune deletes it"))

    # The claims a plan shows as "before" are read only for the entries it names.
    shown = [c for c in changes if c.kind == "entry" and c.action in ("update", "delete") and c.row_id]
    current_claims = live_state.claims_of(conn, [c.row_id for c in shown if c.row_id is not None])
    for change in shown:
        change.before = current_claims.get(change.row_id) if change.row_id else None
    # A drift back to what the repository says is no change at all.
    changes = [c for c in changes if not (c.kind == "entry" and c.action == "update" and c.before == c.after)]

    managed_id = live.managed_source_id(desired.managed_source)
    touched_names |= live.latest_missing & set(desired.entries)
    present, current_latest = (
        live_state.versions_of(conn, managed_id, sorted(touched_names)) if managed_id else ({}, {})
    )
    changes += _latest_changes(touched_names, version_changes, present, current_latest)
    return Diff(desired, changes, bookkeeping, managed_id, present, current_latest, conflicts)


def _latest_changes(
    names: set[str],
    version_changes: list[Change],
    present: dict[str, dict[str, Any]],
    current: dict[str, str],
) -> list[Change]:
    after: dict[str, set[str]] = {n: set(present.get(n, {})) for n in names}
    for change in version_changes:
        if change.name not in after:
            continue
        if change.action == "create":
            after[change.name].add(change.version or "")
        elif change.action == "delete":
            after[change.name].discard(change.version or "")
    out: list[Change] = []
    for name in sorted(names):
        old = current.get(name)
        # A deleted latest version takes its pointer with it (ON DELETE CASCADE): start afresh then.
        start = old if old in after[name] else None
        new = newest(after[name], start)
        if new is None or new == old:
            continue
        out.append(Change("create" if old is None else "update", "latest", name, before=old, after=new))
    return out
