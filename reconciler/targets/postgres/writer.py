"""Executes a Diff inside the caller's transaction: registry rows first, then our inventory.

Bulk rows go through COPY (a first apply of 10,000 entries is mostly COPY); ids are made here, so no
round trip waits for a RETURNING. Children of an updated version (packages, remotes, icons) are replaced,
while the version row itself is updated in place so its id, created_at and the latest pointer survive.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterable
from typing import Any

from psycopg.types.json import Jsonb

from reconciler.targets.postgres.changes import Change, Diff
from reconciler.targets.postgres.desired import VersionSpec, row_json

Hook = Callable[[str], None]


def _copy(cur: Any, table: str, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> None:
    rows = list(rows)
    if not rows:
        return
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


PACKAGE_COLUMNS = (
    "server_id",
    "registry_type",
    "pkg_registry_url",
    "pkg_identifier",
    "pkg_version",
    "runtime_hint",
    "runtime_arguments",
    "package_arguments",
    "sha256_hash",
    "transport",
    "transport_url",
    "env_vars",
    "transport_headers",
)
REMOTE_COLUMNS = ("server_id", "transport", "transport_url", "transport_headers")
ICON_COLUMNS = ("server_id", "source_uri", "mime_type", "theme")
# field group (VersionRows.field_groups) -> the table of its rows below mcp_server, in child_rows order
CHILD_TABLES = (
    ("packages", "mcp_server_package", PACKAGE_COLUMNS),
    ("remotes", "mcp_server_remote", REMOTE_COLUMNS),
    ("icons", "mcp_server_icon", ICON_COLUMNS),
)
ALL_CHILDREN = frozenset(group for group, _, _ in CHILD_TABLES)
# the field groups stored in the mcp_server row itself
SERVER_FIELDS = frozenset(("website", "meta", "repository"))


def child_rows(
    vid: uuid.UUID, spec: VersionSpec
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The package, remote and icon rows of one version, in the column order above (the rows are
    built in that order, values encoded: only the key is added here)."""
    rows = spec.rows
    return (
        [(vid, *p) for p in rows.packages],
        [(vid, *r) for r in rows.remotes],
        [(vid, *i) for i in rows.icons],
    )


class Writer:
    def __init__(
        self, conn: Any, diff: Diff, revision: str | None, hook: Hook | None = None, owner: str = ""
    ) -> None:
        self.conn = conn
        # the repository identity every inventory row written is recorded under
        self.owner = owner
        self.cur = conn.cursor()
        self.diff = diff
        self.revision = revision
        self.hook = hook or (lambda phase: None)
        self.source_ids: dict[str, uuid.UUID] = {}
        self.registry_ids: dict[str, uuid.UUID] = {}
        self.entry_ids: dict[str, uuid.UUID] = {}
        self.version_ids: dict[tuple[str, str], uuid.UUID] = {}
        # claims of the entries created, as encoded for registry_entry: the inventory records the same text
        self.created_claims: dict[str, str | None] = {}

    def by(self, kind: str, action: str) -> list[Change]:
        return [c for c in self.diff.changes if c.kind == kind and c.action == action]

    def write(self) -> None:
        self._sources_and_registries()
        self.hook("config")
        managed_id = self.diff.managed_source_id or self.source_ids.get(
            self.diff.desired.managed_source or ""
        )
        self._version_deletes()
        self._entries(managed_id)
        self.hook("entries")
        self._version_updates()
        self._version_creates()
        self.hook("versions")
        self._entry_deletes()
        self._latest(managed_id)
        self._inventory()
        self.hook("bookkeeping")

    # --- sources and registries (a handful of rows) ---

    def _sources_and_registries(self) -> None:
        desired = self.diff.desired
        for change in self.by("registry", "delete"):
            self.cur.execute("DELETE FROM registry WHERE id = %s", [change.row_id])
        for change in self.by("source", "delete"):
            # registry_source RESTRICTs deleting a source still linked into a registry we do not own.
            self.cur.execute("DELETE FROM registry_source WHERE source_id = %s", [change.row_id])
            self.cur.execute("DELETE FROM source WHERE id = %s", [change.row_id])
        live_sources = {c.name: c.row_id for c in self.by("source", "update")}
        for name, row in desired.sources.items():
            values = [
                row.source_type,
                row_json(row.source_config),
                row_json(row.filter_config),
                None if row.sync_seconds is None else f"{row.sync_seconds} seconds",
                row.syncable,
                row_json(row.claims),
            ]
            if name in live_sources:
                self.cur.execute(
                    "UPDATE source SET source_type = %s, source_config = %s, filter_config = %s,"
                    " sync_schedule = %s::interval, syncable = %s, claims = %s, updated_at = now()"
                    " WHERE id = %s",
                    [*values, live_sources[name]],
                )
        for change in self.by("source", "create"):
            row = desired.sources[change.name]
            sid = uuid.uuid4()
            self.source_ids[row.name] = sid
            self.cur.execute(
                "INSERT INTO source (id, name, creation_type, source_type, source_config, filter_config,"
                " sync_schedule, syncable, claims)"
                " VALUES (%s, %s, 'CONFIG', %s, %s, %s, %s::interval, %s, %s)",
                [
                    sid,
                    row.name,
                    row.source_type,
                    row_json(row.source_config),
                    row_json(row.filter_config),
                    None if row.sync_seconds is None else f"{row.sync_seconds} seconds",
                    row.syncable,
                    row_json(row.claims),
                ],
            )
        all_source_ids = {n: s for n, s in self._source_id_map().items()}
        relink: dict[str, uuid.UUID] = {}
        for change in self.by("registry", "update"):
            assert change.row_id is not None
            row2 = desired.registries[change.name]
            self.cur.execute(
                "UPDATE registry SET claims = %s, updated_at = now() WHERE id = %s",
                [row_json(row2.claims), change.row_id],
            )
            relink[change.name] = change.row_id
        for change in self.by("registry", "create"):
            rid = uuid.uuid4()
            self.registry_ids[change.name] = rid
            self.cur.execute(
                "INSERT INTO registry (id, name, claims, creation_type) VALUES (%s, %s, %s, 'CONFIG')",
                [rid, change.name, row_json(desired.registries[change.name].claims)],
            )
            relink[change.name] = rid
        for name, rid in relink.items():
            self.cur.execute("DELETE FROM registry_source WHERE registry_id = %s", [rid])
            for position, source_name in enumerate(desired.registries[name].sources):
                self.cur.execute(
                    "INSERT INTO registry_source (registry_id, source_id, position) VALUES (%s, %s, %s)",
                    [rid, all_source_ids[source_name], position],
                )

    def _source_id_map(self) -> dict[str, uuid.UUID]:
        return dict(self.cur.execute("SELECT name, id FROM source").fetchall())

    # --- entries and versions ---

    def _entries(self, managed_id: uuid.UUID | None) -> None:
        creates = self.by("entry", "create")
        rows = []
        for change in creates:
            eid = uuid.uuid4()
            self.entry_ids[change.name] = eid
            claims = self.created_claims[change.name] = row_json(change.after)
            rows.append((eid, managed_id, "MCP", change.name, claims))
        _copy(self.cur, "registry_entry", ("id", "source_id", "entry_type", "name", "claims"), rows)
        updates = [
            (Jsonb(c.after) if c.after is not None else None, c.row_id) for c in self.by("entry", "update")
        ]
        if updates:
            self.cur.executemany(
                "UPDATE registry_entry SET claims = %s, updated_at = now() WHERE id = %s", updates
            )

    def _entry_id(self, name: str) -> uuid.UUID:
        if name in self.entry_ids:
            return self.entry_ids[name]
        # existing entry of ours (see planner: creates cover every other case)
        return self._owned_entry_ids()[name]

    def _owned_entry_ids(self) -> dict[str, uuid.UUID]:
        if not hasattr(self, "_owned_cache"):
            self._owned_cache: dict[str, uuid.UUID] = dict(
                self.cur.execute("SELECT name, entry_id FROM mcp_gitops.owned_entry").fetchall()
            )
        return self._owned_cache

    def _version_deletes(self) -> None:
        ids = [c.row_id for c in self.by("version", "delete")]
        if ids:
            self.cur.execute("DELETE FROM entry_version WHERE id = ANY(%s)", [ids])

    def _version_updates(self) -> None:
        updates = self.by("version", "update")
        if not updates:
            return
        # The version row is updated for any change (its updated_at says when it last changed); the
        # server row and the child tables only where the plan found a changed field.
        self.cur.executemany(
            "UPDATE entry_version SET title = %s, description = %s, updated_at = now() WHERE id = %s",
            [(c.spec.rows.title, c.spec.rows.description, c.row_id) for c in updates if c.spec],
        )
        servers = [
            (*self.server_values(c.spec)[1:], c.row_id)
            for c in updates
            if c.spec and SERVER_FIELDS & set(c.fields)
        ]
        if servers:
            self.cur.executemany(
                "UPDATE mcp_server SET website = %s, server_meta = %s, repository_url = %s,"
                " repository_id = %s, repository_subfolder = %s, repository_type = %s WHERE version_id = %s",
                servers,
            )
        for group, table, _ in CHILD_TABLES:
            ids = [c.row_id for c in updates if group in c.fields]
            if ids:
                self.cur.execute(f"DELETE FROM {table} WHERE server_id = ANY(%s)", [ids])
        self._children([(c.row_id, c.spec, set(c.fields)) for c in updates if c.spec and c.row_id])
        for c in updates:
            assert c.row_id is not None and c.version is not None
            self.version_ids[(c.name, c.version)] = c.row_id

    @staticmethod
    def server_values(spec: VersionSpec) -> tuple[Any, ...]:
        r = spec.rows
        return (
            None,
            r.website,
            r.server_meta,
            r.repository_url,
            r.repository_id,
            r.repository_subfolder,
            r.repository_type,
        )

    def _version_creates(self) -> None:
        creates = [c for c in self.by("version", "create") if c.spec is not None]
        if not creates:
            return
        pairs: list[tuple[uuid.UUID, VersionSpec, Collection[str]]] = []
        version_rows = []
        server_rows = []
        for change in creates:
            spec = change.spec
            assert spec is not None
            vid = uuid.uuid4()
            self.version_ids[(spec.name, spec.version)] = vid
            pairs.append((vid, spec, ALL_CHILDREN))
            rows = spec.rows
            version_rows.append(
                (vid, self._entry_id(spec.name), spec.name, spec.version, rows.title, rows.description)
            )
            server_rows.append((vid, *self.server_values(spec)[1:]))
        _copy(
            self.cur,
            "entry_version",
            ("id", "entry_id", "name", "version", "title", "description"),
            version_rows,
        )
        _copy(
            self.cur,
            "mcp_server",
            (
                "version_id",
                "website",
                "server_meta",
                "repository_url",
                "repository_id",
                "repository_subfolder",
                "repository_type",
            ),
            server_rows,
        )
        self._children(pairs)

    def _children(self, pairs: list[tuple[uuid.UUID, VersionSpec, Collection[str]]]) -> None:
        """The child rows of each version, of the field groups named with it, in one COPY per table."""
        rows: dict[str, list[tuple[Any, ...]]] = {group: [] for group in ALL_CHILDREN}
        for vid, spec, groups in pairs:
            for (group, _, _), found in zip(CHILD_TABLES, child_rows(vid, spec), strict=True):
                if group in groups:
                    rows[group] += found
        for group, table, columns in CHILD_TABLES:
            _copy(self.cur, table, columns, rows[group])

    def _entry_deletes(self) -> None:
        ids = [c.row_id for c in self.by("entry", "delete")]
        if ids:
            # An entry still holding versions someone else published stays (deleting it would cascade).
            self.kept_entries = {
                r[0]
                for r in self.cur.execute(
                    "SELECT DISTINCT entry_id FROM entry_version WHERE entry_id = ANY(%s)", [ids]
                ).fetchall()
            }
            self.cur.execute(
                "DELETE FROM registry_entry e WHERE e.id = ANY(%s)"
                " AND NOT EXISTS (SELECT 1 FROM entry_version v WHERE v.entry_id = e.id)",
                [ids],
            )

    def _latest(self, managed_id: uuid.UUID | None) -> None:
        def row(change: Change) -> tuple[Any, ...]:
            version = str(change.after)
            vid = self.version_ids.get((change.name, version))
            return (managed_id, change.name, version, vid or self.diff.present_versions[change.name][version])

        # New pointers (all of them on a first apply) by COPY; moved ones by upsert.
        _copy(
            self.cur,
            "latest_entry_version",
            ("source_id", "name", "version", "latest_version_id"),
            (row(c) for c in self.by("latest", "create")),
        )
        rows = [row(c) for c in self.by("latest", "update")]
        if rows:
            self.cur.executemany(
                "INSERT INTO latest_entry_version (source_id, name, version, latest_version_id)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (source_id, name)"
                " DO UPDATE SET version = EXCLUDED.version, latest_version_id = EXCLUDED.latest_version_id",
                rows,
            )

    # --- our inventory ---

    def _inventory(self) -> None:
        cur = self.cur
        for change in self.by("source", "delete"):
            cur.execute("DELETE FROM mcp_gitops.owned_source WHERE name = %s", [change.name])
        for change in self.by("registry", "delete"):
            cur.execute("DELETE FROM mcp_gitops.owned_registry WHERE name = %s", [change.name])
        _copy(
            cur,
            "mcp_gitops.owned_source",
            ("name", "source_id", "owner"),
            ((n, i, self.owner) for n, i in self.source_ids.items()),
        )
        _copy(
            cur,
            "mcp_gitops.owned_registry",
            ("name", "registry_id", "owner"),
            ((n, i, self.owner) for n, i in self.registry_ids.items()),
        )

        deleted_entries = [
            c.name for c in self.by("entry", "delete") if c.row_id not in getattr(self, "kept_entries", ())
        ]
        created_entries = self.by("entry", "create")
        stale = deleted_entries + [c.name for c in created_entries]
        if stale:
            cur.execute("DELETE FROM mcp_gitops.owned_entry WHERE name = ANY(%s)", [stale])
            cur.execute("DELETE FROM mcp_gitops.owned_version WHERE name = ANY(%s)", [stale])
        digests = self.diff.bookkeeping.entry_digests
        _copy(
            cur,
            "mcp_gitops.owned_entry",
            ("name", "entry_id", "claims", "claims_digest", "digest", "owner"),
            (
                (
                    c.name,
                    self.entry_ids[c.name],
                    self.created_claims[c.name],
                    _claims_digest(c),
                    digests.get(c.name),
                    self.owner,
                )
                for c in created_entries
            ),
        )
        created_names = {c.name for c in created_entries}
        compared = [(n, d) for n, d in digests.items() if n not in created_names]
        if compared:
            cur.execute(
                "UPDATE mcp_gitops.owned_entry o SET digest = k.digest"
                " FROM unnest(%s::text[], %s::text[]) AS k(name, digest) WHERE o.name = k.name",
                [[n for n, _ in compared], [d for _, d in compared]],
            )
        claim_updates = [
            (Jsonb(c.after) if c.after is not None else None, _claims_digest(c), c.name)
            for c in self.by("entry", "update")
        ]
        if claim_updates:
            cur.executemany(
                "UPDATE mcp_gitops.owned_entry SET claims = %s, claims_digest = %s WHERE name = %s",
                claim_updates,
            )

        deleted_versions = [c.row_id for c in self.by("version", "delete")]
        if deleted_versions:
            cur.execute("DELETE FROM mcp_gitops.owned_version WHERE version_id = ANY(%s)", [deleted_versions])
        created = [c for c in self.by("version", "create") if c.spec is not None]
        new_names = {e.name for e in created_entries}
        # versions re-created under an entry that stayed: their stale inventory rows go first
        recreated = [(c.name, c.version) for c in created if c.name not in new_names]
        if recreated:
            cur.execute(
                "DELETE FROM mcp_gitops.owned_version o"
                " USING unnest(%s::text[], %s::text[]) AS k(name, version)"
                " WHERE o.name = k.name AND o.version = k.version",
                [[k[0] for k in recreated], [k[1] for k in recreated]],
            )
        _copy(
            cur,
            "mcp_gitops.owned_version",
            ("name", "version", "version_id", "path", "digest", "owner"),
            (
                (
                    c.spec.name,
                    c.spec.version,
                    self.version_ids[(c.spec.name, c.spec.version)],
                    c.spec.path,
                    c.spec.digest,
                    self.owner,
                )
                for c in created
                if c.spec is not None
            ),
        )
        refreshed = [c.spec for c in self.by("version", "update") if c.spec is not None]
        refreshed += self.diff.bookkeeping.refresh
        if refreshed:
            cur.executemany(
                "UPDATE mcp_gitops.owned_version SET path = %s, digest = %s WHERE name = %s AND version = %s",
                [(s.path, s.digest, s.name, s.version) for s in refreshed],
            )


def _claims_digest(change: Change) -> str:
    """The digest the planner compares with: the entry's own (computed once per entry)."""
    assert change.entry is not None
    return change.entry.claims_digest
