"""`mcp-gitops validate` end to end: a clean sample, and a copy with planted faults, each reported at
its file and line, in text and JSON, with the documented exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import cli


def validate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["validate", *args])
    return result.exit_code, result.output


def replace_line(path: Path, old: str, new: str) -> int:
    """Replace the line holding `old`; return its 1-based number."""
    lines = path.read_text().splitlines(keepends=True)
    for number, line in enumerate(lines, 1):
        if old in line:
            lines[number - 1] = line.replace(old, new)
            path.write_text("".join(lines))
            return number
    raise AssertionError(f"{old!r} not in {path}")


def test_sample_repo_is_clean(sample_repo: Path) -> None:
    code, output = validate(str(sample_repo), "--format", "json")
    assert code == 0
    report = json.loads(output)
    assert report["summary"]["errors"] == 0 and report["summary"]["warnings"] == 0
    assert report["summary"]["files"] >= 10


def test_planted_faults_are_reported_at_their_lines(repo_copy: Path, tmp_path: Path) -> None:
    manifests, entries = repo_copy / "manifests", repo_copy / "entries" / "io.github.acme"
    expected: set[tuple[str, str, int]] = set()
    # a misspelt key: CRD schema error at the key, with the close match suggested
    line = replace_line(manifests / "weather.yaml", "  replicas: 2", "  replcas: 2")
    expected.add(("crd-schema", "manifests/weather.yaml", line))
    # a version range
    line = replace_line(entries / "fetch-1.0.0.yaml", "version: 1.0.0", "version: ^1.0.0")
    expected.add(("schema", "entries/io.github.acme/fetch-1.0.0.yaml", line))
    # a key prefix without the trailing colon (a policy)
    line = replace_line(manifests / "platform-tools.yaml", "keyPrefix:", 'keyPrefix: "gateway" #')
    expected.add(("session-key-prefix", "manifests/platform-tools.yaml", line))
    # a password in the registry config
    config = repo_copy / "registry.yaml"
    line = replace_line(config, "  user:", "  password: hunter2\n  user:")
    expected.add(("secret-in-repo", "registry.yaml", line))
    # broken YAML, a duplicate key, bytes that are not UTF-8
    (entries / "broken.yaml").write_text("claims: {org: acme}\nserver:\n  name: [unclosed\n")
    expected.add(("yaml-syntax", "entries/io.github.acme/broken.yaml", 3))
    (entries / "dup.yaml").write_text("claims: {org: acme}\nclaims: {org: other}\nserver: {}\n")
    expected.add(("duplicate-key", "entries/io.github.acme/dup.yaml", 2))
    (entries / "latin1.yaml").write_bytes(b"claims: {org: acme}\n# caf\xe9\n")
    expected.add(("encoding", "entries/io.github.acme/latin1.yaml", 2))
    # a link out of the repository: reported, never read
    secret = tmp_path / "outside.yaml"
    secret.write_text("server: {name: stolen}\n")
    os.symlink(secret, entries / "link.yaml")
    expected.add(("unsafe-path", "entries/io.github.acme/link.yaml", 1))  # the file as a whole
    # a legacy ToolHive registry file
    (repo_copy / "registry.json").write_text(json.dumps({"version": "1.0.0", "servers": {"x": {}}}))
    expected.add(("legacy-format", "registry.json", 1))

    code, output = validate(str(repo_copy), "--format", "json")
    assert code == 1
    report = json.loads(output)
    found = {(f["rule"], f["path"], f["line"]) for f in report["findings"]}
    assert expected <= found, expected - found
    messages = " ".join(f["message"] for f in report["findings"])
    assert "did you mean 'replicas'" in messages
    assert "hunter2" not in output and "stolen" not in output

    code, text = validate(str(repo_copy))
    assert code == 1
    prefix_line = next(e[2] for e in expected if e[0] == "session-key-prefix")
    assert f"manifests/platform-tools.yaml:{prefix_line}:" in text
    assert text.splitlines()[-1].startswith(
        f"{report['summary']['files']} files: {report['summary']['errors']} errors"
    )


def test_fail_on_warning(repo_copy: Path) -> None:
    replace_line(repo_copy / "manifests" / "weather.yaml", "provider: redis", "provider: memory")
    assert validate(str(repo_copy))[0] == 0  # warnings only
    assert validate(str(repo_copy), "--fail-on", "warning")[0] == 1


def test_usage_errors_exit_2(sample_repo: Path, tmp_path: Path) -> None:
    assert validate(str(tmp_path / "missing"))[0] == 2
    assert validate(str(sample_repo), "--format", "nope")[0] == 2
    assert validate(str(sample_repo), "--rev", "HEAD", "--base", "no-such-revision")[0] == 2
    code, output = validate(str(sample_repo), "--token", "not-a-jwt")
    assert code == 2 and "token" in output


def test_several_outputs_from_one_run(sample_repo: Path, tmp_path: Path) -> None:
    sarif, summary = tmp_path / "out.sarif", tmp_path / "summary.md"
    code, output = validate(
        str(sample_repo), "-o", "github", "--report", str(sarif), "--report", f"markdown:{summary}"
    )
    assert code == 0
    # stdout got the annotations (none here) and the summary, the files the rest
    assert output.startswith("mcp-gitops: ")
    assert "not judged without a token" in output
    assert json.loads(sarif.read_text())["version"] == "2.1.0"
    assert summary.read_text().strip()


def test_repository_policy_that_does_not_compile_is_exit_2(repo_copy: Path) -> None:
    (repo_copy / "my-policies").mkdir()
    (repo_copy / "my-policies" / "bad.yaml").write_text(
        "id: bad\nseverity: error\ndescription: d\nmatch: {kinds: [MCPServer]}\nvalidations:\n"
        "  - expression: 'object.spec.replicas >'\n    message: m\n"
    )
    settings = repo_copy / "mcp-gitops.yaml"
    settings.write_text(settings.read_text() + "policies: [my-policies]\n")
    code, output = validate(str(repo_copy))
    assert code == 2 and "my-policies/bad.yaml:6" in output


def test_repository_policy_adds_a_rule(repo_copy: Path) -> None:
    (repo_copy / "my-policies").mkdir()
    (repo_copy / "my-policies" / "limit.yaml").write_text(
        "id: replicas-limit\nseverity: error\ndescription: At most one replica.\n"
        "match: {kinds: [MCPServer]}\nvalidations:\n"
        "  - expression: '!has(object.spec.replicas) || object.spec.replicas <= 1'\n"
        "    messageExpression: \"'replicas is ' + string(object.spec.replicas)\"\n"
        "    fieldPath: spec.replicas\n"
    )
    settings = repo_copy / "mcp-gitops.yaml"
    settings.write_text(settings.read_text() + "policies: [my-policies]\n")
    code, output = validate(str(repo_copy), "--format", "json")
    findings = [f for f in json.loads(output)["findings"] if f["rule"] == "replicas-limit"]
    assert code == 1 and findings[0]["message"] == "replicas is 2"
    listing = CliRunner().invoke(cli, ["policies", str(repo_copy)]).output
    assert "replicas-limit" in listing and "legacy-format" in listing and "claims-required" in listing
