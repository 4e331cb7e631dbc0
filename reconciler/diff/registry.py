"""Registry changes between two revisions, from the registry target's own desired-state builder.

Versions pair by name@version. An unchanged file has the same digest at both revisions and is skipped
without building its rows, so a one-entry change in a 10,000-entry repository builds rows for one
version; a file that changed is a change only when the rows the registry server would store differ.
"""

from __future__ import annotations

from typing import Any

from reconciler.diff.fields import field_changes
from reconciler.diff.model import NO_CLAIMS, Action, Change
from reconciler.repository import Repository
from reconciler.targets.postgres.desired import DesiredState, EntryItem, VersionSpec, build_desired


def desired_registry(repo: Repository) -> DesiredState:
    """Raises DesiredStateError when the revision cannot be published (what `plan` would refuse).
    The items are those `RegistryInput.from_repository` makes (path, data, file digest), built here
    because that module loads the PostgreSQL client, which `diff` runs without."""
    items: list[EntryItem] = [
        (doc.path, doc.data, f"{doc.digest}#{doc.index}" if doc.digest else None) for doc in repo.entries
    ]
    return build_desired(
        repo.config.data if repo.config is not None else None,
        items,
        repo.settings.registryServer.capabilities(),
    )


def _server(spec: VersionSpec) -> dict[str, Any]:
    return dict(spec.server)


def registry_changes(base: DesiredState, rev: DesiredState) -> list[Change]:
    changes: list[Change] = []
    for kind, old_rows, new_rows in (
        ("source", base.sources, rev.sources),
        ("registry", base.registries, rev.registries),
    ):
        for name in sorted(old_rows.keys() | new_rows.keys()):
            old, new = old_rows.get(name), new_rows.get(name)
            if old == new:
                continue
            fields = field_changes(old.fields() if old else {}, new.fields() if new else {})
            action: Action = "added" if old is None else "removed" if new is None else "changed"
            changes.append(Change("registry", kind, name, action, fields=tuple(fields)))

    for name in sorted(base.entries.keys() | rev.entries.keys()):
        old_entry, new_entry = base.entries.get(name), rev.entries.get(name)
        if old_entry is None or new_entry is None:
            entry = new_entry or old_entry
            assert entry is not None
            entry_action: Action = "added" if old_entry is None else "removed"
            claims = (None, entry.claims) if old_entry is None else (entry.claims, None)
            changes.append(Change("registry", "entry", name, entry_action, entry.claims_path, claims=claims))
        elif old_entry.claims != new_entry.claims:
            changes.append(
                Change(
                    "registry",
                    "entry",
                    name,
                    "changed",
                    new_entry.claims_path,
                    claims=(old_entry.claims, new_entry.claims),
                )
            )
        old_versions = old_entry.versions if old_entry else {}
        new_versions = new_entry.versions if new_entry else {}
        for version in sorted(old_versions.keys() | new_versions.keys()):
            old_spec, new_spec = old_versions.get(version), new_versions.get(version)
            key = f"{name}@{version}"
            if old_spec is None and new_spec is not None:
                fields = field_changes(NO_CLAIMS, _server(new_spec))
                changes.append(Change("registry", "version", key, "added", new_spec.path, tuple(fields)))
            elif new_spec is None and old_spec is not None:
                changes.append(Change("registry", "version", key, "removed", old_spec.path))
            elif old_spec is not None and new_spec is not None and old_spec.digest != new_spec.digest:
                if old_spec.rows == new_spec.rows:
                    continue  # formatting, key order or claims only: nothing for this version's rows
                fields = field_changes(_server(old_spec), _server(new_spec))
                changes.append(Change("registry", "version", key, "changed", new_spec.path, tuple(fields)))
    return changes
