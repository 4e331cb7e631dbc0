"""`mcp-gitops sessions` end to end on a copy of sample-repo, its Redis address overridden to the test's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from tests.harness.redis import RedisServer
from tests.test_sessions import HOUR, MINUTE, SECRETS, proxy_value, seed, vmcp_value

pytestmark = pytest.mark.redis

# Nothing in these tests may read a developer's cluster or password.
CLEAN_ENV = {"KUBECONFIG": None, "MCP_GITOPS_REDIS_PASSWORD": None, "THV_SESSION_REDIS_PASSWORD": None}


def run(*args: str, env: dict[str, Any] | None = None) -> Any:
    return CliRunner().invoke(
        cli, ["sessions", *args], env={**CLEAN_ENV, **(env or {})}, catch_exceptions=False
    )


@pytest.fixture
def repo(repo_copy: Path, redis_prefix: str) -> Path:
    """sample-repo with the key prefixes made unique to this test."""
    for name, old in (
        ("weather.yaml", "mcp-sessions:weather:"),
        ("platform-tools.yaml", "vmcp-sessions:platform:"),
    ):
        path = repo_copy / "manifests" / name
        path.write_text(path.read_text().replace(old, redis_prefix + old))
    return repo_copy


def test_json_report_and_exit_codes(repo: Path, redis_server: RedisServer, redis_prefix: str) -> None:
    weather, platform = redis_prefix + "mcp-sessions:weather:", redis_prefix + "vmcp-sessions:platform:"
    seed(redis_server, weather, [("a", proxy_value("http://10.1.0.5:8080"), HOUR), ("b", b"junk", HOUR)])
    seed(
        redis_server, platform, [("c", vmcp_value("weather"), 10 * MINUTE), ("d", vmcp_value(), MINUTE)], db=1
    )
    url = f"redis://{redis_server.address}"

    result = run(str(repo), "--redis-url", url, "--no-cluster", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    by_prefix = {p["prefix"]: p for p in report["prefixes"]}
    assert by_prefix[weather]["sessions"] == 1 and by_prefix[weather]["unparseable"] == 1
    assert by_prefix[weather]["proxy"]["pinned"] == 1 and by_prefix[weather]["proxy"]["stale"] is None
    assert by_prefix[platform]["db"] == 1 and by_prefix[platform]["vmcp"]["full"] == 1
    assert by_prefix[platform]["vmcp"]["placeholders"] == 1
    assert report["summary"] == {"servers": 2, "sessions": 3, "errors": 0, "warnings": 1, "infos": 0}
    assert {r["endpoint"] for r in report["redis"]} == {url}
    assert all(secret not in result.output for secret in SECRETS)

    text = run(str(repo), "--redis-url", url, "--no-cluster", "--server", "weather")
    assert text.exit_code == 0, text.output
    assert "MCPServer/toolhive-system/weather" in text.output and "platform-vmcp" not in text.output
    assert all(secret not in text.output for secret in SECRETS)


def test_unreachable_redis_exits_1(repo: Path, closed_redis_address: str) -> None:
    result = run(str(repo), "--redis-url", f"redis://{closed_redis_address}", "--no-cluster")
    assert result.exit_code == 1
    assert "session-redis-unreachable" in result.output and "Traceback" not in result.output


def test_wrong_password_exits_1(repo: Path, redis_auth_server: RedisServer, tmp_path: Path) -> None:
    password_file = tmp_path / "password"
    password_file.write_text("wrong\n")
    url = f"redis://{redis_auth_server.address}"
    result = run(str(repo), "--redis-url", url, "--no-cluster", "--redis-password-file", str(password_file))
    assert (
        result.exit_code == 1
        and "session-redis-auth" in result.output
        and "password was refused" in result.output
    )
    assert redis_auth_server.password is not None
    password_file.write_text(redis_auth_server.password + "\n")
    assert (
        run(
            str(repo), "--redis-url", url, "--no-cluster", "--redis-password-file", str(password_file)
        ).exit_code
        == 0
    )
    env_run = run(
        str(repo),
        "--redis-url",
        url,
        "--no-cluster",
        env={"MCP_GITOPS_REDIS_PASSWORD": redis_auth_server.password},
    )
    assert env_run.exit_code == 0 and "password: env MCP_GITOPS_REDIS_PASSWORD" in env_run.output


@pytest.mark.parametrize(
    "args",
    [
        ["--stale-threshold", "lots"],
        ["--redis-url", "localhost:6379"],
        ["--server", "nobody"],
        ["--redis-password-file", "/nonexistent/password"],
        ["--kubeconfig", "/nonexistent/kubeconfig"],
        ["--format", "xml"],
    ],
)
def test_usage_errors_exit_2(repo: Path, args: list[str]) -> None:
    result = run(str(repo), "--no-cluster" if "--kubeconfig" not in args else "--pings=1", *args)
    assert result.exit_code == 2, result.output


def test_a_repository_without_redis_servers(tmp_path: Path) -> None:
    (tmp_path / "mcp-gitops.yaml").write_text("manifests: [manifests]\n")
    (tmp_path / "manifests").mkdir()
    result = run(str(tmp_path))
    assert (
        result.exit_code == 0
        and "No MCPServer or VirtualMCPServer keeps its sessions in Redis" in result.output
    )
