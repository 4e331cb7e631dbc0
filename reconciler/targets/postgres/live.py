"""What the database holds now: the registry server's rows that concern us, and our bookkeeping.

Reads are shaped for the incremental path: the only large read is our inventory (one row per version we
wrote); drift made by others (rows deleted, claims changed through the API, a missing latest pointer) is
found by joins in SQL, so a no-op plan of 10,000 entries stays cheap.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from psycopg import sql

from reconciler.targets.postgres.schema import SchemaInfo, SchemaKind
from reconciler.targets.postgres.writer import PACKAGE_COLUMNS

# Bump when the mapping from entry files to rows changes: revisions applied before are then compared in
# full once instead of being trusted.
ROW_FORMAT = 1


def row_format(schema_version: int) -> int:
    """The recorded row format also names the schema the rows were written for: after an upgrade of the
    registry server's schema (21 -> 23) the same revision is compared in full once, and rewritten."""
    return ROW_FORMAT * 1000 + schema_version


@dataclass(frozen=True)
class LiveSource:
    id: uuid.UUID
    name: str
    creation_type: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class LiveRegistry:
    id: uuid.UUID
    name: str
    creation_type: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class OwnedEntry:
    entry_id: uuid.UUID
    claims_digest: str  # of the claims as we wrote them
    missing: bool  # deleted by someone else since
    drifted: bool  # claims changed by someone else since
    # EntrySpec.digest of what we wrote, when the inventory holds exactly that (None: compare rows)
    digest: str | None = None
    # one of its versions was deleted by someone else since
    lost_versions: bool = False

    def unchanged(self, digest: str) -> bool:
        """Nothing to compare: we wrote this digest and nobody touched the rows since."""
        return self.digest == digest and not (self.missing or self.drifted or self.lost_versions)


class OwnedVersion(NamedTuple):
    """A version in our inventory. Its row id and path are read later, only for versions a plan
    touches (`version_rows_of`): 10,000 ids parsed on every run would be most of a no-op's cost."""

    digest: str
    missing: bool  # deleted by someone else since


@dataclass
class LiveState:
    schema: SchemaInfo
    sources: dict[str, LiveSource] = field(default_factory=dict)
    registries: dict[str, LiveRegistry] = field(default_factory=dict)
    owned_sources: dict[str, uuid.UUID] = field(default_factory=dict)
    owned_registries: dict[str, uuid.UUID] = field(default_factory=dict)
    # managed sources in the database: name -> creation_type
    managed_sources: dict[str, str] = field(default_factory=dict)
    owned_entries: dict[str, OwnedEntry] = field(default_factory=dict)
    # inventory of the entries a plan compares row by row (`load_versions`), not of every entry
    owned_versions: dict[tuple[str, str], OwnedVersion] = field(default_factory=dict)
    # entries in the managed source this repository does not own: name -> owning repository
    # (None: published through the registry server's API, owned by no repository)
    foreign_entries: dict[str, str | None] = field(default_factory=dict)
    # config rows (kind, name) another repository created: they are shared, never changed by this one
    others_config: dict[tuple[str, str], str] = field(default_factory=dict)
    # another repository owns entries in this database: config rows are not pruned meanwhile
    others_own_entries: bool = False
    # SQL condition on bookkeeping alias `o`: the row is this repository's (see `mine`)
    own: str = "TRUE"
    # owned entries without a latest pointer
    latest_missing: set[str] = field(default_factory=set)
    last_revision: str | None = None
    last_digest: str | None = None
    # The Git revision being planned was applied last and nothing we wrote has been touched since:
    # per-row inventory was not read, as every entry is known to be in place.
    settled: bool = False

    def managed_source_id(self, name: str | None) -> uuid.UUID | None:
        source = self.sources.get(name) if name else None
        return source.id if source is not None and source.fields["source_type"] == "managed" else None


def owner_key(owner: str | None) -> str:
    """How an owner is stored: a caller naming no repository identity owns rows as ''."""
    return owner or ""


def mine(conn: Any, schema: SchemaInfo, owner: str | None, legacy_owner: str | None) -> str:
    """SQL condition on bookkeeping alias `o`: the row belongs to `owner`. Bookkeeping version 1 (not
    yet upgraded by an apply) has one owner for the whole database, recorded in meta."""
    if schema.bookkeeping_version >= 2:
        return sql.SQL("o.owner = {}").format(sql.Literal(owner_key(owner))).as_string(conn)
    return "TRUE" if legacy_owner is None or legacy_owner == owner_key(owner) else "FALSE"


def load(
    conn: Any,
    schema: SchemaInfo,
    managed_name: str | None,
    revision: str | None = None,
    version_count: int | None = None,
    desired_digest: Callable[[], str] | None = None,
    owner: str | None = None,
) -> LiveState:
    """Read the live state as `owner` (a repository identity) sees it: only the rows it owns are its
    inventory. When its last apply was of this `revision` (a Git commit) or of content with this
    `desired_digest`, first check in one query whether everything it wrote is still in place; if so,
    skip the per-row reads."""
    live = LiveState(schema)
    if schema.kind is SchemaKind.EMPTY:
        return live
    for sid, name, ctype, stype, sconfig, fconfig, seconds, syncable, claims in conn.execute(
        "SELECT id, name, creation_type::text, source_type, source_config, filter_config,"
        " extract(epoch FROM sync_schedule)::float8, syncable, claims FROM source"
    ):
        live.sources[name] = LiveSource(
            sid,
            name,
            ctype,
            {
                "source_type": stype,
                "source_config": sconfig,
                "filter_config": fconfig,
                "sync_schedule": seconds,
                "syncable": syncable,
                "claims": claims,
            },
        )
        if stype == "managed":
            live.managed_sources[name] = ctype
    for rid, name, ctype, claims, sources in conn.execute(
        "SELECT r.id, r.name, r.creation_type::text, r.claims,"
        " coalesce(array_agg(s.name ORDER BY rs.position, s.name) FILTER (WHERE s.name IS NOT NULL), '{}')"
        " FROM registry r LEFT JOIN registry_source rs ON rs.registry_id = r.id"
        " LEFT JOIN source s ON s.id = rs.source_id GROUP BY r.id"
    ):
        live.registries[name] = LiveRegistry(rid, name, ctype, {"claims": claims, "sources": list(sources)})
    if not schema.bookkeeping:
        managed_id = live.managed_source_id(managed_name)
        if managed_id is not None:
            _load_foreign_entries(conn, live, managed_id, None)
        return live

    legacy = None
    if schema.bookkeeping_version < 2:
        found = conn.execute("SELECT value FROM mcp_gitops.meta WHERE key = 'owner'").fetchone()
        legacy = found[0] if found else None
    own = live.own = mine(conn, schema, owner, legacy)
    row = conn.execute(f"SELECT revision, digest, row_format FROM mcp_gitops.state o WHERE {own}").fetchone()
    if row and row[2] == row_format(schema.version):
        live.last_revision, live.last_digest = row[0], row[1]
    same = (revision is not None and revision == live.last_revision) or (
        desired_digest is not None and live.last_digest is not None and desired_digest() == live.last_digest
    )
    if (
        same
        and version_count is not None
        and _untouched(conn, live.managed_source_id(managed_name), version_count, own)
    ):
        live.settled = True
        return live
    owner_column = "o.owner" if schema.bookkeeping_version >= 2 else "''"
    config = (("source", "owned_source", "source_id"), ("registry", "owned_registry", "registry_id"))
    for kind, table, column in config:
        for name, row_id, is_mine, row_owner in conn.execute(
            f"SELECT o.name, o.{column}, {own}, {owner_column} FROM mcp_gitops.{table} o"
        ).fetchall():
            if is_mine:
                (live.owned_sources if kind == "source" else live.owned_registries)[name] = row_id
            else:
                live.others_config[(kind, name)] = row_owner or legacy or ""
    others = conn.execute(f"SELECT EXISTS (SELECT 1 FROM mcp_gitops.owned_entry o WHERE NOT ({own}))")
    live.others_own_entries = bool(others.fetchone()[0])
    # No JSON crosses the wire here: claims are compared by digest, drift by jsonb equality in SQL. An
    # entry digest recorded under another row format is not trusted.
    digest = "o.digest" if schema.bookkeeping_version >= 3 and live.last_digest is not None else "NULL"
    rows = conn.execute(
        "SELECT o.name, o.entry_id, o.claims_digest, e.id IS NULL, e.claims IS DISTINCT FROM o.claims,"
        f" {digest} FROM mcp_gitops.owned_entry o LEFT JOIN registry_entry e ON e.id = o.entry_id"
        f" WHERE {own}"
    ).fetchall()
    lost = {
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT o.name FROM mcp_gitops.owned_version o"
            f" WHERE {own} AND NOT EXISTS (SELECT 1 FROM entry_version ev WHERE ev.id = o.version_id)"
        )
    }
    live.owned_entries = {
        n: OwnedEntry(i, c, m, bool(x) and not m, d, n in lost) for n, i, c, m, x, d in rows
    }
    managed_id = live.managed_source_id(managed_name)
    if managed_id is not None:
        _load_foreign_entries(conn, live, managed_id, own)
        live.latest_missing = {
            r[0]
            for r in conn.execute(
                "SELECT o.name FROM mcp_gitops.owned_entry o JOIN registry_entry e ON e.id = o.entry_id"
                f" WHERE {own} AND NOT EXISTS (SELECT 1 FROM latest_entry_version l"
                " WHERE l.source_id = %s AND l.name = o.name)",
                [managed_id],
            )
        }
    return live


def load_versions(conn: Any, live: LiveState, names: list[str]) -> None:
    """The inventory of the given entries (those a plan compares row by row)."""
    if not names:
        return
    rows = conn.execute(
        "SELECT o.name, o.version, o.digest, ev.id IS NULL"
        " FROM mcp_gitops.owned_version o LEFT JOIN entry_version ev ON ev.id = o.version_id"
        f" WHERE {live.own} AND o.name = ANY(%s)",
        [names],
    ).fetchall()
    live.owned_versions.update({(r[0], r[1]): OwnedVersion(r[2], r[3]) for r in rows})


def _untouched(conn: Any, managed_id: uuid.UUID | None, version_count: int, own: str) -> bool:
    """Every version and entry the owner recorded is present, unchanged in claims, with a latest
    pointer, and its inventory holds exactly the versions the revision has (so nothing was left
    unpruned)."""
    if managed_id is None:
        return False
    owned, missing, drifted, pointerless = conn.execute(
        f"SELECT (SELECT count(*) FROM mcp_gitops.owned_version o WHERE {own}),"
        " (SELECT count(*) FROM mcp_gitops.owned_version o"
        f"   WHERE {own} AND NOT EXISTS (SELECT 1 FROM entry_version ev WHERE ev.id = o.version_id)),"
        " (SELECT count(*) FROM mcp_gitops.owned_entry o LEFT JOIN registry_entry e ON e.id = o.entry_id"
        f"   WHERE {own} AND (e.id IS NULL OR e.claims IS DISTINCT FROM o.claims)),"
        f" (SELECT count(*) FROM mcp_gitops.owned_entry o WHERE {own} AND NOT EXISTS"
        "   (SELECT 1 FROM latest_entry_version l WHERE l.source_id = %s AND l.name = o.name))",
        [managed_id],
    ).fetchone()
    return bool(owned == version_count and not (missing or drifted or pointerless))


def _load_foreign_entries(conn: Any, live: LiveState, managed_id: uuid.UUID, own: str | None) -> None:
    """Entries in the managed source the owner (`own`, a condition on alias `o`; None: no bookkeeping
    at all) does not own, with the repository that does."""
    if own is None:
        query = "SELECT e.name, NULL FROM registry_entry e WHERE e.source_id = %s AND e.entry_type = 'MCP'"
    else:
        owner = (
            "o.owner"
            if live.schema.bookkeeping_version >= 2
            else "(SELECT value FROM mcp_gitops.meta WHERE key = 'owner')"
        )
        query = (
            f"SELECT e.name, CASE WHEN o.entry_id IS NULL THEN NULL ELSE {owner} END"
            " FROM registry_entry e LEFT JOIN mcp_gitops.owned_entry o ON o.entry_id = e.id"
            f" WHERE e.source_id = %s AND e.entry_type = 'MCP' AND (o.entry_id IS NULL OR NOT ({own}))"
        )
    live.foreign_entries = dict(conn.execute(query, [managed_id]).fetchall())


def claims_of(conn: Any, ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any] | None]:
    """Current claims of the given entries (only those a plan shows)."""
    if not ids:
        return {}
    return dict(conn.execute("SELECT id, claims FROM registry_entry WHERE id = ANY(%s)", [ids]).fetchall())


def versions_of(
    conn: Any, managed_id: uuid.UUID, names: list[str]
) -> tuple[dict[str, dict[str, uuid.UUID]], dict[str, str]]:
    """For the given names in the managed source: every version present (ours or not) and the current
    latest pointer."""
    present: dict[str, dict[str, uuid.UUID]] = {}
    if not names:
        return present, {}
    for name, version, vid in conn.execute(
        "SELECT e.name, ev.version, ev.id FROM entry_version ev JOIN registry_entry e ON e.id = ev.entry_id"
        " WHERE e.source_id = %s AND e.entry_type = 'MCP' AND e.name = ANY(%s)",
        [managed_id, names],
    ).fetchall():
        present.setdefault(name, {})[version] = vid
    latest = dict(
        conn.execute(
            "SELECT name, version FROM latest_entry_version WHERE source_id = %s AND name = ANY(%s)",
            [managed_id, names],
        ).fetchall()
    )
    return present, latest


def version_rows_of(conn: Any, keys: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[uuid.UUID, str]]:
    """Row id and file path of the given versions in our inventory."""
    if not keys:
        return {}
    rows = conn.execute(
        "SELECT o.name, o.version, o.version_id, o.path FROM mcp_gitops.owned_version o"
        " JOIN unnest(%s::text[], %s::text[]) AS k(name, version) USING (name, version)",
        [[k[0] for k in keys], [k[1] for k in keys]],
    ).fetchall()
    return {(n, v): (i, p) for n, v, i, p in rows}


# the writer's columns less the key that joins them to mcp_server
_PACKAGE_COLUMNS = PACKAGE_COLUMNS[1:]


def field_values(conn: Any, ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """The stored values of the given versions, shaped as `VersionRows.field_groups()`: what names the
    fields a changed file changes, and what a plan shows they hold now (only the versions whose file
    changed are read)."""
    if not ids:
        return {}
    out: dict[uuid.UUID, dict[str, Any]] = {i: {"packages": [], "remotes": [], "icons": []} for i in ids}
    for vid, title, description, website, meta, url, rid, subfolder, kind in conn.execute(
        "SELECT ev.id, ev.title, ev.description, s.website, s.server_meta, s.repository_url,"
        " s.repository_id, s.repository_subfolder, s.repository_type"
        " FROM entry_version ev LEFT JOIN mcp_server s ON s.version_id = ev.id WHERE ev.id = ANY(%s)",
        [ids],
    ):
        out[vid].update(
            title=title,
            description=description,
            website=website,
            meta=meta,
            repository=[url, rid, subfolder, kind],
        )
    columns = ", ".join(_PACKAGE_COLUMNS)
    for row in conn.execute(
        f"SELECT server_id, {columns} FROM mcp_server_package WHERE server_id = ANY(%s)"
        " ORDER BY registry_type, pkg_identifier, transport",
        [ids],
    ):
        out[row[0]]["packages"].append(dict(zip(_PACKAGE_COLUMNS, row[1:], strict=True)))
    for sid, transport, url, headers in conn.execute(
        "SELECT server_id, transport, transport_url, transport_headers FROM mcp_server_remote"
        " WHERE server_id = ANY(%s) ORDER BY transport, transport_url",
        [ids],
    ):
        out[sid]["remotes"].append(
            {"transport": transport, "transport_url": url, "transport_headers": headers}
        )
    for sid, uri, mime, theme in conn.execute(
        "SELECT server_id, source_uri, mime_type, theme::text FROM mcp_server_icon"
        " WHERE server_id = ANY(%s) ORDER BY source_uri, mime_type, theme",
        [ids],
    ):
        out[sid]["icons"].append({"source_uri": uri, "mime_type": mime, "theme": theme})
    return out
