"""`mcp-gitops convert`: legacy ToolHive registry -> entry files that validate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reconciler import schemas
from reconciler.cli import cli
from reconciler.convert import ConvertError, convert_registry, entry_path, parse_claims
from reconciler.documents import parse

FIXTURE = Path(__file__).parent / "fixtures" / "legacy" / "registry.json"
PUBLISHER = "io.modelcontextprotocol.registry/publisher-provided"
CLAIMS = ["--claims", "org=acme", "--claims", "team=platform", "--claims", "team=search"]


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["convert", *args], catch_exceptions=False)


def load(path: Path) -> Any:
    """Parse an output file exactly as `validate` does."""
    result = parse(path.name, path.read_bytes())
    assert result.findings == []
    (doc,) = result.documents
    return doc.data


def legacy(**sections: Any) -> dict[str, Any]:
    return {"version": "1.0.0", "last_updated": "2025-11-26T00:27:46Z", **sections}


FETCH = {
    "description": "Allows you to fetch content from the web",
    "image": "ghcr.io/stackloklabs/gofetch/server:1.0.1",
    "status": "Active",
    "tier": "Community",
    "transport": "stdio",
    "tools": ["fetch"],
}


def test_fixture_converts_and_every_file_validates(tmp_path: Path) -> None:
    out = tmp_path / "entries"
    result = run(str(FIXTURE), "--out", str(out), *CLAIMS)
    # the fixture has a group and an over-long description: reported on stderr; converted, so exit 0
    assert result.exit_code == 0, result.output
    assert "not mapped: groups" in result.stderr
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.yaml"))
    assert files == [
        "io.github.stacklok/atlassian-remote-1.0.0.yaml",
        "io.github.stacklok/fetch-1.0.0.yaml",
        "io.github.stacklok/github-1.0.0.yaml",
        "io.github.stacklok/osv-1.0.0.yaml",
    ]
    for path in out.rglob("*.yaml"):
        data = load(path)
        assert schemas.check("RegistryEntry", data).problems == []
        assert data["claims"] == {"org": "acme", "team": ["platform", "search"]}
        assert data["server"]["version"] == "1.0.0"
        assert data["server"]["$schema"].endswith("/2025-12-11/server.schema.json")


def test_mapping_of_an_image_server(tmp_path: Path) -> None:
    run(str(FIXTURE), "--out", str(tmp_path), *CLAIMS)
    server = load(tmp_path / "io.github.stacklok" / "github-1.0.0.yaml")["server"]
    assert server["name"] == "io.github.stacklok/github"
    assert server["title"] == "GitHub"
    assert server["repository"] == {"url": "https://github.com/github/github-mcp-server", "source": "github"}
    (package,) = server["packages"]
    assert package["registryType"] == "oci"
    assert package["identifier"] == "ghcr.io/github/github-mcp-server:v0.20.2"
    assert package["transport"] == {"type": "stdio"}
    assert package["environmentVariables"][0] == {
        "name": "GITHUB_PERSONAL_ACCESS_TOKEN",
        "description": "GitHub personal access token with appropriate permissions",
        "isRequired": True,
        "isSecret": True,
    }
    meta = server["_meta"]["io.modelcontextprotocol.registry/publisher-provided"]["io.github.stacklok"]
    extras = meta["ghcr.io/github/github-mcp-server:v0.20.2"]
    assert extras["status"] == "Active" and extras["tier"] == "Official"
    assert extras["docker_tags"] == ["v0.20.2", "latest"]
    assert extras["permissions"]["network"]["outbound"]["allow_port"] == [443]
    assert len(extras["env_vars"]) == 2
    fetch = load(tmp_path / "io.github.stacklok" / "fetch-1.0.0.yaml")["server"]
    assert fetch["packages"][0]["transport"] == {"type": "streamable-http", "url": "http://localhost:8080"}


def test_mapping_of_a_remote_server(tmp_path: Path) -> None:
    run(str(FIXTURE), "--out", str(tmp_path), *CLAIMS)
    server = load(tmp_path / "io.github.stacklok" / "atlassian-remote-1.0.0.yaml")["server"]
    (remote,) = server["remotes"]
    assert remote["type"] == "sse" and remote["url"] == "https://mcp.atlassian.com/v1/sse"
    assert remote["headers"] == [
        {
            "name": "X-Atlassian-Site",
            "description": "Atlassian site to connect to",
            "isRequired": False,
            "choices": ["acme.atlassian.net", "acme-staging.atlassian.net"],
        }
    ]
    meta = server["_meta"]["io.modelcontextprotocol.registry/publisher-provided"]["io.github.stacklok"]
    assert meta["https://mcp.atlassian.com/v1/sse"]["oauth_config"]["use_pkce"] is True


def test_long_description_is_reported_and_written_shortened(tmp_path: Path) -> None:
    result = run(str(FIXTURE), "--out", str(tmp_path), *CLAIMS)
    assert "not mapped: servers.osv.description: 177 characters, upstream allows 100" in result.stderr
    server = load(tmp_path / "io.github.stacklok" / "osv-1.0.0.yaml")["server"]
    original = json.loads(FIXTURE.read_text())["servers"]["osv"]["description"]
    assert len(server["description"]) <= 100
    assert server["description"].endswith("…")
    assert original.startswith(server["description"][:-1])
    meta = server["_meta"]["io.modelcontextprotocol.registry/publisher-provided"]["io.github.stacklok"]
    assert meta["ghcr.io/stackloklabs/osv-mcp/server:0.0.7"]["overview"] == original


def test_long_title_is_shortened_and_a_legacy_overview_is_kept() -> None:
    long_text = "word " * 40
    data = legacy(servers={"a": {**FETCH, "title": long_text, "description": long_text, "overview": "Mine"}})
    (entry,) = convert_registry(data, {}).entries
    server = entry.document["server"]
    assert len(server["title"]) <= 100 and len(server["description"]) <= 100
    extras = next(iter(server["_meta"][PUBLISHER]["io.github.stacklok"].values()))
    assert extras["overview"] == "Mine"


def test_groups_are_reported(tmp_path: Path) -> None:
    result = run(str(FIXTURE), "--out", str(tmp_path), *CLAIMS)
    assert "not mapped: groups: 1 group(s) dropped" in result.stderr


def test_clean_legacy_file_exits_0_and_output_validates_as_a_repository(
    tmp_path: Path, sample_repo: Path
) -> None:
    source = tmp_path / "legacy.json"
    source.write_text(json.dumps(legacy(servers={"fetch": FETCH})))
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("registry.yaml", "mcp-gitops.yaml"):
        shutil.copy(sample_repo / name, repo / name)
    # the claims of the sample's managed source, which every entry of it carries (claims-reset-on-restart)
    result = run(str(source), "--out", str(repo / "entries"), "--claims", "org=acme")
    assert result.exit_code == 0, result.output + result.stderr
    assert "not mapped" not in result.stderr
    validation = CliRunner().invoke(cli, ["validate", str(repo), "--format", "json"], catch_exceptions=False)
    assert validation.exit_code == 0, validation.output
    assert json.loads(validation.stdout)["summary"]["errors"] == 0


def test_without_claims_entries_get_empty_claims_and_a_note(tmp_path: Path) -> None:
    source = tmp_path / "legacy.json"
    source.write_text(json.dumps(legacy(servers={"fetch": FETCH})))
    result = run(str(source), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0
    assert "--claims KEY=VALUE" in result.stderr
    assert load(tmp_path / "out" / "io.github.stacklok" / "fetch-1.0.0.yaml")["claims"] == {}


def test_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    source = tmp_path / "legacy.json"
    source.write_text(json.dumps(legacy(servers={"fetch": FETCH})))
    out = tmp_path / "out"
    target = out / "io.github.stacklok" / "fetch-1.0.0.yaml"
    target.parent.mkdir(parents=True)
    target.write_text("# mine\n")
    result = run(str(source), "--out", str(out), *CLAIMS)
    assert result.exit_code == 2
    assert "refusing to overwrite" in result.stderr and "use --force" in result.stderr
    assert target.read_text() == "# mine\n"
    result = run(str(source), "--out", str(out), "--force", *CLAIMS)
    assert result.exit_code == 0
    assert load(target)["server"]["name"] == "io.github.stacklok/fetch"


def test_nothing_is_written_when_one_file_is_in_the_way(tmp_path: Path) -> None:
    source = tmp_path / "legacy.json"
    source.write_text(
        json.dumps(legacy(servers={"fetch": FETCH, "other": {**FETCH, "image": "ghcr.io/a/b:1"}}))
    )
    out = tmp_path / "out"
    (out / "io.github.stacklok").mkdir(parents=True)
    (out / "io.github.stacklok" / "other-1.0.0.yaml").write_text("x: 1\n")
    assert run(str(source), "--out", str(out)).exit_code == 2
    assert not (out / "io.github.stacklok" / "fetch-1.0.0.yaml").exists()


def test_usage_errors(tmp_path: Path) -> None:
    not_legacy = tmp_path / "entry.json"
    not_legacy.write_text(json.dumps({"claims": {}, "server": {}}))
    result = run(str(not_legacy), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2 and "not a legacy ToolHive registry" in result.stderr
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{ this: is: not [valid")
    assert run(str(garbage), "--out", str(tmp_path / "out")).exit_code == 2
    assert run(str(FIXTURE), "--out", str(tmp_path / "out"), "--claims", "novalue").exit_code == 2
    assert run(str(FIXTURE)).exit_code == 2  # --out is required
    assert run(str(tmp_path / "missing.json"), "--out", str(tmp_path)).exit_code == 2


def test_unmappable_servers_are_reported_and_not_written(tmp_path: Path) -> None:
    data = legacy(
        servers={
            "no-description": {**FETCH, "description": ""},
            "bad-transport": {**FETCH, "transport": "websocket"},
            "odd-field": {**FETCH, "favourite_colour": "blue"},
            "bad-type": {**FETCH, "image": 42},
        },
        remote_servers={
            "stdio-remote": {"url": "https://x.example.com", "description": "A remote", "transport": "stdio"}
        },
    )
    conversion = convert_registry(data, {"org": "acme"})
    assert [e.origin for e in conversion.entries] == ["servers.odd-field"]
    notes = "\n".join(conversion.unmapped)
    assert "servers.no-description.description: missing" in notes
    assert "servers.bad-transport.transport: must be stdio, sse or streamable-http" in notes
    assert "servers.odd-field.favourite_colour: unknown legacy field; dropped" in notes
    assert "servers.bad-type.image: expected a string" in notes
    assert "remote_servers.stdio-remote.transport: a remote needs transport sse or streamable-http" in notes
    assert "blue" not in notes


def test_names(tmp_path: Path) -> None:
    data = legacy(
        servers={
            "fetch": {**FETCH, "name": "io.github.acme/fetcher"},
            "plain": {**FETCH, "name": "gofetch", "image": "ghcr.io/a/b:1"},
            "invalid": {**FETCH, "name": "io/github/x", "image": "ghcr.io/a/c:1"},
        }
    )
    conversion = convert_registry(data, {"org": "acme"})
    names = sorted(e.document["server"]["name"] for e in conversion.entries)
    assert names == ["io.github.acme/fetcher", "io.github.stacklok/gofetch"]
    assert any(
        line.startswith("servers.invalid.name: server name cannot contain multiple slashes")
        for line in conversion.unmapped
    )


def test_tier_case_is_fixed_and_unknown_tiers_reported() -> None:
    data = legacy(
        servers={
            "a": {**FETCH, "tier": "community"},
            "b": {**FETCH, "tier": "Gold", "image": "ghcr.io/a/b:1"},
        }
    )
    conversion = convert_registry(data, {})
    tiers = {
        e.origin: next(iter(e.document["server"]["_meta"][PUBLISHER]["io.github.stacklok"].values()))["tier"]
        for e in conversion.entries
    }
    assert tiers == {"servers.a": "Community", "servers.b": "Gold"}
    assert conversion.unmapped == ["servers.b.tier: not Official or Community; copied as it is"]


def test_two_servers_with_one_name_are_not_both_written() -> None:
    data = legacy(
        servers={"a": {**FETCH, "name": "x"}, "b": {**FETCH, "name": "x", "image": "ghcr.io/a/b:1"}}
    )
    conversion = convert_registry(data, {})
    assert len(conversion.entries) == 1
    assert any("same name and version" in line for line in conversion.unmapped)


def test_parse_claims() -> None:
    assert parse_claims(["org=acme", "team=a", "team=b", "team=c", "empty="]) == {
        "org": "acme",
        "team": ["a", "b", "c"],
        "empty": "",
    }
    assert parse_claims(["url=https://x?a=b"]) == {"url": "https://x?a=b"}
    for bad in ("novalue", "=x"):
        with pytest.raises(ValueError):
            parse_claims([bad])


def test_entry_path() -> None:
    assert entry_path("io.github.acme/weather", "1.2.0") == "io.github.acme/weather-1.2.0.yaml"


def test_convert_registry_refuses_non_legacy_data() -> None:
    with pytest.raises(ConvertError):
        convert_registry({"version": "1.0.0", "data": {"servers": []}})
