"""Which schema the target database holds, and creating ours when (and only when) it is empty.

The registry server's tables are written into only when golang-migrate's `schema_migrations` says
version 21, not dirty (ToolHive Registry Server v1.2.0). An empty database gets that schema from our own
migration, recorded the same way so the registry server accepts it later. Anything else is refused:
we never alter a schema we did not create.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from importlib import resources
from typing import Any

from reconciler.targets.postgres.errors import SchemaStateError

REGISTRY_SCHEMA_VERSION = 21
REGISTRY_SERVER_VERSION = "v1.2.0"
BOOKKEEPING_SCHEMA = "mcp_gitops"
BOOKKEEPING_VERSION = 1

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


class SchemaKind(enum.Enum):
    EMPTY = "empty"
    REGISTRY = "registry v1.2.0"


@dataclass(frozen=True)
class SchemaInfo:
    kind: SchemaKind
    bookkeeping: bool  # mcp_gitops schema present


def _migration(name: str) -> str:
    return resources.files("reconciler.targets.postgres").joinpath("migrations", name).read_text()


def inspect(conn: Any) -> SchemaInfo:
    """Classify the database; raises SchemaStateError for anything we must not touch."""
    row = conn.execute(
        "SELECT to_regclass('public.schema_migrations') IS NOT NULL,"
        " to_regclass('mcp_gitops.meta') IS NOT NULL"
    ).fetchone()
    has_migrations, bookkeeping = bool(row[0]), bool(row[1])
    if bookkeeping:
        _check_bookkeeping_version(conn)
    if not has_migrations:
        count = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')"
        ).fetchone()[0]
        if count:
            raise SchemaStateError(
                f"the database is not empty ({count} relations in schema public) but has no "
                f"schema_migrations table; mcp-gitops writes only into an empty database or one holding "
                f"the ToolHive Registry "
                f"Server {REGISTRY_SERVER_VERSION} schema (migration version {REGISTRY_SCHEMA_VERSION})"
            )
        return SchemaInfo(SchemaKind.EMPTY, bookkeeping)
    rows = conn.execute("SELECT version, dirty FROM public.schema_migrations").fetchall()
    if len(rows) != 1 or rows[0][0] != REGISTRY_SCHEMA_VERSION or rows[0][1]:
        found = ", ".join(f"version {v}{' (dirty)' if d else ''}" for v, d in rows) or "no version"
        raise SchemaStateError(
            f"the database's registry schema is at {found}; mcp-gitops writes only into ToolHive Registry "
            f"Server {REGISTRY_SERVER_VERSION}'s schema (version {REGISTRY_SCHEMA_VERSION}, not dirty) and "
            f"never migrates a schema it did not create"
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
            f"schema_migrations says version {REGISTRY_SCHEMA_VERSION}, but tables are missing: "
            f"{', '.join(missing)}"
        )
    return SchemaInfo(SchemaKind.REGISTRY, bookkeeping)


def _check_bookkeeping_version(conn: Any) -> None:
    row = conn.execute("SELECT value FROM mcp_gitops.meta WHERE key = 'bookkeeping_version'").fetchone()
    version = int(row[0]) if row else 0
    if version != BOOKKEEPING_VERSION:
        raise SchemaStateError(
            f"the mcp_gitops bookkeeping schema is at version {version}; this mcp-gitops understands "
            f"version {BOOKKEEPING_VERSION}"
        )


def create_registry_schema(conn: Any) -> None:
    """Create the v1.2.0 tables in an empty database (inside the caller's transaction)."""
    conn.execute(_migration("registry_v1_2_0.sql"))
    ensure_bookkeeping(conn)
    conn.execute(
        "INSERT INTO mcp_gitops.meta (key, value) VALUES ('registry_schema_created', now()::text)"
        " ON CONFLICT (key) DO NOTHING"
    )


def ensure_bookkeeping(conn: Any) -> None:
    if conn.execute("SELECT to_regclass('mcp_gitops.meta') IS NOT NULL").fetchone()[0]:
        return
    conn.execute(_migration("bookkeeping_001.sql"))
    conn.execute(
        "INSERT INTO mcp_gitops.meta (key, value) VALUES ('bookkeeping_version', %s)",
        [str(BOOKKEEPING_VERSION)],
    )
