"""Issue 17: pull-request mode reuses the head's loaded files for the base where their blobs are the
same. Reused (warm) and cold results must be identical: random edits between two commits, then the
pipeline's warm run against a run where both revisions are loaded from scratch."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.crds.sources import CrdOptions
from reconciler.findings import Finding
from reconciler.pipeline import check, validate
from reconciler.policy.engine import Inputs
from reconciler.policy.loader import load_policies
from reconciler.repository import Repository, load_repository, transition_findings
from reconciler.source import open_source

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from generate import write_repo


def _git(repo: Path, *args: str) -> None:
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "-C", str(repo), *identity, *args], check=True, capture_output=True)


def _edit(repo: Path, rng: random.Random, files: list[Path]) -> str:
    """One random edit of the kinds a pull request makes; returns what it did (for the failure message)."""
    target = rng.choice(files)
    text = target.read_text()
    action = rng.choice(
        ["describe", "claims", "delete", "copy", "break", "secret", "replicas", "rename", "ungroup"]
    )
    if action == "ungroup":
        # The group every server refers to goes: unchanged files get findings in one revision only.
        for group in [f for f in files if f.name.startswith("mcpgroup-")]:
            group.unlink()
            files.remove(group)
    elif action == "describe":
        target.write_text(text.replace("MCP server", "Edited server", 1))
    elif action == "claims":
        target.write_text(text.replace("team", "group", 1))
    elif action == "delete":
        target.unlink()
        files.remove(target)
    elif action == "copy":
        # The same entry twice (a duplicate version) or the same manifest twice (a duplicate object).
        copy = target.with_name("copy-" + target.name)
        copy.write_text(text)
        files.append(copy)
    elif action == "break":
        target.write_text(text[: len(text) // 2] + "\n  : [unclosed\n")
    elif action == "secret":
        target.write_text(text.replace("https://", "https://admin:hunter2@", 1))
    elif action == "replicas":
        target.write_text(text.replace("proxyPort: 8080", "proxyPort: 8080\n  replicas: 3", 1))
    else:
        moved = target.with_name("moved-" + target.name)
        target.rename(moved)
        files[files.index(target)] = moved
    return f"{action} {target.relative_to(repo)}"


def _key(finding: Finding) -> tuple[Any, ...]:
    return (finding.path, finding.line, finding.column, finding.rule, finding.severity.value, finding.message)


def _documents(repo: Repository) -> list[tuple[Any, ...]]:
    return sorted(
        (d.path, d.kind or "", d.valid, json.dumps(d.data, sort_keys=True, default=str))
        for d in repo.documents()
    )


@pytest.mark.parametrize("seed", range(8))
def test_reused_base_gives_the_findings_of_a_cold_load(
    tmp_path: Path, toolhive_crds: Path, seed: int
) -> None:
    rng = random.Random(seed)
    repo = write_repo(tmp_path / "repo", 24, 12, seed)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    files = sorted(p for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts and p.parent != repo)
    done = [_edit(repo, rng, files) for _ in range(rng.randint(1, 6))]
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "head")
    crds = CrdOptions(locations=(str(toolhive_crds),))

    warm = validate(open_source(repo, "HEAD"), base=open_source(repo, "HEAD~1"), crds=crds)

    head = load_repository(open_source(repo, "HEAD"), crds=crds)
    base = load_repository(open_source(repo, "HEAD~1"), crds=crds)
    head.findings += transition_findings(head, base)
    cold = check(head, load_policies(head.source, head.settings.policies), Inputs(base=base))

    assert warm.base is not None
    assert sorted(map(_key, warm.report.findings)) == sorted(map(_key, cold.findings)), done
    assert sorted(map(_key, warm.base.findings)) == sorted(map(_key, base.findings)), done
    assert _documents(warm.base) == _documents(base), done
    assert warm.report.files == cold.files, done
