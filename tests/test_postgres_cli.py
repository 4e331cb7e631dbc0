"""`mcp-gitops plan` / `apply` for the registry target: exit codes, formats, and secrets."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.commands import plan_apply
from reconciler.targets.postgres import RegistryInput
from tests.test_postgres_data import entries, registry_config

pytestmark = pytest.mark.postgres

PASSWORD = "S3cr3t-Pa55-xyzzy"
ITEMS = entries(("io.github.acme/alpha", "1.0.0"), ("io.github.acme/alpha", "1.1.0"))


@pytest.fixture
def repo_input(monkeypatch: pytest.MonkeyPatch) -> RegistryInput:
    """Stand in for the validation pipeline: the commands get this repository, already validated."""
    data = RegistryInput(registry_config(), ITEMS)
    monkeypatch.setattr(plan_apply, "_validated_repo", lambda path, rev, crds, server_version: data)
    return data


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_plan_and_apply_exit_codes_and_formats(
    pg_url: str, repo_input: RegistryInput, tmp_path: Path
) -> None:
    first = run("plan", str(tmp_path), "--target", "registry", "--database-url", pg_url)
    assert first.exit_code == 1, first.output
    assert "+ version  io.github.acme/alpha@1.1.0" in first.output

    as_json = run("plan", str(tmp_path), "--database-url", pg_url, "--format", "json")
    assert as_json.exit_code == 1
    plans = json.loads(as_json.output)["plans"]
    assert plans[0]["target"] == "registry" and plans[0]["summary"]["created"] > 0

    applied = run("apply", str(tmp_path), "--database-url", pg_url, "--format", "json")
    assert applied.exit_code == 0, applied.output
    assert json.loads(applied.output)["results"][0]["outcome"] == "applied"

    again = run("plan", str(tmp_path), "--database-url", pg_url)
    assert again.exit_code == 0 and "no changes" in again.output
    assert run("apply", str(tmp_path), "--database-url", pg_url).exit_code == 0


def test_errors_exit_2_with_a_message(
    pg_url: str, pg_conn: Any, repo_input: RegistryInput, tmp_path: Path
) -> None:
    pg_conn.execute(
        "CREATE TABLE schema_migrations (version bigint, dirty boolean);"
        " INSERT INTO schema_migrations VALUES (19, false)"
    )
    result = run("apply", str(tmp_path), "--database-url", pg_url)
    assert result.exit_code == 2
    assert "version 19" in result.output and "Traceback" not in result.output


def test_the_password_is_never_printed(
    pg_url: str, repo_input: RegistryInput, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    env = {"THV_REGISTRY_DATABASE_PASSWORD": PASSWORD, "MCP_GITOPS_DATABASE_PASSWORD": PASSWORD}
    outputs = [
        run("plan", str(tmp_path), "--database-url", pg_url, env=env),
        run("plan", str(tmp_path), "--database-url", pg_url, "--format", "json", env=env),
        run("apply", str(tmp_path), "--database-url", pg_url, env=env),
        run("apply", str(tmp_path), "--database-url", pg_url, "--format", "json", env=env),
        # unreachable server, and a URL that carries the password itself
        run("plan", str(tmp_path), "--database-url", "host=127.0.0.1 port=1 dbname=x user=postgres", env=env),
        run(
            "apply", str(tmp_path), "--database-url", f"postgresql://postgres:{PASSWORD}@127.0.0.1/x", env=env
        ),
    ]
    assert [o.exit_code for o in outputs] == [1, 1, 0, 0, 2, 2]
    assert "remove it from the URL" in outputs[-1].output
    for result in outputs:
        assert PASSWORD not in result.output
    assert PASSWORD not in caplog.text


def test_apply_refuses_when_validation_has_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from reconciler import pipeline
    from reconciler.findings import Finding, Report, Severity

    report = Report([Finding("schema", Severity("error"), "entries/a.yaml", 1, 1, "broken")], files=1)
    monkeypatch.setattr(
        pipeline, "validate", lambda source, **_: SimpleNamespace(report=report, rules={}, repo=None)
    )
    monkeypatch.setattr(
        "reconciler.source.open_source", lambda path, rev=None: SimpleNamespace(revision=None)
    )
    result = run("apply", str(tmp_path), "--database-url", "host=127.0.0.1 port=1")
    assert result.exit_code == 2  # a refusal, not "changes pending"
    assert "validation has errors" in result.output and "broken" in result.output
