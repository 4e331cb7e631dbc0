"""Rule selection in mcp-gitops.yaml: skip a rule, override its severity, exclude paths; each with a
reason, each reported with the number of findings it changed; a selection of an unknown or structural
rule is a settings error."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.pipeline import validate
from reconciler.source import FolderSource
from tests.builders import CONFIG, entry, mcpserver, write_repo


def _repo(tmp_path: Path, rules: dict[str, object]) -> Path:
    for folder in ("prod", "experimental"):
        (tmp_path / "manifests" / folder).mkdir(parents=True)
    # a public catalogue: the managed source carries no claims either (claims-reset-on-restart)
    config = copy.deepcopy(CONFIG)
    del config["sources"][0]["claims"]
    return write_repo(
        tmp_path,
        config=config,
        settings={"rules": rules},
        entries={
            "a.json": entry("io.github.acme/a", claims=None),
            "b.json": entry("io.github.acme/b", claims=None),
        },
        manifests={
            "prod/s.json": mcpserver("s", replicas=3),
            "experimental/t.json": mcpserver("t", replicas=3),
        },
    )


def test_skip_override_and_exclude_with_counts(tmp_path: Path) -> None:
    root = _repo(
        tmp_path / "repo",
        {
            "skip": [{"rule": "drain-window", "reason": "our servers hold no long requests"}],
            "severity": [{"rule": "claims-required", "severity": "warning", "reason": "catalogue is public"}],
            "exclude": [{"paths": ["manifests/experimental/"], "reason": "work in progress"}],
        },
    )
    report = validate(FolderSource(root)).report
    rules = {(f.rule, f.path, f.severity.value) for f in report.findings}
    assert not any(rule == "drain-window" for rule, _, _ in rules)
    assert not any(path.startswith("manifests/experimental/") for _, path, _ in rules)
    assert ("claims-required", "entries/a.json", "warning") in rules
    assert ("session-storage-missing", "manifests/prod/s.json", "warning") in rules
    assert [(u.kind, u.what, u.count) for u in report.selection] == [
        ("skip", "drain-window", 1),  # the excluded server's is counted by its exclusion
        ("severity", "claims-required -> warning", 2),
        ("exclude", "manifests/experimental/", 2),
    ]
    result = CliRunner().invoke(cli, ["validate", str(root), "-o", "json"])
    summary = json.loads(result.stdout)["summary"]
    assert summary["selection"][0] == {
        "kind": "skip",
        "what": "drain-window",
        "reason": "our servers hold no long requests",
        "count": 1,
    }
    assert result.exit_code == 0  # the errors became warnings
    text = CliRunner().invoke(cli, ["validate", str(root)]).stdout
    assert (
        "rule selection: skip drain-window (1 finding), severity claims-required -> warning (2 findings), "
        "exclude manifests/experimental/ (2 findings)" in text
    )


def test_a_selection_needs_a_reason_and_a_known_policy_rule(tmp_path: Path) -> None:
    root = _repo(
        tmp_path / "a",
        {
            "skip": [{"rule": "drain-windw", "reason": "typo"}, {"rule": "yaml-syntax", "reason": "no"}],
        },
    )
    problems = [
        (f.rule, f.line, f.message)
        for f in validate(FolderSource(root)).report.findings
        if f.rule == "settings"
    ]
    assert [(rule, line) for rule, line, _ in problems] == [("settings", 5), ("settings", 9)]
    assert "unknown rule 'drain-windw'; did you mean 'drain-window'?" in problems[0][2]
    assert "yaml-syntax is a structural rule and cannot be selected" in problems[1][2]
    no_reason = _repo(tmp_path / "b", {"skip": [{"rule": "drain-window"}]})
    found = validate(FolderSource(no_reason)).report.findings
    assert any(f.rule == "settings" and "reason" in f.message for f in found)
