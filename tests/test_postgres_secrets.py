"""Passwords against a server that checks them: a private PostgreSQL cluster with scram-sha-256 auth.

The shared test server trusts every connection, so it cannot show what happens with a wrong password.
This module starts its own small cluster (PostgreSQL 15 binaries, about 1.5 s) and skips when they are
not installed."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.commands import plan_apply
from reconciler.targets.postgres import RegistryInput
from reconciler.targets.postgres.connection import connect, resolve_target
from reconciler.targets.postgres.errors import ConnectionConfigError
from tests.harness.services import unavailable
from tests.test_postgres_data import entries, registry_config

pytestmark = pytest.mark.postgres

BIN = Path(os.environ.get("MCP_GITOPS_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
RIGHT = "Right-Horse-Battery-9"
WRONG = "Wrong-Staple-Cloud-4"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def scram_server() -> Iterator[str]:
    """conninfo (no password) of a cluster whose only login needs password RIGHT."""
    if not (BIN / "initdb").exists():
        unavailable("a private PostgreSQL", f"no PostgreSQL binaries in {BIN} (MCP_GITOPS_TEST_PG_BIN)")
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            unavailable("a private PostgreSQL", "running as root with no postgres user to run initdb as")
        as_user = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="mcpgitops-scram-"))
    data, pwfile = root / "data", root / "pw"
    pwfile.write_text(RIGHT + "\n")
    if as_user:
        entry = pwd.getpwnam("postgres")
        os.chown(root, entry.pw_uid, entry.pw_gid)
        os.chown(pwfile, entry.pw_uid, entry.pw_gid)
    port = _free_port()
    run = lambda *args: subprocess.run([*as_user, *args], check=True, capture_output=True)  # noqa: E731
    try:
        run(
            str(BIN / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "-E",
            "UTF8",
            "--no-sync",
        )
        run(
            str(BIN / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(root / "log"),
            "-w",
            "-o",
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        )
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(root, ignore_errors=True)
        unavailable("a private PostgreSQL", f"it did not start: {exc.stderr.decode(errors='replace')[-300:]}")
    try:
        yield f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
    finally:
        subprocess.run(
            [*as_user, str(BIN / "pg_ctl"), "-D", str(data), "-w", "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def test_wrong_password_fails_without_echoing_it(scram_server: str) -> None:
    target = resolve_target(database_url=scram_server, env={"MCP_GITOPS_DATABASE_PASSWORD": WRONG})
    with pytest.raises(ConnectionConfigError) as info:
        connect(target)
    assert "password authentication failed" in str(info.value)
    assert WRONG not in str(info.value) and WRONG not in repr(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_password_from_environment_file_and_pgpass(
    scram_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for env in ({"THV_REGISTRY_DATABASE_PASSWORD": RIGHT}, {"MCP_GITOPS_DATABASE_PASSWORD": RIGHT}):
        with connect(resolve_target(database_url=scram_server, env=env)) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    secret = tmp_path / "secret"
    secret.write_text(RIGHT + "\n")
    with connect(resolve_target(database_url=scram_server, password_file=str(secret), env={})) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:*:*:postgres:{RIGHT}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    with connect(resolve_target(database_url=scram_server, env={})) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_commands_print_no_password(
    scram_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = RegistryInput(registry_config(), entries(("io.github.acme/alpha", "1.0.0")))
    monkeypatch.setattr(plan_apply, "_validated_repo", lambda path, rev, crds, server_version: data)
    runner = CliRunner()
    outputs = []
    for password, args in [
        (WRONG, ["plan", str(tmp_path), "--database-url", scram_server]),
        (WRONG, ["apply", str(tmp_path), "--database-url", scram_server, "--format", "json"]),
        (RIGHT, ["plan", str(tmp_path), "--database-url", scram_server]),
        (RIGHT, ["apply", str(tmp_path), "--database-url", scram_server]),
        (RIGHT, ["plan", str(tmp_path), "--database-url", scram_server, "--format", "json"]),
    ]:
        result = runner.invoke(
            cli, args, env={"THV_REGISTRY_DATABASE_PASSWORD": password}, catch_exceptions=False
        )
        outputs.append((result.exit_code, result.output))
    assert [code for code, _ in outputs] == [2, 2, 1, 0, 0]
    for _, text in outputs:
        assert RIGHT not in text and WRONG not in text
    assert "password authentication failed" in outputs[0][1]
