"""mcp-gitops against the registry server's own schema and queries, for v1.2.0 (schema 21) and v1.5.1
(schema 23): databases built from the server's migrations, read back with the server's sqlc queries."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from psycopg.types.json import Jsonb

from reconciler.settings import Settings
from reconciler.targets.postgres import RegistryInput, RegistryOptions, RegistryTarget
from reconciler.targets.postgres.target import RegistryResult
from tests.test_postgres_data import MANAGED, entries, registry_config, with_claims
from tests.upstream_registry import migrate, run_query

pytestmark = pytest.mark.postgres

A, B = "io.github.acme/alpha", "io.github.acme/beta"
ITEMS = entries((A, "1.0.0"), (A, "1.1.0"), (B, "0.1.0"))
SCHEMA = {"v1.2.0": 21, "v1.5.1": 23}


def inp(version: str, items: list[Any] = ITEMS, config: dict[str, Any] | None = None) -> RegistryInput:
    settings = Settings.model_validate({"registryServer": {"version": version}})
    return RegistryInput(config or source_claims(registry_config()), items, settings=settings)


def source_claims(config: dict[str, Any], claims: dict[str, Any] | None = None) -> dict[str, Any]:
    """The managed source carries the entries' claims, as claims-reset-on-restart demands."""
    config = copy.deepcopy(config)
    config["sources"][0]["claims"] = claims or {"org": "acme"}
    return config


def apply(url: str, data: RegistryInput) -> RegistryResult:
    target, options = RegistryTarget(), RegistryOptions(database_url=url)
    return target.apply(target.plan(data, options), options)


def plan(url: str, data: RegistryInput) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = (
        RegistryTarget().plan(data, RegistryOptions(database_url=url)).to_json()["changes"]
    )
    return changes


def expected_arguments(version: str, arguments: list[dict[str, Any]]) -> Any:
    # v1.2.0 stores names only (positional arguments as ""); v1.5.1 the whole objects
    return [a.get("name", "") for a in arguments] if version == "v1.2.0" else arguments


def served(conn: Any, version: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Every server version the `default` registry serves, with its packages and remotes, read with the
    server's own queries of `version`."""
    (registry,) = run_query(conn, version, "GetRegistryByName", name="default")
    rows = run_query(conn, version, "ListServers", registry_id=registry["id"], size=1000)
    ids = [r["id"] for r in rows]
    packages = run_query(conn, version, "ListServerPackages", version_ids=ids)
    remotes = run_query(conn, version, "ListServerRemotes", version_ids=ids)
    out = {}
    for row in rows:
        row["packages"] = [p for p in packages if p["server_id"] == row["id"]]
        row["remotes"] = [r for r in remotes if r["server_id"] == row["id"]]
        out[(row["name"], row["version"])] = row
    return out


@pytest.mark.parametrize("version", ["v1.2.0", "v1.5.1"])
def test_what_apply_writes_is_what_the_server_queries_return(pg_url: str, pg_conn: Any, version: str) -> None:
    assert migrate(pg_conn, version) == SCHEMA[version]
    apply(pg_url, inp(version))
    rows = served(pg_conn, version)
    assert sorted(rows) == [(A, "1.0.0"), (A, "1.1.0"), (B, "0.1.0")]
    for path, data in ITEMS:
        server = data["server"]
        row = rows[(server["name"], server["version"])]
        assert row["claims"] == data["claims"], path
        assert (row["title"], row["description"], row["website"]) == (
            server["title"],
            server["description"],
            server["websiteUrl"],
        )
        assert row["server_meta"] == server["_meta"]["io.modelcontextprotocol.registry/publisher-provided"]
        repository = server["repository"]
        assert (row["repository_url"], row["repository_id"], row["repository_type"]) == (
            repository["url"],
            repository["id"],
            repository["source"],
        )
        assert row["registry_type"] == "managed"
        (package,) = row["packages"]
        want = server["packages"][0]
        assert (package["registry_type"], package["pkg_identifier"], package["pkg_version"]) == (
            want["registryType"],
            want["identifier"],
            want["version"],
        )
        assert (package["pkg_registry_url"], package["runtime_hint"], package["transport"]) == (
            want["registryBaseUrl"],
            want["runtimeHint"],
            want["transport"]["type"],
        )
        assert package["runtime_arguments"] == expected_arguments(version, want["runtimeArguments"])
        assert package["package_arguments"] == expected_arguments(version, want["packageArguments"])
        assert package["env_vars"] == want["environmentVariables"]
        (remote,) = row["remotes"]
        assert (remote["transport"], remote["transport_url"], remote["transport_headers"]) == (
            server["remotes"][0]["type"],
            server["remotes"][0]["url"],
            server["remotes"][0]["headers"],
        )
        # The server has no query that reads icons back; the table it inserts into is checked directly.
        icons = pg_conn.execute(
            "SELECT source_uri, mime_type, theme::text FROM mcp_server_icon WHERE server_id = %s", [row["id"]]
        ).fetchall()
        assert icons == [(server["icons"][0]["src"], server["icons"][0]["mimeType"], "DARK")]
    assert [r["is_latest"] for r in rows.values()] == [False, True, True]
    (latest,) = run_query(
        pg_conn,
        version,
        "GetServerVersion",
        registry_id=run_query(pg_conn, version, "GetRegistryByName", name="default")[0]["id"],
        name=A,
        version="latest",
        size=10,
    )
    assert latest["version"] == "1.1.0"


def test_after_an_upgrade_from_21_to_23_the_first_apply_restores_full_arguments(
    pg_url: str, pg_conn: Any
) -> None:
    migrate(pg_conn, "v1.2.0")
    apply(pg_url, inp("v1.2.0"))
    # the operator upgrades the registry server: its migrations 22 and 23 run on the same database
    assert migrate(pg_conn, "v1.5.1", start_after=21) == 23
    names_only = served(pg_conn, "v1.5.1")[(A, "1.1.0")]["packages"][0]["package_arguments"]
    assert names_only == [{"name": "--port"}]  # migration 23 keeps only the names
    changes = plan(pg_url, inp("v1.5.1"))
    assert {(c["action"], c["kind"], tuple(c.get("fields") or ())) for c in changes} == {
        ("update", "version", ("packages",))
    }
    assert len(changes) == 3
    apply(pg_url, inp("v1.5.1"))
    for _, data in ITEMS:
        server = data["server"]
        (package,) = served(pg_conn, "v1.5.1")[(server["name"], server["version"])]["packages"]
        assert package["package_arguments"] == server["packages"][0]["packageArguments"]
    assert not apply(pg_url, inp("v1.5.1")).changed
    # and a target that does not match the database is refused with the reason
    with pytest.raises(Exception, match="version 23"):
        plan(pg_url, inp("v1.2.0"))


def managed_source_id(conn: Any) -> Any:
    return conn.execute("SELECT id FROM source WHERE name = %s", [MANAGED]).fetchone()[0]


def restart(conn: Any, version: str, config: dict[str, Any]) -> None:
    """What the registry server does to the managed source's entries at every start-up."""
    claims = config["sources"][0].get("claims")
    run_query(
        conn,
        version,
        "PropagateSourceClaimsToEntries",
        source_id=managed_source_id(conn),
        claims=Jsonb(claims) if claims else None,
    )


@pytest.mark.parametrize("version", ["v1.2.0", "v1.5.1"])
def test_claims_that_match_the_source_survive_a_restart(pg_url: str, pg_conn: Any, version: str) -> None:
    migrate(pg_conn, version)
    data = inp(version)
    apply(pg_url, data)
    restart(pg_conn, version, dict(data.config or {}))
    assert plan(pg_url, data) == []
    assert {r["claims"]["org"] for r in served(pg_conn, version).values()} == {"acme"}


@pytest.mark.parametrize("version", ["v1.2.0", "v1.5.1"])
def test_claims_reset_by_a_restart_are_detected_and_restored(pg_url: str, pg_conn: Any, version: str) -> None:
    # what validate refuses (claims-reset-on-restart), the target still repairs
    migrate(pg_conn, version)
    config = registry_config()  # the managed source has no claims: a restart writes NULL
    items = with_claims(ITEMS, B, {"org": "acme", "team": ["data"]})
    data = inp(version, items, config)
    apply(pg_url, data)
    restart(pg_conn, version, config)
    assert {r["claims"] for r in served(pg_conn, version).values()} == {None}
    changes = plan(pg_url, data)
    assert sorted((c["action"], c["kind"], c["name"]) for c in changes) == [
        ("update", "entry", A),
        ("update", "entry", B),
    ]
    assert all("restart" in (c.get("note") or "") for c in changes)
    apply(pg_url, data)
    claims = {(r["name"]): r["claims"] for r in served(pg_conn, version).values()}
    assert claims == {A: {"org": "acme"}, B: {"org": "acme", "team": ["data"]}}


def test_plan_and_apply_refuse_a_database_of_another_release_with_exit_2(
    pg_url: str, pg_conn: Any, tmp_path: Any
) -> None:
    from click.testing import CliRunner

    from reconciler.cli import cli
    from tests.builders import entry, write_repo

    migrate(pg_conn, "v1.5.1")
    root = write_repo(tmp_path / "r", entries={"a.json": entry()})
    args = ["--target", "registry", "--database-url", pg_url]
    for command in ("plan", "apply"):
        refused = CliRunner().invoke(cli, [command, str(root), *args, "--registry-server-version", "v1.5.0"])
        assert refused.exit_code == 2, refused.output
        assert "schema is at version 23 (the schema of ToolHive Registry Server v1.5.1" in refused.output
    planned = CliRunner().invoke(cli, ["plan", str(root), *args])
    assert planned.exit_code == 1, planned.output
    assert "(ToolHive Registry Server v1.5.1, schema version 23)" in planned.output
