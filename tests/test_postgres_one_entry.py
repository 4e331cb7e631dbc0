"""A change to one entry costs that entry: what the apply writes and what it reads back from the
database, on a real PostgreSQL, and the result of edits applied one after another equals a cold apply."""

from __future__ import annotations

import copy
import hashlib
import json
import random
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from reconciler.targets.postgres import RegistryInput, schema
from tests.harness.postgres import scratch_database
from tests.test_postgres_apply import apply, listed, snapshot
from tests.test_postgres_data import entry, registry_config

pytestmark = pytest.mark.postgres

Items = list[tuple[str, dict[str, Any]]]


def repository(names: int, versions: int = 2) -> Items:
    return [
        (f"entries/server-{n:03d}-{v}.yaml", entry(f"io.github.acme/server-{n:03d}", f"1.{v}.0"))
        for n in range(names)
        for v in range(versions)
    ]


def revision(items: Items, rev: str) -> RegistryInput:
    """What the pipeline hands over: each document with its file's content digest."""
    return RegistryInput(
        registry_config(),
        [(path, data, hashlib.sha256(json.dumps(data).encode()).hexdigest() + "#0") for path, data in items],
        revision=rev,
    )


def described(items: Items, index: int, text: str) -> Items:
    out = copy.deepcopy(items)
    out[index][1]["server"]["description"] = text
    return out


@pytest.fixture
def cold_url(pg_server: str) -> Iterator[str]:
    """A second empty database, for the cold apply a series of applies is compared with."""
    with scratch_database(pg_server) as url:
        yield url


class RowsRead:
    """Rows every statement of this process returns from the server (COPY excluded: it only writes)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        execute = psycopg.Cursor.execute

        def counted(cursor: psycopg.Cursor[Any], *args: Any, **kwargs: Any) -> psycopg.Cursor[Any]:
            result = execute(cursor, *args, **kwargs)
            if cursor.pgresult is not None:
                self.count += cursor.pgresult.ntuples
            return result

        monkeypatch.setattr(psycopg.Cursor, "execute", counted)


def written(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    """Per table, the rows written (inserted, updated or deleted) between two snapshots."""
    out = {}
    for table in before:
        old, new = set(before[table] or ()), set(after[table] or ())
        if old != new:
            out[table] = len(old ^ new)
    return out


def test_a_one_entry_change_writes_and_reads_only_that_entrys_rows(
    pg_url: str, pg_conn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = repository(150)
    apply(pg_url, revision(items, "base"))
    before = snapshot(pg_conn)
    [version_id] = pg_conn.execute(
        "SELECT id FROM entry_version WHERE name = 'io.github.acme/server-042' AND version = '1.1.0'"
    ).fetchone()

    reads = RowsRead(monkeypatch)
    # as `mcp-gitops apply` does it: compared once, under the lock
    result = apply(pg_url, revision(described(items, 85, "changed"), "head"), read_live=False)
    monkeypatch.undo()

    assert [(c.action, c.kind, c.name, c.version) for c in result.changes] == [
        ("update", "version", "io.github.acme/server-042", "1.1.0")
    ]
    # The version row is updated in place; its server row and child rows did not change and are not
    # written; the inventory records the version's and the entry's new digests. Nothing else is.
    after = snapshot(pg_conn)
    assert written(before, after) == {
        "entry_version": 2,
        "mcp_gitops.owned_version": 2,
        "mcp_gitops.owned_entry": 2,
        "mcp_gitops.state": 2,
    }
    assert pg_conn.execute(
        "SELECT description FROM entry_version WHERE id = %s", [version_id]
    ).fetchone() == ("changed",)
    # What came back from the database: the schema, the config rows, each owned entry's digest (one
    # row per entry) and the changed entry's rows; not a row per version of the repository.
    assert reads.count < 150 + 40, reads.count

    # a package changed: its rows are replaced, the version's other children are left alone
    items = described(items, 85, "changed")
    items[85][1]["server"]["packages"][0]["version"] = "9.9.9"
    result = apply(pg_url, revision(items, "next"))
    assert [(c.action, c.name, c.fields) for c in result.changes] == [
        ("update", "io.github.acme/server-042", ["packages"])
    ]
    assert written(after, snapshot(pg_conn)) == {
        "entry_version": 2,
        "mcp_server_package": 2,
        "mcp_gitops.owned_version": 2,
        "mcp_gitops.owned_entry": 2,
        "mcp_gitops.state": 2,
    }


def edit(items: Items, rng: random.Random, step: int) -> Items:
    """One random edit of the kinds a commit makes to a registry repository."""
    out = copy.deepcopy(items)
    names = sorted({data["server"]["name"] for _, data in out})
    name = rng.choice(names)
    mine = [i for i, (_, data) in enumerate(out) if data["server"]["name"] == name]
    kind = rng.choice(["describe", "claims", "add", "drop version", "drop entry", "package", "new entry"])
    if kind == "describe":
        out[rng.choice(mine)][1]["server"]["description"] = f"edit {step}"
    elif kind == "claims":
        for i in mine:
            out[i][1]["claims"] = {"org": "acme", "team": f"t{step}"}
    elif kind == "add":
        path, data = copy.deepcopy(out[mine[0]])
        data["server"]["version"] = f"2.{step}.0"
        out.append((path.replace(".yaml", f"-{step}.yaml"), data))
    elif kind == "drop version" and len(mine) > 1:
        del out[rng.choice(mine)]
    elif kind == "drop entry" and len(names) > 1:
        out = [item for i, item in enumerate(out) if i not in mine]
    elif kind == "package":
        out[rng.choice(mine)][1]["server"]["packages"][0]["version"] = f"9.{step}.0"
    else:
        out.append((f"entries/new-{step}.yaml", entry(f"io.github.acme/new-{step}", "0.1.0")))
    return out


def contents(conn: Any) -> dict[str, Any]:
    """What the registry server serves and what the inventory records, without row ids."""
    return {
        "served": listed(conn),
        "entries": conn.execute(
            "SELECT name, claims, claims_digest, digest FROM mcp_gitops.owned_entry ORDER BY name"
        ).fetchall(),
        "versions": conn.execute(
            "SELECT name, version, path, digest FROM mcp_gitops.owned_version ORDER BY name, version"
        ).fetchall(),
    }


@pytest.mark.parametrize("seed", range(4))
def test_edits_applied_one_after_another_equal_a_cold_apply(
    pg_url: str, pg_conn: Any, cold_url: str, seed: int
) -> None:
    rng = random.Random(seed)
    items = repository(12)
    apply(pg_url, revision(items, "r0"), prune=True)
    for step in range(1, 9):
        items = edit(items, rng, step)
        apply(pg_url, revision(items, f"r{step}"), prune=True)
        # a second apply of the same content under another revision has nothing to write
        again = apply(pg_url, revision(items, f"r{step}-again"), prune=True)
        assert again.changes == [], (step, again.changes)
    apply(cold_url, revision(items, "cold"), prune=True)
    with psycopg.connect(cold_url, autocommit=True) as cold:
        assert contents(pg_conn) == contents(cold)


def analyzed(conn: Any) -> set[str]:
    """The columns of schema.STATISTICS_COLUMNS that have planner statistics."""
    rows = conn.execute(
        "SELECT schemaname || '.' || tablename || '.' || attname FROM pg_stats"
        " WHERE (tablename, attname) IN (('owned_entry', 'owner'), ('owned_version', 'owner'),"
        " ('registry_entry', 'source_id'), ('registry_entry', 'entry_type'))"
    ).fetchall()
    return {r[0] for r in rows}


ALL_ANALYZED = {
    "mcp_gitops.owned_entry.owner",
    "mcp_gitops.owned_version.owner",
    "public.registry_entry.source_id",
    "public.registry_entry.entry_type",
}


def test_a_bulk_apply_leaves_the_statistics_the_next_one_plans_with(
    pg_url: str, pg_conn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The threshold scaled down from 1,000 rows. (Autovacuum, where it runs, would not analyze the small
    # apply's tables either: it waits for 50 changed rows.)
    monkeypatch.setattr(schema, "BULK_CHANGE", 30)
    small = repository(3)  # 6 versions of 3 entries: fewer rows than the threshold
    apply(pg_url, revision(small, "small"))
    assert analyzed(pg_conn) == set()
    apply(pg_url, revision(repository(20), "bulk"))  # 34 versions and 17 entries more
    assert analyzed(pg_conn) == ALL_ANALYZED
    plan = pg_conn.execute(
        "EXPLAIN SELECT 1 FROM mcp_gitops.owned_version o WHERE o.owner = ''"
        " AND NOT EXISTS (SELECT 1 FROM entry_version ev WHERE ev.id = o.version_id)"
    ).fetchall()
    # all 40 versions are this owner's: an estimate from the statistics, not the default 0.5 %
    assert any("on owned_version o  (cost=" in line[0] and "rows=40 " in line[0] for line in plan), plan


def test_statistics_are_not_waited_for_behind_another_session(
    pg_url: str, pg_conn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema, "BULK_CHANGE", 1)
    apply(pg_url, revision(repository(2), "first"))
    # A VACUUM or ANALYZE of another session holds this lock on the inventory until its end.
    with psycopg.connect(pg_url) as other:
        other.execute("LOCK TABLE mcp_gitops.owned_version IN SHARE UPDATE EXCLUSIVE MODE")
        result = apply(pg_url, revision(repository(4), "second"), lock_timeout=5)
        other.rollback()
    assert result.counts.created > 0


def test_a_writer_that_may_not_analyze_the_tables_still_applies(
    pg_url: str, pg_conn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The registry server's tables may belong to its own role, and only an owner may analyze a table:
    # the server skips such a table with a warning, and the apply goes on.
    monkeypatch.setattr(schema, "BULK_CHANGE", 1)
    apply(pg_url, revision(repository(2), "by the owner"))
    role = f"mcpgitops_writer_{uuid.uuid4().hex[:8]}"
    pg_conn.execute(f"CREATE ROLE {role} LOGIN")
    try:
        pg_conn.execute(f"GRANT USAGE ON SCHEMA mcp_gitops TO {role}")
        pg_conn.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public, mcp_gitops TO {role}")
        pg_conn.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public, mcp_gitops TO {role}")
        writer = make_conninfo(**{**conninfo_to_dict(pg_url), "user": role})
        result = apply(writer, revision(repository(4), "by a writer"))
        assert result.counts.created > 0
        assert pg_conn.execute("SELECT count(*) FROM registry_entry").fetchone()[0] == 4
    finally:
        pg_conn.execute(f"DROP OWNED BY {role}")
        pg_conn.execute(f"DROP ROLE {role}")
