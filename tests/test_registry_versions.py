"""The targeted registry server release: the setting, the flag, and what each release changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.pipeline import validate
from reconciler.registry_server import NEWEST_VERSION, ServerCapabilities, UnknownServerVersion, parse_version
from reconciler.repository import load_repository
from reconciler.source import FolderSource
from tests.builders import write_repo
from tests.upstream_registry import release_dir


def test_versions_outside_the_known_releases_are_refused() -> None:
    assert parse_version("v1.4.12") == (1, 4, 12)
    for bad in ("1.5.1", "v1.1.9", "v1.5.2", "v2.0.0", "latest"):
        with pytest.raises(UnknownServerVersion):
            parse_version(bad)


@pytest.mark.parametrize(
    ("version", "flags"),
    [
        ("v1.2.0", {"schemaVersion": 21, "claimsGateOnAuthz": False, "jsonbArguments": False}),
        ("v1.2.1", {"claimsGateOnAuthz": True, "defaultDenyUnlabelled": False}),
        ("v1.4.1", {"defaultDenyUnlabelled": True, "scopesSupportedIgnored": False}),
        ("v1.4.4", {"scopesSupportedIgnored": True, "databaseNameRules": False}),
        ("v1.4.6", {"databaseNameRules": True, "visibilityMatching": False, "apiTimeout": False}),
        ("v1.5.0", {"visibilityMatching": True, "publishGatedOnSource": True, "apiTimeout": True}),
        ("v1.5.0", {"schemaVersion": 21, "jsonbArguments": False}),
        ("v1.5.1", {"schemaVersion": 23, "jsonbArguments": True}),
    ],
)
def test_capabilities_switch_on_at_the_release_that_introduced_them(
    version: str, flags: dict[str, Any]
) -> None:
    cel = ServerCapabilities.of(version).to_cel()
    assert {k: cel[k] for k in flags} == flags


def test_the_setting_defaults_to_the_newest_and_the_flag_overrides_it(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "r")
    assert load_repository(FolderSource(root)).settings.registryServer.version == NEWEST_VERSION
    assert (
        load_repository(FolderSource(root), server_version="v1.2.0").settings.registryServer.version
        == "v1.2.0"
    )
    bad = write_repo(tmp_path / "bad", settings={"registryServer": {"version": "v9.0.0"}})
    repo = load_repository(FolderSource(bad))
    assert [(f.rule, f.path, f.line) for f in repo.findings] == [
        ("settings", "mcp-gitops.yaml", 3)
    ]  # the line of `version`
    assert "outside the releases" in repo.findings[0].message


def test_a_flag_value_outside_the_releases_is_a_usage_error(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "r")
    for command in ("validate", "plan", "apply"):
        result = CliRunner().invoke(cli, [command, str(root), "--registry-server-version", "v1.6.0"])
        assert result.exit_code == 2, (command, result.output)
        assert "outside the releases mcp-gitops knows" in result.output


@pytest.mark.parametrize("version", ["v1.2.0", "v1.5.1"])
def test_the_servers_own_example_configs_validate_clean_at_their_release(
    tmp_path: Path, version: str
) -> None:
    examples = sorted((release_dir(version) / "examples").glob("config-*.yaml"))
    assert len(examples) == 14
    for example in examples:
        root = tmp_path / example.stem
        root.mkdir()
        (root / "registry.yaml").write_text(example.read_text())
        # the pipeline, not the command: the command leaves the garbage collector off for its process
        report = validate(FolderSource(root), server_version=version).report
        assert report.findings == [], (example.name, [f.message for f in report.findings])
