"""The registry target against a real PostgreSQL (one fresh database per test)."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest

from reconciler.settings import Settings
from reconciler.targets.postgres import RegistryInput, RegistryOptions, RegistryTarget
from reconciler.targets.postgres.errors import (
    ApplyError,
    LiveStateError,
    OwnerConflictError,
    SchemaStateError,
)
from reconciler.targets.postgres.schema import REGISTRY_TABLES
from reconciler.targets.postgres.target import RegistryResult
from tests.test_postgres_data import MANAGED, entries, entry, registry_config, with_claims

pytestmark = pytest.mark.postgres

A, B = "io.github.acme/alpha", "io.github.acme/beta"
BOOKKEEPING_TABLES = ("mcp_gitops.state", "mcp_gitops.owned_entry", "mcp_gitops.owned_version")

# What the registry server's list query returns, in SQL: a server version is served by a registry when
# its source is linked to that registry; is_latest comes from latest_entry_version.
LIST_QUERY = """
SELECT e.name, v.version, e.claims, (l.latest_version_id IS NOT NULL) AS is_latest, v.title, v.description,
       m.website, m.server_meta, m.repository_url, m.repository_type, rs.position,
       (SELECT coalesce(json_agg(json_build_object(
            'registry_type', p.registry_type, 'identifier', p.pkg_identifier, 'version', p.pkg_version,
            'base_url', p.pkg_registry_url, 'runtime_hint', p.runtime_hint,
            'runtime_arguments', p.runtime_arguments, 'package_arguments', p.package_arguments,
            'transport', p.transport, 'env_vars', p.env_vars, 'headers', p.transport_headers)), '[]')
          FROM mcp_server_package p WHERE p.server_id = m.version_id) AS packages,
       (SELECT coalesce(json_agg(json_build_object('transport', r.transport, 'url', r.transport_url,
            'headers', r.transport_headers)), '[]')
          FROM mcp_server_remote r WHERE r.server_id = m.version_id),
       (SELECT coalesce(json_agg(json_build_object(
            'src', i.source_uri, 'mime', i.mime_type, 'theme', i.theme)),
            '[]') FROM mcp_server_icon i WHERE i.server_id = m.version_id)
FROM mcp_server m
JOIN entry_version v ON v.id = m.version_id
JOIN registry_entry e ON e.id = v.entry_id
JOIN source s ON s.id = e.source_id
JOIN registry_source rs ON rs.source_id = s.id
JOIN registry r ON r.id = rs.registry_id AND r.name = %s
LEFT JOIN latest_entry_version l
       ON l.source_id = e.source_id AND l.name = e.name AND l.latest_version_id = v.id
ORDER BY e.name, v.version
"""


def targeting(version: str) -> Settings:
    return Settings.model_validate({"registryServer": {"version": version}})


def inp(
    items: list[tuple[str, dict[str, Any]]], config: dict[str, Any] | None = None, **kw: Any
) -> RegistryInput:
    return RegistryInput(registry_config() if config is None else config, items, **kw)


def apply(url: str, data: RegistryInput, **options: Any) -> RegistryResult:
    target = RegistryTarget()
    opts = RegistryOptions(database_url=url, **options)
    return target.apply(target.plan(data, opts), opts)


def plan_json(url: str, data: RegistryInput, **options: Any) -> dict[str, Any]:
    return RegistryTarget().plan(data, RegistryOptions(database_url=url, **options)).to_json()


def snapshot(conn: Any, tables: tuple[str, ...] = REGISTRY_TABLES + BOOKKEEPING_TABLES) -> dict[str, Any]:
    """Every row with its xmin, so a rewrite of identical content shows too."""
    out: dict[str, Any] = {}
    for table in tables:
        if conn.execute("SELECT to_regclass(%s)", [table]).fetchone()[0] is None:
            out[table] = None
            continue
        out[table] = sorted(conn.execute(f"SELECT t.xmin::text, t::text FROM {table} t").fetchall())
    return out


def listed(conn: Any, registry: str = "default") -> list[tuple[Any, ...]]:
    return conn.execute(LIST_QUERY, [registry]).fetchall()


TWO = entries((A, "1.0.0"), (A, "1.1.0"), (B, "0.1.0"))


def test_apply_into_empty_database_is_served_by_the_list_query(pg_url: str, pg_conn: Any) -> None:
    result = apply(pg_url, inp(TWO))
    assert result.changed
    assert pg_conn.execute("SELECT version, dirty FROM schema_migrations").fetchall() == [(23, False)]

    rows = listed(pg_conn)
    assert [(r[0], r[1], r[3]) for r in rows] == [(A, "1.0.0", False), (A, "1.1.0", True), (B, "0.1.0", True)]
    (
        _name,
        _version,
        claims,
        _,
        title,
        description,
        website,
        meta,
        repo_url,
        repo_type,
        position,
        pkgs,
        remotes,
        icons,
    ) = rows[1]
    assert claims == {"org": "acme"}
    assert (title, description, website) == ("Alpha", "alpha does useful things", "https://alpha.example.com")
    assert meta == {
        "io.github.stacklok": {"ghcr.io/acme/alpha:1.1.0": {"status": "active", "tier": "Community"}}
    }
    assert (repo_url, repo_type, position) == ("https://github.com/acme/alpha", "github", 0)
    assert pkgs == [
        {
            "registry_type": "npm",
            "identifier": "@acme/alpha",
            "version": "1.1.0",
            "base_url": "https://registry.npmjs.org",
            "runtime_hint": "npx",
            # v1.5.1 (schema 23) keeps every argument object whole
            "runtime_arguments": [{"type": "named", "name": "--yes"}],
            "package_arguments": [
                {"type": "named", "name": "--port", "value": "8080"},
                {"type": "positional", "valueHint": "dir"},
            ],
            "transport": "stdio",
            "env_vars": [{"name": "API_KEY", "isRequired": True, "isSecret": True}],
            "headers": [],
        }
    ]
    assert remotes == [
        {
            "transport": "streamable-http",
            "url": "https://alpha.example.com/mcp",
            "headers": [{"name": "Authorization", "isSecret": True}],
        }
    ]
    assert icons == [{"src": "https://alpha.example.com/icon.png", "mime": "image/png", "theme": "DARK"}]

    sources = pg_conn.execute(
        "SELECT name, creation_type::text, source_type, syncable, extract(epoch FROM sync_schedule), claims"
        " FROM source ORDER BY name"
    ).fetchall()
    assert sources == [
        (MANAGED, "CONFIG", "managed", False, None, None),
        ("upstream", "CONFIG", "git", True, 1800, {"org": "acme"}),
    ]
    links = pg_conn.execute(
        "SELECT r.name, r.creation_type::text, s.name, rs.position FROM registry_source rs"
        " JOIN registry r ON r.id = rs.registry_id JOIN source s ON s.id = rs.source_id ORDER BY rs.position"
    ).fetchall()
    assert links == [("default", "CONFIG", MANAGED, 0), ("default", "CONFIG", "upstream", 1)]
    run = pg_conn.execute("SELECT outcome, created, updated, deleted, error FROM mcp_gitops.run").fetchall()
    assert run == [("applied", result.counts.created, 0, 0, None)]


def test_row_details_follow_the_publish_rules(pg_url: str, pg_conn: Any) -> None:
    bare = entry(A, "1.0.0", claims={})
    server = bare["server"]
    for key in ("title", "websiteUrl", "_meta", "remotes"):
        server.pop(key)
    server["icons"] = [
        {"src": "https://alpha.example.com/i.svg"},
        {"src": "https://alpha.example.com/j.png", "mimeType": "image/png", "theme": "odd"},
    ]
    server["packages"][0].pop("environmentVariables")
    server["packages"][0]["transport"] = {"type": "streamable-http", "url": "http://localhost:8080/mcp"}
    apply(pg_url, inp([("entries/a.json", bare)]))
    assert pg_conn.execute("SELECT claims FROM registry_entry").fetchone()[0] is None
    assert pg_conn.execute(
        "SELECT title, website FROM entry_version JOIN mcp_server ON version_id = id"
    ).fetchone() == (None, None)
    assert pg_conn.execute("SELECT server_meta, upstream_meta FROM mcp_server").fetchone() == (None, None)
    assert pg_conn.execute(
        "SELECT env_vars, transport_headers, transport_url FROM mcp_server_package"
    ).fetchone() == (
        [],
        [],
        "http://localhost:8080/mcp",
    )
    assert sorted(pg_conn.execute("SELECT mime_type, theme::text FROM mcp_server_icon").fetchall()) == [
        ("", "LIGHT"),
        ("image/png", "LIGHT"),
    ]


def test_reapplying_the_same_revision_writes_nothing(pg_url: str, pg_conn: Any) -> None:
    data = inp(TWO, revision="a" * 40)
    apply(pg_url, data)
    before = snapshot(pg_conn, REGISTRY_TABLES + BOOKKEEPING_TABLES + ("mcp_gitops.run",))
    assert plan_json(pg_url, data)["changes"] == []
    result = apply(pg_url, data)
    assert not result.changed
    assert snapshot(pg_conn, REGISTRY_TABLES + BOOKKEEPING_TABLES + ("mcp_gitops.run",)) == before
    # The same content from a folder (no revision) is compared by digest: still nothing to write.
    assert not apply(pg_url, inp(TWO)).changed
    # (only the recorded revision changes: this run came from a folder)
    after = snapshot(pg_conn, (*REGISTRY_TABLES, "mcp_gitops.owned_entry", "mcp_gitops.owned_version"))
    assert after == {k: v for k, v in before.items() if k in after}


def test_changing_claims_is_one_update_called_out_in_the_plan(pg_url: str, pg_conn: Any) -> None:
    apply(pg_url, inp(TWO))
    changed = with_claims(TWO, A, {"org": "acme", "team": ["platform"]})
    plan = plan_json(pg_url, inp(changed))
    assert plan["changes"] == [
        {
            "action": "update",
            "kind": "entry",
            "name": A,
            "fields": ["claims"],
            "claims": {"before": {"org": "acme"}, "after": {"org": "acme", "team": ["platform"]}},
            "path": "entries/alpha-1.0.0.yaml",
        }
    ]
    text = RegistryTarget().plan(inp(changed), RegistryOptions(database_url=pg_url)).render_text()
    assert "CLAIMS" in text and '"team":["platform"]' in text
    result = apply(pg_url, inp(changed))
    assert (result.counts.created, result.counts.updated, result.counts.deleted) == (0, 1, 0)
    assert pg_conn.execute("SELECT claims FROM registry_entry WHERE name = %s", [A]).fetchone()[0] == {
        "org": "acme",
        "team": ["platform"],
    }
    # claims cleared -> NULL, as the registry server stores an empty claim set
    apply(pg_url, inp(with_claims(TWO, A, {})))
    assert pg_conn.execute("SELECT claims FROM registry_entry WHERE name = %s", [A]).fetchone()[0] is None


def test_claims_changed_through_the_api_are_drift_and_are_restored(pg_url: str, pg_conn: Any) -> None:
    apply(pg_url, inp(TWO))
    pg_conn.execute('UPDATE registry_entry SET claims = \'{"org": "evil"}\' WHERE name = %s', [A])
    plan = plan_json(pg_url, inp(TWO))
    assert plan["changes"][0]["claims"] == {"before": {"org": "evil"}, "after": {"org": "acme"}}
    apply(pg_url, inp(TWO))
    assert pg_conn.execute("SELECT claims FROM registry_entry WHERE name = %s", [A]).fetchone()[0] == {
        "org": "acme"
    }


def latest(conn: Any, name: str) -> str:
    row = conn.execute(
        "SELECT l.version, v.version FROM latest_entry_version l"
        " JOIN entry_version v ON v.id = l.latest_version_id"
        " WHERE l.name = %s",
        [name],
    ).fetchone()
    assert row[0] == row[1]
    return str(row[0])


def test_adding_a_version_moves_latest_by_semver(pg_url: str, pg_conn: Any) -> None:
    base = entries((A, "1.9.0"))
    apply(pg_url, inp(base))
    assert latest(pg_conn, A) == "1.9.0"
    result = apply(pg_url, inp(base + entries((A, "1.10.0"))))  # newer by semver, older as a string
    assert latest(pg_conn, A) == "1.10.0"
    assert {(c["kind"], c["action"]) for c in result.to_json()["changes"]} == {
        ("version", "create"),
        ("latest", "update"),
    }
    apply(pg_url, inp(base + entries((A, "1.10.0"), (A, "1.2.0"))))  # an older version does not move it back
    assert latest(pg_conn, A) == "1.10.0"


def test_latest_falls_back_to_string_order_when_not_semver(pg_url: str, pg_conn: Any) -> None:
    apply(pg_url, inp(entries((A, "2024.01"))))
    apply(pg_url, inp(entries((A, "2024.01"), (A, "2024.02"))))
    assert latest(pg_conn, A) == "2024.02"


def test_removed_entry_is_kept_without_prune_and_deleted_with_it(pg_url: str, pg_conn: Any) -> None:
    apply(pg_url, inp(TWO))
    without_b = entries((A, "1.0.0"), (A, "1.1.0"))
    plan = plan_json(pg_url, inp(without_b))
    assert {(c["action"], c["kind"], c["name"]) for c in plan["changes"]} == {
        ("keep", "entry", B),
        ("keep", "version", B),
    }
    assert plan["summary"]["deleted"] == 0
    apply(pg_url, inp(without_b))
    assert pg_conn.execute("SELECT count(*) FROM registry_entry WHERE name = %s", [B]).fetchone()[0] == 1

    # the settings file turns pruning on, as --prune does
    settings = Settings.model_validate({"prune": {"registry": True}})
    result = apply(pg_url, inp(without_b, settings=settings))
    assert result.counts.deleted == 2  # entry and version
    assert pg_conn.execute("SELECT count(*) FROM registry_entry WHERE name = %s", [B]).fetchone()[0] == 0
    assert (
        pg_conn.execute("SELECT count(*) FROM latest_entry_version WHERE name = %s", [B]).fetchone()[0] == 0
    )
    assert (
        pg_conn.execute("SELECT count(*) FROM mcp_gitops.owned_entry WHERE name = %s", [B]).fetchone()[0] == 0
    )

    # removing the latest version re-points latest to the newest remaining one
    apply(pg_url, inp(entries((A, "1.0.0"))), prune=True)
    assert latest(pg_conn, A) == "1.0.0"


def publish_foreign(conn: Any, name: str, version: str, entry_id: Any = None) -> Any:
    """A row written the way the registry server's API would, not by mcp-gitops."""
    source_id = conn.execute("SELECT id FROM source WHERE name = %s", [MANAGED]).fetchone()[0]
    if entry_id is None:
        entry_id = conn.execute(
            "INSERT INTO registry_entry (source_id, entry_type, name, claims)"
            " VALUES (%s, 'MCP', %s, '{\"org\":\"x\"}')"
            " RETURNING id",
            [source_id, name],
        ).fetchone()[0]
    vid = conn.execute(
        "INSERT INTO entry_version (entry_id, name, version, description)"
        " VALUES (%s, %s, %s, 'api') RETURNING id",
        [entry_id, name, version],
    ).fetchone()[0]
    conn.execute("INSERT INTO mcp_server (version_id) VALUES (%s)", [vid])
    return entry_id


def test_rows_published_by_others_survive_prune(pg_url: str, pg_conn: Any) -> None:
    apply(pg_url, inp(TWO))
    publish_foreign(pg_conn, "io.github.other/gamma", "1.0.0")
    alpha_id = pg_conn.execute("SELECT id FROM registry_entry WHERE name = %s", [A]).fetchone()[0]
    publish_foreign(pg_conn, A, "9.0.0", entry_id=alpha_id)  # someone added a version to our entry

    apply(pg_url, inp(entries((B, "0.1.0"))), prune=True)
    versions = pg_conn.execute("SELECT name, version FROM entry_version ORDER BY name, version").fetchall()
    assert versions == [(A, "9.0.0"), (B, "0.1.0"), ("io.github.other/gamma", "1.0.0")]

    # an entry name someone else published is not taken over: a conflict finding at its file
    taking = inp(entries((B, "0.1.0"), ("io.github.other/gamma", "2.0.0")))
    plan = RegistryTarget().plan(taking, RegistryOptions(database_url=pg_url))
    (conflict,) = plan.findings()
    assert (conflict.rule, conflict.severity.value, conflict.line) == ("registry-owner-conflict", "error", 1)
    assert conflict.path == "entries/gamma-2.0.0.yaml" and "io.github.other/gamma" in conflict.message
    assert "published through the registry server's API" in conflict.message
    assert not [c for c in plan.to_json()["changes"] if c["name"] == "io.github.other/gamma"]
    with pytest.raises(OwnerConflictError, match=r"io\.github\.other/gamma") as refused:
        apply(pg_url, taking)
    assert refused.value.locations == [("entries/gamma-2.0.0.yaml", 1)]
    assert pg_conn.execute(
        "SELECT version FROM entry_version WHERE name = 'io.github.other/gamma'"
    ).fetchall() == [("1.0.0",)]


def test_zero_entries_with_prune_is_refused_unless_allowed(pg_url: str, pg_conn: Any) -> None:
    apply(pg_url, inp(TWO))
    with pytest.raises(LiveStateError, match="--allow-empty"):
        apply(pg_url, inp([]), prune=True)
    assert pg_conn.execute("SELECT count(*) FROM registry_entry").fetchone()[0] == 2
    apply(pg_url, inp([]), prune=True, allow_empty=True)
    assert pg_conn.execute("SELECT count(*) FROM registry_entry").fetchone()[0] == 0


def _terminate_apply(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as other:
        killed = other.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'mcp-gitops' AND datname = current_database()"
            " AND pid <> pg_backend_pid()"
        ).fetchall()
        assert killed == [(True,)]


@pytest.mark.parametrize("phase", ["schema", "entries", "versions", "bookkeeping"])
def test_connection_killed_mid_apply_leaves_the_database_unchanged(
    pg_url: str, pg_conn: Any, phase: str
) -> None:
    apply(pg_url, inp(TWO))
    before = snapshot(pg_conn)
    changed = with_claims(TWO, A, {"org": "new"}) + entries(("io.github.acme/delta", "1.0.0"))

    def hook(at: str) -> None:
        if at == phase:
            _terminate_apply(pg_url)

    target = RegistryTarget()
    opts = RegistryOptions(database_url=pg_url, prune=True)
    with pytest.raises(ApplyError, match="rolled back"):
        target.apply(target.plan(inp(changed[1:]), opts), opts, hook=hook)
    assert snapshot(pg_conn) == before


def test_connection_killed_during_first_apply_leaves_the_database_empty(pg_url: str, pg_conn: Any) -> None:
    target = RegistryTarget()
    opts = RegistryOptions(database_url=pg_url)

    def hook(at: str) -> None:
        if at == "versions":
            _terminate_apply(pg_url)

    with pytest.raises(ApplyError):
        target.apply(target.plan(inp(TWO), opts), opts, hook=hook)
    assert pg_conn.execute("SELECT to_regclass('source'), to_regclass('mcp_gitops.meta')").fetchone() == (
        None,
        None,
    )
    # and a later apply starts from scratch cleanly
    assert apply(pg_url, inp(TWO)).changed


def test_two_concurrent_applies_serialize(pg_url: str, pg_conn: Any) -> None:
    apply(pg_url, inp(TWO))
    changed = inp(with_claims(TWO, A, {"org": "serial"}))
    events: list[str] = []
    holding = threading.Event()

    def slow(at: str) -> None:
        if at == "entries":
            holding.set()
            time.sleep(0.8)
            events.append("first wrote")

    results: dict[str, Any] = {}

    def first() -> None:
        target = RegistryTarget()
        opts = RegistryOptions(database_url=pg_url)
        results["first"] = target.apply(target.plan(changed, opts), opts, hook=slow)
        events.append("first committed")

    thread = threading.Thread(target=first)
    thread.start()
    assert holding.wait(10)
    # planned while the first still holds the lock: the plan says "update"...
    target = RegistryTarget()
    opts = RegistryOptions(database_url=pg_url, lock_timeout=10)
    stale = target.plan(changed, opts)
    assert stale.has_changes
    # ...a third applier that will not wait fails cleanly, writing nothing
    with pytest.raises(ApplyError, match="another mcp-gitops apply holds the lock"):
        target.apply(stale, RegistryOptions(database_url=pg_url, lock_timeout=0.1))
    # ...and the second waits, then re-plans under the lock and finds nothing left to do.
    second = target.apply(stale, opts)
    events.append("second done")
    thread.join()
    assert events == ["first wrote", "first committed", "second done"]
    assert results["first"].counts.updated == 1
    assert not second.changed


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (
            "CREATE TABLE schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL);"
            " INSERT INTO schema_migrations VALUES (20, false)",
            "version 20",
        ),
        (
            "CREATE TABLE schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL);"
            " INSERT INTO schema_migrations VALUES (21, true)",
            "version 21 \\(dirty\\)",
        ),
        ("CREATE TABLE something_else (id int)", "not empty"),
    ],
)
def test_foreign_schema_state_is_refused(pg_url: str, pg_conn: Any, setup: str, message: str) -> None:
    pg_conn.execute(setup)
    target = RegistryTarget()
    opts = RegistryOptions(database_url=pg_url)
    with pytest.raises(SchemaStateError, match=message):
        target.plan(inp(TWO), opts)
    # apply checks again under the lock, and still writes nothing
    from reconciler.targets.postgres.connection import resolve_target
    from reconciler.targets.postgres.desired import build_desired
    from reconciler.targets.postgres.planner import PlanOptions
    from reconciler.targets.postgres.target import write_desired

    with pytest.raises(SchemaStateError):
        write_desired(
            resolve_target(database_url=pg_url, env={}), build_desired(registry_config(), TWO), PlanOptions()
        )
    assert pg_conn.execute("SELECT to_regclass('mcp_gitops.meta')").fetchone()[0] is None


def test_schema_created_by_a_registry_server_is_used_as_is(pg_url: str, pg_conn: Any) -> None:
    # Stand in for a registry server that migrated the database itself: same schema, no bookkeeping.
    from reconciler.targets.postgres.schema import _migration

    pg_conn.execute(_migration("registry_v1_2_0.sql"))
    pg_conn.execute(
        "INSERT INTO source (name, source_type, creation_type, source_config, syncable)"
        " VALUES (%s, 'managed', 'CONFIG', '{}', false)",
        [MANAGED],
    )
    with pytest.raises(SchemaStateError, match=r"version 21 .*v1.2.0 to v1.5.0.*v1.5.1 needs version 23"):
        apply(pg_url, inp(TWO))
    apply(pg_url, inp(TWO, settings=targeting("v1.5.0")))
    assert [r[:2] for r in listed(pg_conn)] == [(A, "1.0.0"), (A, "1.1.0"), (B, "0.1.0")]
    assert pg_conn.execute("SELECT count(*) FROM mcp_gitops.owned_source").fetchone()[0] == 1  # upstream only


def test_a_second_managed_source_in_the_database_is_refused(pg_url: str, pg_conn: Any) -> None:
    apply(pg_url, inp(TWO))
    pg_conn.execute(
        "INSERT INTO source (name, source_type, creation_type, syncable)"
        " VALUES ('api-made', 'managed', 'API', false)"
    )
    before = snapshot(pg_conn)
    with pytest.raises(LiveStateError, match="'api-made'"):
        RegistryTarget().plan(inp(TWO), RegistryOptions(database_url=pg_url))
    from reconciler.targets.postgres.connection import resolve_target
    from reconciler.targets.postgres.desired import build_desired
    from reconciler.targets.postgres.planner import PlanOptions
    from reconciler.targets.postgres.target import write_desired

    with pytest.raises(LiveStateError, match="api-made"):
        write_desired(
            resolve_target(database_url=pg_url, env={}), build_desired(registry_config(), TWO), PlanOptions()
        )
    assert snapshot(pg_conn) == before


def test_one_changed_entry_among_many_rewrites_one_version(pg_url: str, pg_conn: Any) -> None:
    many = entries(*[(f"io.github.acme/s{i:03d}", "1.0.0") for i in range(300)])
    apply(pg_url, inp(many))
    before = dict(pg_conn.execute("SELECT id::text, xmin::text FROM entry_version").fetchall())
    edited = [
        (p, {**d, "server": {**d["server"], "description": "new words"}}) if i == 7 else (p, d)
        for i, (p, d) in enumerate(many)
    ]
    plan = plan_json(pg_url, inp(edited))
    assert plan["changes"] == [
        {
            "action": "update",
            "kind": "version",
            "name": "io.github.acme/s007",
            "version": "1.0.0",
            "fields": ["description"],
            "values": [{"field": "description", "before": "s007 does useful things", "after": "new words"}],
            "path": "entries/s007-1.0.0.yaml",
        }
    ]
    result = apply(pg_url, inp(edited))
    assert result.counts.updated == 1
    after = dict(pg_conn.execute("SELECT id::text, xmin::text FROM entry_version").fetchall())
    assert sum(before[k] != after[k] for k in before) == 1
    # a reformatted file (same rows) is no change
    reordered = [
        (p, {"server": dict(reversed(list(d["server"].items()))), "claims": d["claims"]}) for p, d in edited
    ]
    assert not RegistryTarget().plan(inp(reordered), RegistryOptions(database_url=pg_url)).has_changes


def test_versions_deleted_by_someone_else_are_recreated(pg_url: str, pg_conn: Any) -> None:
    apply(pg_url, inp(TWO))
    pg_conn.execute("DELETE FROM entry_version WHERE name = %s AND version = '1.1.0'", [A])
    plan = plan_json(pg_url, inp(TWO))
    assert {(c["action"], c["kind"]) for c in plan["changes"]} == {
        ("create", "version"),
        ("create", "latest"),
    }
    apply(pg_url, inp(TWO))
    assert latest(pg_conn, A) == "1.1.0"


def test_created_schema_matches_the_published_constraints(pg_url: str, pg_conn: Any) -> None:
    apply(pg_url, inp(TWO))
    fks = pg_conn.execute(
        "SELECT conrelid::regclass::text, confrelid::regclass::text, confdeltype FROM pg_constraint"
        " WHERE contype = 'f' AND connamespace = 'public'::regnamespace"
    ).fetchall()
    assert ("registry_source", "source", "r") in fks  # RESTRICT
    assert ("registry_source", "registry", "c") in fks
    assert sum(1 for f in fks if f[2] == "c") == 16  # 13 at schema 21, plus the 3 plugin tables
    assert len(fks) == 17
    enums = dict(
        pg_conn.execute(
            "SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_type t"
            " JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname"
        ).fetchall()
    )
    assert enums == {
        "creation_type": ["API", "CONFIG"],
        "entry_type": ["MCP", "SKILL", "PLUGIN"],
        "plugin_status": ["ACTIVE", "DEPRECATED", "ARCHIVED"],
        "icon_theme": ["LIGHT", "DARK"],
        "skill_status": ["ACTIVE", "DEPRECATED", "ARCHIVED"],
        "sync_status": ["IN_PROGRESS", "COMPLETED", "FAILED"],
    }


def test_a_first_apply_leaves_the_foreign_keys_its_migrations_create(pg_url: str, pg_conn: Any) -> None:
    """The first apply adds the foreign keys after the rows (schema.foreign_keys_checked_at_end): the
    same keys under the same names, as the migrations alone leave them."""
    from reconciler.targets.postgres.schema import MIGRATIONS, _migration

    def keys(schema: str) -> list[tuple[str, ...]]:
        pg_conn.execute(f"SET search_path = {schema}")
        return sorted(
            pg_conn.execute(
                "SELECT c.relname, k.conname, pg_get_constraintdef(k.oid), k.convalidated::text"
                " FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid"
                " WHERE k.contype = 'f' AND k.connamespace = %s::regnamespace",
                [schema],
            ).fetchall()
        )

    apply(pg_url, inp(TWO))
    applied = keys("public")
    pg_conn.execute("CREATE SCHEMA migrated")
    pg_conn.execute("SET search_path = migrated")
    for name in MIGRATIONS[23]:
        pg_conn.execute(_migration(name))
    assert applied == keys("migrated") and len(applied) == 17
    # and they hold: a row pointing nowhere is refused
    pg_conn.execute("SET search_path = public")
    with pytest.raises(Exception, match="foreign key"):
        pg_conn.execute("INSERT INTO mcp_server (version_id) VALUES ('00000000-0000-0000-0000-000000000000')")


def test_a_pruned_source_is_kept_while_rows_of_others_depend_on_it(pg_url: str, pg_conn: Any) -> None:
    config = registry_config()
    config["sources"].append(
        {"name": "extra", "file": {"path": "/data/r.json"}, "syncPolicy": {"interval": "1h"}}
    )
    apply(pg_url, inp(TWO, config))
    extra_id = pg_conn.execute("SELECT id FROM source WHERE name = 'extra'").fetchone()[0]
    pg_conn.execute(
        "INSERT INTO registry_entry (source_id, entry_type, name) VALUES (%s, 'MCP', 'io.github.synced/x')",
        [extra_id],
    )
    plan = plan_json(pg_url, inp(TWO), prune=True)
    assert [(c["action"], c["kind"], c["name"]) for c in plan["changes"]] == [("keep", "source", "extra")]
    apply(pg_url, inp(TWO), prune=True)
    assert pg_conn.execute("SELECT count(*) FROM source WHERE name = 'extra'").fetchone()[0] == 1
    pg_conn.execute("DELETE FROM registry_entry WHERE source_id = %s", [extra_id])
    assert apply(pg_url, inp(TWO), prune=True).counts.deleted == 1
    assert pg_conn.execute("SELECT count(*) FROM source WHERE name = 'extra'").fetchone()[0] == 0
