"""The base's findings, evaluated only where they can differ from the head's, equal a full evaluation
of the base (what `diff` reports as introduced and fixed rests on this)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler import pipeline
from reconciler.diff.compute import compute_diff
from reconciler.diff.findings import base_report
from reconciler.policy.engine import Inputs
from reconciler.repository import load_repository
from reconciler.source import GitSource
from tests.builders import entry, git, group, mcpserver, vmcp, write_repo


def _commit(root: Path) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-qm", "x", "--allow-empty")
    return git(root, "rev-parse", "HEAD")


def _key(report: pipeline.Report) -> list[tuple[str, str, int, int, str, str | None]]:
    return sorted((f.rule, f.path, f.line, f.column, f.message, f.waived) for f in report.findings)


def _same_as_full(root: Path, base_rev: str, head_rev: str) -> None:
    base, head = GitSource(root, base_rev), GitSource(root, head_rev)
    validation = pipeline.validate(head)
    base_repo = load_repository(base, reuse=validation.repo)
    policies = pipeline.load_policies(base, base_repo.settings.policies)
    quick = base_report(base_repo, validation, policies)
    full = pipeline.check(load_repository(base), policies, Inputs())
    assert _key(quick) == _key(full)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write_repo(
        root,
        entries={
            "a1.json": entry("io.github.acme/a", "1.0.0", claims={"org": "acme"}),
            "a2.json": entry("io.github.acme/a", "2.0.0", claims={"org": "other"}),  # inconsistent
            "b.json": entry("io.github.acme/b", claims=None),
            "c.json": entry("io.github.acme/c"),
        },
        manifests={
            "gw.json": vmcp("gw", group="missing"),
            "servers.yaml": [mcpserver("one", replicas=3), mcpserver("two")],
        },
    )
    git(root, "init", "-q", "-b", "main")
    return root


def test_a_fix_of_a_cross_document_finding_on_an_unchanged_file(repo: Path) -> None:
    base = _commit(repo)
    (repo / "entries" / "a2.json").write_text(
        json.dumps(entry("io.github.acme/a", "2.0.0", claims={"org": "acme"}))
    )
    head = _commit(repo)
    _same_as_full(repo, base, head)
    result = compute_diff(GitSource(repo, base), GitSource(repo, head))
    assert {(f.rule, f.path) for f in result.fixed} == {
        ("claims-inconsistent", "entries/a1.json"),
        ("claims-inconsistent", "entries/a2.json"),
    }
    assert result.introduced == []
    # the base could not be published (claims differ between versions): said, not a traceback
    assert result.problems and "at the base" in result.problems[0]


def test_new_documents_that_change_unchanged_ones(repo: Path) -> None:
    base = _commit(repo)
    (repo / "entries" / "c2.json").write_text(
        json.dumps(entry("io.github.acme/c", "2.0.0", claims={"x": "y"}))
    )
    (repo / "manifests" / "group.json").write_text(json.dumps(group("missing")))
    (repo / "manifests" / "servers.yaml").write_text("[]")
    head = _commit(repo)
    _same_as_full(repo, base, head)
    _same_as_full(repo, head, base)


def test_config_or_settings_change_evaluates_everything(repo: Path) -> None:
    base = _commit(repo)
    (repo / "mcp-gitops.yaml").write_text(json.dumps({"namespace": "other"}))
    head = _commit(repo)
    _same_as_full(repo, base, head)
    _same_as_full(repo, head, base)


def test_waived_findings_stay_waived(repo: Path) -> None:
    (repo / "mcp-gitops.yaml").write_text(
        json.dumps(
            {"waivers": [{"rule": "claims-required", "target": {"path": "entries/b.json"}, "reason": "r"}]}
        )
    )
    base = _commit(repo)
    (repo / "entries" / "c.json").unlink()
    head = _commit(repo)
    _same_as_full(repo, base, head)


def test_the_base_reads_only_the_files_that_differ(repo: Path) -> None:
    base = _commit(repo)
    (repo / "entries" / "c.json").write_text(json.dumps(entry("io.github.acme/c", "1.0.1")))
    head = _commit(repo)
    validation = pipeline.validate(GitSource(repo, head))
    base_source = GitSource(repo, base)
    base_repo = load_repository(base_source, reuse=validation.repo)
    # the changed entry, and the registry config (read, not reused: it is not an entry or manifest)
    read = {base_source.blob_id("entries/c.json"), base_source.blob_id("registry.yaml")}
    assert base_source._contents.keys() == read
    full = load_repository(GitSource(repo, base))
    assert [d.data for d in base_repo.entries] == [d.data for d in full.entries]
    assert [d.data for d in base_repo.manifests] == [d.data for d in full.manifests]
