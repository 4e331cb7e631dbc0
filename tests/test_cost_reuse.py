"""Issue 17: what is reused by content must give the results of a cold run. Pull-request mode loads
the base beside the head, taking the head's files where the blobs are the same; the daemon validates a
new revision beside its previous validation (`previous=`), taking unchanged files and the findings of
policies that read only their own document. Random edits between two commits; the warm result is
compared with a run where everything is loaded and evaluated from scratch."""

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
from reconciler.source import FolderSource, open_source

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
        # Claims that differ from the other versions of the name (claims-inconsistent), or a
        # manifest key that is not in the schema.
        target.write_text(text.replace("org", "team", 1))
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


def _blob_ids(repo: Path) -> dict[str, str]:
    listing = subprocess.run(
        ["git", "-C", str(repo), "ls-tree", "-r", "-z", "HEAD"], check=True, capture_output=True, text=True
    ).stdout
    return {
        name: meta.split()[2]
        for meta, _, name in (record.partition("\t") for record in listing.split("\0") if record)
    }


def _key(finding: Finding) -> tuple[Any, ...]:
    return (
        finding.path,
        finding.line,
        finding.column,
        finding.rule,
        finding.severity.value,
        finding.message,
        finding.waived,
    )


def _documents(repo: Repository) -> list[tuple[Any, ...]]:
    return sorted(
        (d.path, d.kind or "", d.valid, json.dumps(d.data, sort_keys=True, default=str))
        for d in repo.documents()
    )


def _history(tmp_path: Path, seed: int) -> tuple[Path, list[str]]:
    """A generated repository committed, randomly edited and committed again (the work tree is HEAD)."""
    rng = random.Random(seed)
    repo = write_repo(tmp_path / "repo", 24, 12, seed)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    files = sorted(p for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts and p.parent != repo)
    done = [_edit(repo, rng, files) for _ in range(rng.randint(1, 6))]
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "head", "--allow-empty")  # an edit may leave the text as it was
    return repo, done


@pytest.mark.parametrize("seed", range(8))
def test_reused_base_gives_the_findings_of_a_cold_load(
    tmp_path: Path, toolhive_crds: Path, seed: int
) -> None:
    repo, done = _history(tmp_path, seed)
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


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("mode", ["revisions", "folders", "checkout"])
def test_next_cycle_gives_the_findings_of_a_cold_validation(
    tmp_path: Path, toolhive_crds: Path, seed: int, mode: str
) -> None:
    """Between daemon cycles: by Git blob id (a revision, or the daemon's checkout of one, a folder
    whose blob ids are known), or by digest when the revision is a plain folder."""
    repo, done = _history(tmp_path, seed)
    crds = CrdOptions(locations=(str(toolhive_crds),))
    previous = validate(open_source(repo, "HEAD~1"), crds=crds)

    def current() -> Any:
        if mode == "revisions":
            return open_source(repo, "HEAD")
        return FolderSource(repo, blob_ids=_blob_ids(repo) if mode == "checkout" else None)

    warm = validate(current(), crds=crds, previous=previous)
    cold = validate(current(), crds=crds)

    assert sorted(map(_key, warm.report.findings)) == sorted(map(_key, cold.report.findings)), done
    assert _documents(warm.repo) == _documents(cold.repo), done
    assert (warm.report.files, warm.report.unjudged, warm.report.selection) == (
        cold.report.files,
        cold.report.unjudged,
        cold.report.selection,
    ), done
    # Unchanged entries are the previous cycle's very documents: neither parsed nor checked again.
    previous_entries = {id(d) for d in previous.repo.entries}
    assert sum(id(d) in previous_entries for d in warm.repo.entries) >= len(warm.repo.entries) - 6, done


def test_next_cycle_checks_manifests_against_the_crds_of_now(tmp_path: Path, toolhive_crds: Path) -> None:
    """The cluster's CRDs may change between cycles: unchanged manifests are checked again."""
    repo, _ = _history(tmp_path, 0)
    server = next((repo / "manifests").glob("mcpserver-*.yaml"))
    server.write_text(server.read_text().replace("proxyPort: 8080", "proxyPort: 'not a port'"))
    without = validate(FolderSource(repo), crds=CrdOptions(locations=("",)))
    assert not [f for f in without.report.findings if f.rule == "crd-schema"]

    crds = CrdOptions(locations=(str(toolhive_crds),))
    warm = validate(FolderSource(repo), crds=crds, previous=without)

    expected = [_key(f) for f in validate(FolderSource(repo), crds=crds).report.findings]
    assert (
        [_key(f) for f in warm.report.findings if f.rule == "crd-schema"]
        == [k for k in expected if k[3] == "crd-schema"]
        != []
    )
    assert sorted(map(_key, warm.report.findings)) == sorted(expected)


def test_the_daemons_checkout_knows_its_blob_ids(tmp_path: Path) -> None:
    """The mirror's checkout is exactly one commit's tree: its files compare by blob id, unread."""
    from reconciler.daemon.gitsync import GitMirror

    repo = write_repo(tmp_path / "repo", 6, 2, 1)
    (repo / "link.yaml").symlink_to("registry.yaml")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "one")
    source = GitMirror(str(repo), "main", tmp_path / "state").fetch().open()
    assert source.blob_id("mcp-gitops.yaml") == _blob_ids(repo)["mcp-gitops.yaml"]
    assert source.blob_id("link.yaml") is None  # a link is read, so its target is checked
    assert FolderSource(repo).blob_id("mcp-gitops.yaml") is None  # a plain folder: by digest
