"""`mcp-gitops apply` of sample-repo into an empty database, through the real pipeline, read back the way
the registry server lists servers."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from tests.test_postgres_apply import LIST_QUERY, REGISTRY_TABLES, snapshot

pytestmark = pytest.mark.postgres


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_sample_repo_applies_and_is_listed_with_claims(sample_repo: Path, pg_url: str, pg_conn: Any) -> None:
    planned = run(
        "plan", str(sample_repo), "--target", "registry", "--database-url", pg_url, "--format", "json"
    )
    assert planned.exit_code == 1, planned.output
    applied = run("apply", str(sample_repo), "--target", "registry", "--database-url", pg_url)
    assert applied.exit_code == 0, applied.output

    rows = pg_conn.execute(LIST_QUERY, ["default"]).fetchall()
    by_key = {(r[0], r[1]): r for r in rows}
    assert ("io.github.acme/weather", "2.0.0") in by_key
    latest = {r[0]: r[1] for r in rows if r[3]}
    assert latest["io.github.acme/weather"] == "2.0.0"
    # the managed source's claims, which the registry server would put back at its next start-up
    assert by_key[("io.github.acme/weather", "1.4.2")][2] == {"org": "acme"}
    assert (
        "ToolHive Registry Server v1.5.1, schema version 23"
        in run("plan", str(sample_repo), "--target", "registry", "--database-url", pg_url).output
    )
    weather = by_key[("io.github.acme/weather", "2.0.0")]
    assert weather[11][0]["identifier"] == "@acme/weather-mcp"
    assert weather[11][0]["package_arguments"] == [
        {"name": "--units", "type": "named", "value": "metric", "choices": ["metric", "imperial"]}
    ]
    assert weather[13] == [
        {
            "src": "https://assets.acme.example.com/icons/weather.svg",
            "mime": "image/svg+xml",
            "theme": "LIGHT",
        }
    ]
    # every entry file is one listed version, and the `platform` registry serves the same managed source
    files = [p for p in (sample_repo / "entries").rglob("*") if p.suffix in (".yaml", ".yml", ".json")]
    assert len(rows) == len(files)
    assert len(pg_conn.execute(LIST_QUERY, ["platform"]).fetchall()) == len(files)

    # re-applying writes nothing, and plan then says so with exit 0
    tables = (*REGISTRY_TABLES, "mcp_gitops.owned_version", "mcp_gitops.run")
    before = snapshot(pg_conn, tables)
    assert run("apply", str(sample_repo), "--target", "registry", "--database-url", pg_url).exit_code == 0
    assert snapshot(pg_conn, tables) == before
    again = run(
        "plan", str(sample_repo), "--target", "registry", "--database-url", pg_url, "--format", "json"
    )
    assert again.exit_code == 0 and json.loads(again.output)["plans"][0]["changes"] == []


def test_git_revision_is_recorded_and_trusted(
    sample_repo: Path, tmp_path: Path, pg_url: str, pg_conn: Any
) -> None:
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(sample_repo, repo)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    sha = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert (
        run("apply", str(repo), "--rev", "HEAD", "--target", "registry", "--database-url", pg_url).exit_code
        == 0
    )
    assert pg_conn.execute("SELECT revision FROM mcp_gitops.state").fetchone()[0] == sha
    runs = pg_conn.execute("SELECT revision, outcome, created > 0, error FROM mcp_gitops.run").fetchall()
    assert runs == [(sha, "applied", True, None)]
    assert (
        run("plan", str(repo), "--rev", "HEAD", "--target", "registry", "--database-url", pg_url).exit_code
        == 0
    )
