"""`sessions` on hostile input: a Redis address a manifest chooses gets no operator password unless the
operator allowed it (a recording listener stands in for it and must receive nothing); large values are
sized, never fetched (counted with the real Redis's own command statistics); a deeply nested value is one
unparseable key, not an aborted report; a malformed URL is a usage error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from tests.harness.redis import RedisServer
from tests.listeners import RecordingListener
from tests.test_sessions import HOUR, proxy_value, seed

CLEAN_ENV = {
    "KUBECONFIG": None,
    "MCP_GITOPS_REDIS_PASSWORD": None,
    "THV_SESSION_REDIS_PASSWORD": None,
    "MCP_GITOPS_ALLOW_REDIS_HOSTS": None,
    "MCP_GITOPS_OPERATOR_CONFIG": None,
}
PASSWORD = "redis-operator-Pa55"
WEATHER = "manifests/weather.yaml"


def run(*args: str, env: dict[str, Any] | None = None) -> Any:
    return CliRunner().invoke(cli, ["sessions", *args], env={**CLEAN_ENV, **(env or {})})


def point_weather_at(repo: Path, address: str, prefix: str = "") -> None:
    path = repo / WEATHER
    text = path.read_text().replace("redis.toolhive-system.svc.cluster.local:6379", address)
    path.write_text(text.replace("mcp-sessions:weather:", prefix + "mcp-sessions:weather:"))


def test_a_manifest_chosen_redis_receives_no_operator_password(repo_copy: Path) -> None:
    with RecordingListener() as listener:
        point_weather_at(repo_copy, f"127.0.0.1:{listener.port}")
        done = run(str(repo_copy), "--no-cluster", "--server", "weather",
                   env={"MCP_GITOPS_REDIS_PASSWORD": PASSWORD})  # fmt: skip
        assert done.exit_code == 2, done.output
        line = next(
            i for i, t in enumerate((repo_copy / WEATHER).read_text().splitlines(), 1) if "address:" in t
        )
        assert f"{WEATHER}:{line}:" in done.output and "not allowed" in done.output
        assert "--allow-redis-host 127.0.0.1" in done.output and PASSWORD not in done.output
    assert listener.connections == 0 and bytes(listener.received) == b""


def test_an_allowed_redis_address_is_dialled(repo_copy: Path) -> None:
    with RecordingListener() as listener:
        point_weather_at(repo_copy, f"127.0.0.1:{listener.port}")
        done = run(
            str(repo_copy), "--no-cluster", "--server", "weather", "--allow-redis-host", "127.0.0.1",
            env={"MCP_GITOPS_REDIS_PASSWORD": PASSWORD},
        )  # fmt: skip
        assert done.exit_code == 1, done.output  # the listener speaks no Redis
    assert listener.connections >= 1


@pytest.mark.redis
def test_large_values_are_sized_not_fetched_and_nested_json_is_one_bad_key(
    repo_copy: Path, redis_server: RedisServer, redis_prefix: str
) -> None:
    point_weather_at(repo_copy, redis_server.address, redis_prefix)
    prefix = redis_prefix + "mcp-sessions:weather:"
    nested = b"[" * 100_000 + b"]" * 100_000
    big = b"x" * (1024 * 1024)
    seed(
        redis_server,
        prefix,
        [("ok", proxy_value("http://10.1.0.5:8080"), HOUR), ("deep", nested, HOUR)]
        + [(f"big{n}", big, HOUR) for n in range(5)],
    )
    client = redis_server.client()
    client.config_resetstat()
    done = run(str(repo_copy), "--no-cluster", "--server", "weather", "--format", "json",
               "--max-value-bytes", "300000")  # fmt: skip
    assert done.exit_code == 0, done.output
    group = json.loads(done.output)["prefixes"][0]
    assert group["sessions"] == 1 and group["unparseable"] == 1 and group["oversized"] == 5
    assert any(s.endswith("(1048576 bytes)") for s in group["oversized_sample"])
    stats = client.info("commandstats")
    reads = stats.get("cmdstat_getrange", {}).get("calls", 0) + stats.get("cmdstat_get", {}).get("calls", 0)
    assert reads == 2, f"{reads} reads: only the two small values may be fetched"
    findings = {f["rule"] for f in json.loads(done.output)["findings"]}
    assert "session-value-too-large" in findings


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:notaport", "redis://[::1", "http://127.0.0.1:6379", "redis://u:pw@h:99999"]
)
def test_a_malformed_redis_url_is_exit_2_with_one_line(repo_copy: Path, url: str) -> None:
    done = run(str(repo_copy), "--no-cluster", "--redis-url", url)
    assert done.exit_code == 2, done.output
    assert done.exception is None or isinstance(done.exception, SystemExit)
    assert done.output.count("\n") == 1 and done.output.startswith("mcp-gitops: error: --redis-url")
    assert ":pw@" not in done.output


def test_the_daemon_refuses_a_malformed_redis_url(repo_copy: Path, tmp_path: Path) -> None:
    done = CliRunner().invoke(
        cli,
        ["run", str(repo_copy), "--once", "--redis-url", "redis://u:pw@h:port", "--state-dir", str(tmp_path)],
        env=CLEAN_ENV,
    )
    assert done.exit_code == 2, done.output
    assert "--redis-url" in done.output and ":pw@" not in done.output
    assert done.exception is None or isinstance(done.exception, SystemExit)


@pytest.mark.redis
@pytest.mark.parametrize(("bound", "counted"), [(None, "oversized"), ("2000000", "unparseable")])
def test_300_values_of_1_mb_stay_within_memory(
    repo_copy: Path, redis_server: RedisServer, redis_prefix: str, bound: str | None, counted: str
) -> None:
    """The issue's case (572 MB before): with the default bound the values are sized, not fetched; with
    a bound above them they are fetched 8 MiB at a time. Either way the process stays small."""
    import subprocess
    import sys

    point_weather_at(repo_copy, redis_server.address, redis_prefix)
    prefix = redis_prefix + "mcp-sessions:weather:"
    big = b"y" * (1024 * 1024)
    for start in range(0, 300, 50):
        seed(redis_server, prefix, [(f"big{n}", big, HOUR) for n in range(start, start + 50)])
    args = ["sessions", str(repo_copy), "--no-cluster", "--server", "weather", "--format", "json"]
    args += ["--max-value-bytes", bound] if bound else []
    # Linux carries the peak RSS of the process a child was forked from across its exec, so a child of
    # this (large, long-lived) test process would report the test process's peak: a small launcher
    # forks the command and reports the command's own peak.
    launcher = (
        "import os, subprocess, sys\n"
        "child = subprocess.Popen(sys.argv[2:])\n"
        "_, status, usage = os.wait4(child.pid, 0)\n"
        "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
        "sys.exit(os.waitstatus_to_exitcode(status))\n"
    )
    peak_file = repo_copy.parent / "peak-kb"
    command = [sys.executable, "-c", "import sys; from reconciler.cli import main; sys.exit(main())", *args]
    child = subprocess.run(
        [sys.executable, "-c", launcher, str(peak_file), *command], capture_output=True, timeout=120
    )
    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout)["prefixes"][0][counted] == 300
    peak_mb = int(peak_file.read_text()) / 1024
    print(f"sessions over 300 values of 1 MB, bound {bound}: peak RSS {peak_mb:.0f} MB")
    assert peak_mb < 200
