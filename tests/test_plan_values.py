"""`plan` against a live registry shows a changed version's old and new values, field by field, as
`diff` does, and never a secret value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from tests.builders import entry, write_repo

pytestmark = pytest.mark.postgres

SECRET_VALUE = "s3cr3t-in-plan"


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_plan_shows_old_and_new_values(pg_url: str, tmp_path: Path) -> None:
    root = write_repo(tmp_path / "repo", entries={"tool.json": entry("io.github.acme/tool")})
    assert run("apply", str(root), "--target", "registry", "--database-url", pg_url).exit_code == 0
    changed = entry("io.github.acme/tool")
    changed["server"]["description"] = "A better tool"
    changed["server"]["packages"][0]["identifier"] = "@acme/tool-next"
    changed["server"]["packages"][0]["environmentVariables"] = [{"name": "API_TOKEN", "value": SECRET_VALUE}]
    (root / "entries" / "tool.json").write_text(json.dumps(changed))
    # validation would refuse the inline secret; the plan's display is what is under test here
    waiver = {"rule": "secret-in-repo", "target": {"path": "entries/tool.json"}, "reason": "test"}
    (root / "mcp-gitops.yaml").write_text(json.dumps({"waivers": [waiver]}))

    text = run("plan", str(root), "--target", "registry", "--database-url", pg_url)
    assert text.exit_code == 1, text.output
    assert 'description: "A tool for tests" -> "A better tool"' in text.output
    assert 'packages[0].pkg_identifier: "@acme/tool" -> "@acme/tool-next"' in text.output
    assert SECRET_VALUE not in text.output

    as_json = run("plan", str(root), "--target", "registry", "--database-url", pg_url, "-o", "json")
    assert SECRET_VALUE not in as_json.output
    (version,) = [c for c in json.loads(as_json.output)["plans"][0]["changes"] if c["kind"] == "version"]
    values = {v["field"]: v for v in version["values"]}
    assert values["description"] == {
        "field": "description",
        "before": "A tool for tests",
        "after": "A better tool",
    }
    assert values["packages[0].env_vars"]["after"] == [{"name": "API_TOKEN", "value": "(secret)"}]
    assert set(values) == {"description", "packages[0].pkg_identifier", "packages[0].env_vars"}
