"""The ToolHive Registry Server's own artefacts, as tests use them: its migrations (applied the way
golang-migrate applies them) and its sqlc queries (extracted by name, parameters bound by name).

They are read from `<repository root>/../shared/upstream/`; the product never embeds them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.harness.services import unavailable

UPSTREAM = Path(__file__).resolve().parent.parent.parent / "shared" / "upstream"
_MIGRATION = re.compile(r"^(\d+)_.*\.up\.sql$")
_PARAM = re.compile(r"sqlc\.(?:arg|narg|slice)\((\w+)\)|@(\w+)")


def release_dir(version: str) -> Path:
    folder = UPSTREAM / f"toolhive-registry-server-{version}"
    if not folder.is_dir():
        unavailable("the registry server's artefacts", f"{folder} is missing")
    return folder


def migrate(conn: Any, version: str, up_to: int | None = None, start_after: int = 0) -> int:
    """Apply the release's up-migrations in golang-migrate's order (by number), and record the version
    the way it does: one row in schema_migrations, dirty false. Returns the version reached."""
    files = sorted(
        (int(m[1]), p)
        for p in (release_dir(version) / "migrations").iterdir()
        if (m := _MIGRATION.match(p.name))
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        " (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)"
    )
    reached = start_after
    for number, path in files:
        if number <= start_after or (up_to is not None and number > up_to):
            continue
        conn.execute(path.read_text())
        reached = number
    conn.execute("TRUNCATE schema_migrations")
    conn.execute("INSERT INTO schema_migrations (version, dirty) VALUES (%s, false)", [reached])
    return reached


def query(version: str, name: str) -> str:
    """The sqlc query `name` of the release, with its parameters as psycopg named placeholders."""
    for path in sorted((release_dir(version) / "queries").glob("*.sql")):
        text = path.read_text()
        marker = re.search(rf"^-- name: {name} :\w+$", text, re.MULTILINE)
        if marker is None:
            continue
        rest = text[marker.end() :]
        following = re.search(r"^-- name: ", rest, re.MULTILINE)
        body = rest[: following.start()] if following else rest
        lines = [line for line in body.splitlines() if not line.strip().startswith("--")]
        sql = "\n".join(lines).strip().rstrip(";").replace("%", "%%")
        return _PARAM.sub(lambda m: f"%({m[1] or m[2]})s", sql)
    raise LookupError(f"no query {name} in {release_dir(version)}/queries")


def run_query(conn: Any, release: str, query_name: str, /, **params: Any) -> list[dict[str, Any]]:
    """Run a server query; parameters it names but the caller leaves out are NULL (sqlc.narg)."""
    sql = query(release, query_name)
    for param in set(re.findall(r"%\((\w+)\)s", sql)):
        params.setdefault(param, None)
    cur = conn.execute(sql, params)
    if cur.description is None:
        return []
    columns = [c.name for c in cur.description]
    return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
