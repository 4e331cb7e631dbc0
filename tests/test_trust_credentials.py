"""The repository is untrusted: a database destination it chooses never receives the operator's
password unless the operator allowed that destination, and a password file it names is never read.
The "database" here is a listener that records what it receives (tests/listeners.py)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.targets.postgres.connection import resolve_target
from reconciler.targets.postgres.errors import ConnectionConfigError
from reconciler.trust import HostRule, OperatorTrust, TrustError, load
from tests.builders import CONFIG, entry, write_repo
from tests.listeners import RecordingListener

PASSWORD = "operator-Pa55-xyzzy"
CLI = [sys.executable, "-c", "import sys; from reconciler.cli import main; sys.exit(main())"]


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_GITOPS_", "THV_", "PG"))}
    environ.update(env)
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=environ, timeout=60)


def repo_with_settings_url(root: Path, port: int) -> Path:
    return write_repo(
        root,
        entries={"a.yaml": entry()},
        settings={"database": {"url": f"host=127.0.0.1 port={port} dbname=registry user=thv"}},
    )


def repo_with_config_host(root: Path, port: int) -> Path:
    config = copy.deepcopy(CONFIG)
    config["database"] = {
        "host": "127.0.0.1",
        "port": port,
        "user": "thv",
        "database": "registry",
        "sslMode": "disable",
    }
    return write_repo(
        root, config=config, entries={"a.yaml": entry()}, settings={"database": {"fromRegistryConfig": True}}
    )


@pytest.mark.parametrize("build", [repo_with_settings_url, repo_with_config_host])
def test_a_repository_chosen_host_receives_nothing(tmp_path: Path, build: object) -> None:
    with RecordingListener() as listener:
        repo = build(tmp_path / "repo", listener.port)  # type: ignore[operator]
        for command in ("plan", "apply"):
            done = cli(command, str(repo), "--target", "registry", THV_REGISTRY_DATABASE_PASSWORD=PASSWORD)
            assert done.returncode == 2, done.stderr
            file = "mcp-gitops.yaml" if build is repo_with_settings_url else "registry.yaml"
            assert f"{file}:" in done.stderr and "not allowed" in done.stderr, done.stderr
            assert "--allow-database-host 127.0.0.1" in done.stderr
            assert PASSWORD not in done.stderr + done.stdout
    assert listener.connections == 0 and bytes(listener.received) == b""


def test_the_line_of_the_destination_is_named(tmp_path: Path) -> None:
    with RecordingListener() as listener:
        repo = repo_with_config_host(tmp_path / "repo", listener.port)
        done = cli("plan", str(repo), THV_REGISTRY_DATABASE_PASSWORD=PASSWORD)
    text = (repo / "registry.yaml").read_text().splitlines()
    line = next(i for i, t in enumerate(text, 1) if '"host": "127.0.0.1"' in t)
    assert f"registry.yaml:{line}: " in done.stderr, done.stderr


def test_an_allowed_host_is_dialled(tmp_path: Path) -> None:
    """The refusal is the allow-list at work, not a broken connection: allowed, the listener is dialled
    (it speaks no PostgreSQL, so the command then fails on its own)."""
    with RecordingListener() as listener:
        repo = repo_with_settings_url(tmp_path / "repo", listener.port)
        done = cli(
            "plan", str(repo), "--target", "registry", "--allow-database-host", f"127.0.0.1:{listener.port}",
            THV_REGISTRY_DATABASE_PASSWORD=PASSWORD,
        )  # fmt: skip
        assert done.returncode == 2
    assert listener.connections >= 1


def test_allow_list_from_the_environment_and_the_operator_config(tmp_path: Path) -> None:
    with RecordingListener() as listener:
        repo = repo_with_settings_url(tmp_path / "repo", listener.port)
        cli("plan", str(repo), MCP_GITOPS_ALLOW_DATABASE_HOSTS=f"db.example,127.0.0.1:{listener.port}")
        operator = tmp_path / "operator.yaml"
        operator.write_text(f"database:\n  allowHosts: ['127.0.0.1:{listener.port}']\n")
        cli("plan", str(repo), "--operator-config", str(operator))
    assert listener.connections >= 2


def test_operator_config_inside_the_repository_is_refused(tmp_path: Path) -> None:
    repo = repo_with_settings_url(tmp_path / "repo", 1)
    (repo / "operator.yaml").write_text("database:\n  allowHosts: ['127.0.0.1']\n")
    done = cli("plan", str(repo), "--operator-config", str(repo / "operator.yaml"))
    assert done.returncode == 2 and "inside the configuration repository" in done.stderr


def test_repository_password_file_is_never_read_and_is_a_finding(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("not-for-the-repository")
    repo = write_repo(
        tmp_path / "repo",
        entries={"a.yaml": entry()},
        settings={"database": {"url": "host=127.0.0.1 dbname=r", "passwordFile": str(secret)}},
    )
    validated = cli("validate", str(repo))
    assert validated.returncode == 1
    assert "mcp-gitops.yaml:" in validated.stdout and "password file is never taken" in validated.stdout
    planned = cli("plan", str(repo), "--allow-database-host", "127.0.0.1")
    assert planned.returncode == 2 and "validation has errors" in planned.stderr
    assert "not-for-the-repository" not in planned.stdout + planned.stderr


def test_password_in_the_settings_url_is_a_finding(tmp_path: Path) -> None:
    repo = write_repo(
        tmp_path / "repo",
        entries={"a.yaml": entry()},
        settings={"database": {"url": "postgresql://thv:hunter2@db.example/registry"}},
    )
    done = cli("validate", str(repo))
    assert done.returncode == 1
    assert "mcp-gitops.yaml:" in done.stdout and "holds a password" in done.stdout
    assert "hunter2" not in done.stdout


def test_operator_named_destinations_need_no_allow_list() -> None:
    database = type("D", (), {"url": "host=evil.example sslmode=verify-full", "fromRegistryConfig": False})
    settings = type("S", (), {"database": database})
    trust = OperatorTrust(database_url="host=db.internal dbname=r", database_url_origin="operator config")
    target = resolve_target(settings=settings, env={}, trust=trust)
    assert target.conninfo is not None and "db.internal" in target.conninfo
    flag = resolve_target(database_url="host=db.flag", settings=settings, env={}, trust=OperatorTrust())
    assert flag.conninfo is not None and "db.flag" in flag.conninfo
    with pytest.raises(ConnectionConfigError, match=r"evil\.example:5432"):
        resolve_target(settings=settings, env={"THV_REGISTRY_DATABASE_PASSWORD": "x"}, trust=OperatorTrust())
    allowed = OperatorTrust(database_hosts=(HostRule.parse("EVIL.example"),))
    assert resolve_target(settings=settings, env={}, trust=allowed).conninfo is not None
    only_6432 = OperatorTrust(database_hosts=(HostRule.parse("evil.example:6432"),))
    with pytest.raises(ConnectionConfigError):
        resolve_target(settings=settings, env={}, trust=only_6432)


def test_host_rules_parse_and_bad_ones_are_errors(tmp_path: Path) -> None:
    assert HostRule.parse("[::1]:5432") == HostRule("::1", 5432)
    assert HostRule.parse("db:5432").matches("DB", 5432)
    assert not HostRule.parse("db:5432").matches("db", 5433)
    with pytest.raises(TrustError, match="port"):
        HostRule.parse("db:http")
    bad = tmp_path / "op.yaml"
    bad.write_text("database:\n  allowHost: [x]\n")
    with pytest.raises(TrustError, match="allowHost"):
        load(str(bad), env={})


def test_the_daemon_refuses_a_repository_chosen_host_too(tmp_path: Path) -> None:
    with RecordingListener() as listener:
        repo = repo_with_settings_url(tmp_path / "repo", listener.port)
        done = cli(
            "run", str(repo), "--once", "--target", "registry", "--state-dir", str(tmp_path / "state"),
            THV_REGISTRY_DATABASE_PASSWORD=PASSWORD,
        )  # fmt: skip
        assert done.returncode == 2, done.stdout + done.stderr
        assert "not allowed" in done.stdout + done.stderr
        assert PASSWORD not in done.stdout + done.stderr
    assert listener.connections == 0 and bytes(listener.received) == b""


def test_hostaddr_and_libpq_file_options_cannot_route_around_the_allow_list() -> None:
    allowed = OperatorTrust(database_hosts=(HostRule.parse("db.allowed"),))

    def settings_url(url: str) -> object:
        return type("S", (), {"database": type("D", (), {"url": url, "fromRegistryConfig": False})})

    with pytest.raises(ConnectionConfigError, match=r"6\.6\.6\.6:5432"):
        resolve_target(settings=settings_url("host=db.allowed hostaddr=6.6.6.6"), env={}, trust=allowed)
    with pytest.raises(ConnectionConfigError, match="evil:5432"):
        resolve_target(settings=settings_url("host=db.allowed,evil"), env={}, trust=allowed)
    for option in ("passfile=/etc/shadow", "service=prod", "sslkey=/root/key", "options=-cx=y"):
        with pytest.raises(ConnectionConfigError, match="may not choose"):
            resolve_target(settings=settings_url(f"host=db.allowed {option}"), env={}, trust=allowed)
    # An allowed host still gets the password only over TLS when the repository chose it.
    for weak in ("", "sslmode=disable", "sslmode=allow", "sslmode=prefer"):
        with pytest.raises(ConnectionConfigError, match="without TLS"):
            resolve_target(settings=settings_url(f"host=db.allowed {weak}"), env={}, trust=allowed)
    local = OperatorTrust(database_hosts=(HostRule.parse("127.0.0.1"),))
    assert resolve_target(
        settings=settings_url("host=127.0.0.1 sslmode=disable"), env={}, trust=local
    ).conninfo
    ok = resolve_target(
        settings=settings_url("host=db.allowed port=6432 sslmode=require"), env={}, trust=allowed
    )
    assert ok.conninfo is not None


def test_operator_config_and_environment_lists_add_up(tmp_path: Path) -> None:
    operator = tmp_path / "operator.yaml"
    operator.write_text(
        "database:\n  url: host=db.internal sslmode=verify-full\n  passwordFile: /run/pw\n"
        "  allowHosts: [db.one]\nredis:\n  allowHosts: ['redis.one:6380']\n"
    )
    trust = load(
        None,
        ["db.flag"],
        ["redis.flag"],
        env={"MCP_GITOPS_OPERATOR_CONFIG": str(operator), "MCP_GITOPS_ALLOW_REDIS_HOSTS": "redis.env"},
    )
    assert trust.database_url == "host=db.internal sslmode=verify-full" and trust.password_file == "/run/pw"
    assert trust.allows_database("db.one", 5432) and trust.allows_database("db.flag", 1)
    assert trust.allows_redis("redis.one", 6380) and not trust.allows_redis("redis.one", 6379)
    assert trust.allows_redis("redis.flag", 6379) and trust.allows_redis("redis.env", 6379)
    big = tmp_path / "big.yaml"
    big.write_text("#" * 70_000)
    with pytest.raises(TrustError, match="larger than"):
        load(str(big), env={})
    with pytest.raises(TrustError, match="cannot read"):
        load(str(tmp_path / "missing.yaml"), env={})
