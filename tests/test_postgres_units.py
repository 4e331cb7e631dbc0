"""Registry target pieces that need no database: desired rows, version order, connection settings."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from reconciler.targets.postgres.connection import (
    Secret,
    default_state_dir,
    resolve_target,
)
from reconciler.targets.postgres.desired import build_desired, go_duration_seconds
from reconciler.targets.postgres.errors import ConnectionConfigError, DesiredStateError
from reconciler.targets.postgres.versions import compare_versions, newest
from tests.test_postgres_data import entries, entry, registry_config


def test_version_order_is_semver_with_a_string_fallback() -> None:
    assert compare_versions("1.10.0", "1.9.0") == 1
    assert compare_versions("1.0.0-rc.1", "1.0.0") == -1
    assert compare_versions("2024.02", "2024.01") == 1  # not semver: plain string order
    assert compare_versions("1.10", "1.9") == -1  # string order, as the registry server falls back to
    assert newest(["1.2.0", "1.10.0", "1.9.0"]) == "1.10.0"
    assert newest(["1.0.0", "2.0.0"], current="2.0.0") == "2.0.0"
    assert newest([], None) is None


def test_go_durations() -> None:
    assert go_duration_seconds("30m") == 1800
    assert go_duration_seconds("1h30m") == 5400
    assert go_duration_seconds("1.5h") == 5400
    assert go_duration_seconds("250ms") == 0.25
    with pytest.raises(ValueError):
        go_duration_seconds("30 minutes")


def test_claims_must_agree_across_versions_of_a_name() -> None:
    items = [
        *entries(("io.github.acme/a", "1.0.0")),
        ("entries/a2.yaml", entry("io.github.acme/a", "2.0.0", claims={"org": "other"})),
    ]
    with pytest.raises(
        DesiredStateError, match=r"claims of io\.github\.acme/a differ from those in entries/a-1\.0\.0\.yaml"
    ):
        build_desired(registry_config(), items)


def test_entries_need_a_managed_source_and_at_most_one() -> None:
    config = registry_config()
    config["sources"] = config["sources"][1:]
    config["registries"][0]["sources"] = ["upstream"]
    with pytest.raises(DesiredStateError, match="no managed source"):
        build_desired(config, entries(("io.github.acme/a", "1.0.0")))
    config = registry_config()
    config["sources"].append({"name": "second", "managed": {}})
    with pytest.raises(DesiredStateError, match="at most one managed source"):
        build_desired(config, [])


def test_duplicate_versions_and_oversized_meta_are_reported() -> None:
    items = entries(("io.github.acme/a", "1.0.0"), ("io.github.acme/a", "1.0.0"))
    with pytest.raises(DesiredStateError, match="also defined in"):
        build_desired(registry_config(), items)
    big = entry("io.github.acme/a")
    big["server"]["_meta"]["io.modelcontextprotocol.registry/publisher-provided"]["x"] = "y" * 300_000
    desired = build_desired(registry_config(), [("entries/a.yaml", big)])
    with pytest.raises(DesiredStateError, match="exceeds maximum allowed size of 262144"):
        _ = desired.entries["io.github.acme/a"].versions["1.0.0"].rows
    # measured as the registry server's Go encoder writes it: each `<` is a six-byte \u003c there
    html = entry("io.github.acme/a")
    html["server"]["_meta"]["io.modelcontextprotocol.registry/publisher-provided"]["x"] = "<" * 60_000
    desired = build_desired(registry_config(), [("entries/a.yaml", html)])
    with pytest.raises(DesiredStateError, match="exceeds maximum allowed size of 262144"):
        _ = desired.entries["io.github.acme/a"].versions["1.0.0"].rows


def test_a_desired_state_built_on_an_earlier_one_equals_a_cold_one() -> None:
    """Files with the same path and content digest give the earlier build's versions as they are;
    changed, moved or new files are read again, and a different row format takes nothing."""
    from reconciler.registry_server import ServerCapabilities

    def items(description: str, moved: bool = False) -> list[tuple[str, dict[str, object], str]]:
        changed = entry("io.github.acme/b", "1.0.0", description=description)
        return [
            ("entries/a.yaml", entry("io.github.acme/a", "1.0.0"), "da#0"),
            ("entries/a2.yaml", entry("io.github.acme/a", "2.0.0"), "da2#0"),
            ("entries/b.yaml", changed, f"{description}#0"),
            ("entries/moved.yaml" if moved else "entries/c.yaml", entry("io.github.acme/c", "1.0.0"), "dc#0"),
        ]

    def shape(state: object) -> object:
        return {
            name: (e.claims, e.digest, {v: (s.path, s.digest, s.rows) for v, s in e.versions.items()})
            for name, e in state.entries.items()  # type: ignore[attr-defined]
        }

    first = build_desired(registry_config(), items("one"))
    second = build_desired(registry_config(), items("two", moved=True), earlier=first)
    cold = build_desired(registry_config(), items("two", moved=True))
    assert shape(second) == shape(cold) and second.digest() == cold.digest()
    version = {n: e.versions for n, e in second.entries.items()}
    assert version["io.github.acme/a"]["2.0.0"] is first.entries["io.github.acme/a"].versions["2.0.0"]
    assert version["io.github.acme/b"]["1.0.0"] is not first.entries["io.github.acme/b"].versions["1.0.0"]
    assert version["io.github.acme/c"]["1.0.0"].path == "entries/moved.yaml"
    v120 = ServerCapabilities.of("v1.2.0")
    older = build_desired(registry_config(), items("two", moved=True), v120, second)
    assert older.entries["io.github.acme/a"].versions["1.0.0"] is not version["io.github.acme/a"]["1.0.0"]
    assert shape(older) == shape(build_desired(registry_config(), items("two", moved=True), v120))


def test_url_with_a_password_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConnectionConfigError) as info:
        resolve_target(database_url="postgresql://u:hunter2@db/registry", env={})
    assert "hunter2" not in str(info.value)
    assert "THV_REGISTRY_DATABASE_PASSWORD" in str(info.value)
    with pytest.raises(ConnectionConfigError) as info:
        resolve_target(env={"MCP_GITOPS_DATABASE_URL": "host=db password=hunter2"})
    assert "hunter2" not in str(info.value)
    with pytest.raises(ConnectionConfigError) as info:
        resolve_target(database_url="postgresql://u:hunter2@db:notaport/x?bad", env={})
    assert "hunter2" not in str(info.value)


def test_target_precedence_and_password_sources(tmp_path: Path) -> None:
    settings = SimpleNamespace(
        database=SimpleNamespace(url="host=fromsettings dbname=r sslmode=require", fromRegistryConfig=False)
    )
    env = {"MCP_GITOPS_DATABASE_URL": "host=fromenv dbname=r"}
    assert "fromflag" in resolve_target(database_url="host=fromflag", settings=settings, env=env).conninfo  # type: ignore[operator]
    assert "fromenv" in resolve_target(settings=settings, env=env).conninfo  # type: ignore[operator]
    # A destination the repository names needs the operator's allow-list (tests/test_trust_credentials.py).
    allowed = {"MCP_GITOPS_ALLOW_DATABASE_HOSTS": "fromsettings,127.0.0.1"}
    assert "fromsettings" in resolve_target(settings=settings, env=allowed).conninfo  # type: ignore[operator]

    from_config = SimpleNamespace(database=SimpleNamespace(url=None, fromRegistryConfig=True))
    target = resolve_target(settings=from_config, registry_config=registry_config(), env=allowed)
    assert target.conninfo is not None
    assert "sslmode=require" in target.conninfo and "dbname=registry" in target.conninfo

    embedded = resolve_target(env={"XDG_STATE_HOME": str(tmp_path)})
    assert embedded.embedded and embedded.state_dir == tmp_path / "mcp-gitops" / "postgres"
    assert default_state_dir({"MCP_GITOPS_STATE_DIR": "/x/y"}) == Path("/x/y")

    secret_file = tmp_path / "pw"
    secret_file.write_text("from-file\n")
    both = {"THV_REGISTRY_DATABASE_PASSWORD": "thv", "MCP_GITOPS_DATABASE_PASSWORD": "ours"}

    def password(env: dict[str, str]) -> str | None:
        secret = resolve_target(database_url="host=h", env=env).password
        return secret.reveal() if secret else None

    assert password(both) == "thv"
    assert password({"MCP_GITOPS_DATABASE_PASSWORD": "ours"}) == "ours"
    by_file = resolve_target(database_url="host=h", password_file=str(secret_file), env={})
    assert by_file.password is not None and by_file.password.reveal() == "from-file"
    assert resolve_target(database_url="host=h", env={}).password is None  # libpq reads pgpass itself
    assert "from-file" not in repr(by_file) and "from-file" not in str(by_file.password)


def test_password_file_inside_the_repository_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("x")
    with pytest.raises(ConnectionConfigError, match="inside the config repository"):
        resolve_target(database_url="host=h", password_file=str(tmp_path / "pw"), repo_root=tmp_path, env={})
    with pytest.raises(ConnectionConfigError, match="absolute"):
        resolve_target(database_url="host=h", password_file="pw", env={})


def test_secret_never_prints() -> None:
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret) and "hunter2" not in f"{secret}"
    assert secret.scrub("x hunter2 y") == "x *** y"


def test_target_selection_is_explicit() -> None:
    from reconciler.reconcile import selected_targets
    from reconciler.settings import Settings

    assert selected_targets(Settings()) == ["registry"]  # never the cluster because KUBECONFIG is set
    assert selected_targets(Settings(targets=["cluster"])) == ["cluster"]
    assert selected_targets(Settings(targets=["cluster", "registry"])) == ["registry", "cluster"]
    assert selected_targets(Settings(targets=["registry"]), ["cluster"]) == ["cluster"]


def test_config_claim_keys_are_written_lower_case_as_the_server_writes_them() -> None:
    config = registry_config()
    config["sources"][1]["claims"] = {"Org": "acme"}
    config["registries"][0]["claims"] = {"TEAM": ["a"]}
    desired = build_desired(config, [])
    assert desired.sources["upstream"].claims == {"org": "acme"}
    assert desired.registries["default"].claims == {"team": ["a"]}
