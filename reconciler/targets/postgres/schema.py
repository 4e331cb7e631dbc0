"""Which schema the target database holds, and creating ours when (and only when) it is empty.

The registry server's tables are written into only when golang-migrate's `schema_migrations` holds the
version the targeted release leaves, not dirty: 21 for ToolHive Registry Server v1.2.0-v1.5.0, 23 for
v1.5.1 (`registryServer.version`, reconciler/registry_server.py). An empty database gets that schema from
our own migrations, recorded the same way so the registry server accepts it later. Anything else is
refused: we never alter a schema we did not create.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any

from reconciler.registry_server import ServerCapabilities
from reconciler.targets.postgres.errors import SchemaStateError

# Our migrations per schema version, applied in order to an empty database.
MIGRATIONS = {21: ("registry_v1_2_0.sql",), 23: ("registry_v1_2_0.sql", "registry_v1_5_1.sql")}
BOOKKEEPING_SCHEMA = "mcp_gitops"
BOOKKEEPING_VERSION = 3
# Our bookkeeping migrations in order; version N is the state after the first N.
BOOKKEEPING_MIGRATIONS = ("bookkeeping_001.sql", "bookkeeping_002.sql", "bookkeeping_003.sql")

# The registry server's tables we read or write; all must exist for a v21 database to be usable.
REGISTRY_TABLES = (
    "source",
    "registry",
    "registry_source",
    "registry_entry",
    "entry_version",
    "latest_entry_version",
    "mcp_server",
    "mcp_server_package",
    "mcp_server_remote",
    "mcp_server_icon",
)

#: Rows created and deleted by one apply from which it refreshes the planner's statistics itself.
BULK_CHANGE = 1000
# The columns the live-state reads (live.py) filter on. Without statistics, as after a bulk load where
# autovacuum is off or has not run yet, PostgreSQL takes one owner to hold 0.5 % of the inventory and
# joins it by an index probe per row: the next apply read the live state of 10,000 entries in 60-90 ms
# of the server's time, against 33-45 ms with them (and the bulk apply takes about 10 ms more).
STATISTICS_COLUMNS = (
    "mcp_gitops.owned_entry (owner)",
    "mcp_gitops.owned_version (owner)",
    "registry_entry (source_id, entry_type)",
)


class SchemaKind(enum.Enum):
    EMPTY = "empty"
    REGISTRY = "registry"


@dataclass(frozen=True)
class SchemaInfo:
    kind: SchemaKind
    bookkeeping: bool  # mcp_gitops schema present
    version: int  # the migration version the database holds, or will hold once bootstrapped
    # the bookkeeping version present (0: none); an older one is upgraded by the next apply, and read
    # as such (owners per row from version 2) until then
    bookkeeping_version: int = 0


def _releases(version: int) -> str:
    return "v1.5.1" if version == 23 else "v1.2.0 to v1.5.0"


def _migration(name: str) -> str:
    return resources.files("reconciler.targets.postgres").joinpath("migrations", name).read_text()


def inspect(conn: Any, server: ServerCapabilities) -> SchemaInfo:
    """Classify the database; raises SchemaStateError for anything we must not touch, including a
    schema of another release than the one targeted."""
    expected = server.schema_version
    row = conn.execute(
        "SELECT to_regclass('public.schema_migrations') IS NOT NULL,"
        " to_regclass('mcp_gitops.meta') IS NOT NULL"
    ).fetchone()
    has_migrations, bookkeeping = bool(row[0]), bool(row[1])
    kept = _check_bookkeeping_version(conn) if bookkeeping else 0
    if not has_migrations:
        count = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')"
        ).fetchone()[0]
        if count:
            raise SchemaStateError(
                f"the database is not empty ({count} relations in schema public) but has no "
                f"schema_migrations table; mcp-gitops writes only into an empty database or one holding "
                f"the ToolHive Registry Server {server.version} schema (migration version {expected})"
            )
        return SchemaInfo(SchemaKind.EMPTY, bookkeeping, expected, kept)
    rows = conn.execute("SELECT version, dirty FROM public.schema_migrations").fetchall()
    if len(rows) != 1 or rows[0][0] != expected or rows[0][1]:
        found = ", ".join(f"version {v}{' (dirty)' if d else ''}" for v, d in rows) or "no version"
        hint = (
            f" (the schema of ToolHive Registry Server {_releases(rows[0][0])}: set registryServer.version "
            "in mcp-gitops.yaml or pass --registry-server-version to match the running server)"
            if len(rows) == 1 and not rows[0][1] and rows[0][0] in MIGRATIONS
            else ""
        )
        raise SchemaStateError(
            f"the database's registry schema is at {found}{hint}; the targeted ToolHive Registry Server "
            f"{server.version} needs version {expected}, not dirty. mcp-gitops never migrates a schema it "
            f"did not create"
        )
    present = {
        r[0]
        for r in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relname = ANY(%s)",
            [list(REGISTRY_TABLES)],
        ).fetchall()
    }
    missing = [t for t in REGISTRY_TABLES if t not in present]
    if missing:
        raise SchemaStateError(
            f"schema_migrations says version {expected}, but tables are missing: {', '.join(missing)}"
        )
    return SchemaInfo(SchemaKind.REGISTRY, bookkeeping, expected, kept)


def _check_bookkeeping_version(conn: Any) -> int:
    row = conn.execute("SELECT value FROM mcp_gitops.meta WHERE key = 'bookkeeping_version'").fetchone()
    version = int(row[0]) if row else 0
    if not 1 <= version <= BOOKKEEPING_VERSION:
        raise SchemaStateError(
            f"the mcp_gitops bookkeeping schema is at version {version}; this mcp-gitops understands "
            f"versions 1 to {BOOKKEEPING_VERSION}"
        )
    return version


def create_registry_schema(conn: Any, version: int) -> None:
    """Create the tables of migration `version` in an empty database (inside the caller's transaction)."""
    for name in MIGRATIONS[version]:
        conn.execute(_migration(name))
    ensure_bookkeeping(conn)
    conn.execute(
        "INSERT INTO mcp_gitops.meta (key, value) VALUES ('registry_schema_created', now()::text)"
        " ON CONFLICT (key) DO NOTHING"
    )


@contextmanager
def foreign_keys_checked_at_end(conn: Any, created_here: bool) -> Iterator[None]:
    """When this transaction created the registry tables (`created_here`), their foreign keys are
    dropped while the rows go in and added back, the same constraints under the same names, after:
    added to filled tables, each is checked by one join instead of one lookup per row (a first apply
    of 10,000 entries: 0.6 s of the server's time -> 0.4 s). Nobody else sees these tables before the
    commit, and a row that breaks a key fails the transaction either way."""
    if not created_here:
        yield
        return
    keys = conn.execute(
        "SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname),"
        " format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname,"
        " pg_get_constraintdef(oid))"
        " FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace ORDER BY oid"
    ).fetchall()
    if keys:
        conn.execute(";".join(drop for drop, _ in keys))
    yield
    if keys:
        conn.execute(";".join(add for _, add in keys))


def refresh_statistics(conn: Any, changed_rows: int) -> None:
    """After a bulk change (inside the caller's transaction: the statistics count its own rows, and go
    with it if it rolls back), the statistics of STATISTICS_COLUMNS. SKIP_LOCKED: a table another session
    is vacuuming or analyzing is left to it, not waited for; the server skips with a warning a table
    the role may not analyze."""
    if changed_rows >= BULK_CHANGE:
        conn.execute(f"ANALYZE (SKIP_LOCKED) {', '.join(STATISTICS_COLUMNS)}")


def ensure_bookkeeping(conn: Any) -> None:
    """Create our bookkeeping, or bring an older one up to date (inside the caller's transaction)."""
    if conn.execute("SELECT to_regclass('mcp_gitops.meta') IS NOT NULL").fetchone()[0]:
        present = _check_bookkeeping_version(conn)
    else:
        conn.execute(_migration(BOOKKEEPING_MIGRATIONS[0]))
        conn.execute("INSERT INTO mcp_gitops.meta (key, value) VALUES ('bookkeeping_version', '1')")
        present = 1
    for name in BOOKKEEPING_MIGRATIONS[present:]:
        conn.execute(_migration(name))
