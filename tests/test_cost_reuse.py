"""Issue 17: what is reused by content must give the results of a cold run. Pull-request mode loads
the base beside the head, taking the head's files where the blobs are the same; the daemon validates a
new revision beside its previous validation (`previous=`), taking unchanged files and the findings of
policies that read only their own document. Random edits between two commits; the warm result is
compared with a run where everything is loaded and evaluated from scratch."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.crds.sources import CrdOptions
from reconciler.documents import Document, parse, release_texts
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
    whose blob ids are known), or by digest when the revision is a plain folder. As in the daemon, the
    previous cycle's documents keep no text: findings on unchanged files are located by reading the
    files back (the work tree is checked out from one revision to the next in place)."""
    repo, done = _history(tmp_path, seed)
    crds = CrdOptions(locations=(str(toolhive_crds),))

    def current() -> Any:
        if mode == "revisions":
            return open_source(repo, "HEAD")
        return FolderSource(repo, blob_ids=_blob_ids(repo) if mode == "checkout" else None)

    _git(repo, "checkout", "-q", "HEAD~1")
    before = current()
    previous = validate(before, crds=crds)
    release_texts(_kept(previous.repo), before)
    assert all(d.text is None for d in _kept(previous.repo))
    _git(repo, "checkout", "-q", "-")

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


def _kept(repo: Repository) -> list[Document]:
    return [*repo.documents(), *([repo.settings_document] if repo.settings_document is not None else [])]


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


def test_a_released_document_is_located_as_before_from_its_file(tmp_path: Path) -> None:
    """A released text is cut out of its file again (after a byte order mark, in a stream of several
    documents) and gives the positions the kept text gave."""
    stream = (
        "\ufeff# two servers\nkind: MCPServer\nmetadata:\n  name: a\n---\nkind: MCPServer\n"
        "metadata:\n  name: b\n  labels:\n    team: x\n"
    )
    (tmp_path / "servers.yaml").write_text(stream, encoding="utf-8")
    source = FolderSource(tmp_path)
    first, second = parse("servers.yaml", source.read("servers.yaml", 10_000)).documents
    expected = [second.locate(("metadata", "labels", "team")), first.locate(("metadata", "name"))]

    release_texts([first, second], source)

    assert (first.text, second.text) == (None, None)
    assert [second.locate(("metadata", "labels", "team")), first.locate(("metadata", "name"))] == expected
    assert expected == [(10, 11), (4, 9)]


def test_a_released_document_whose_file_changed_falls_back_to_its_first_line(tmp_path: Path) -> None:
    """Never a position in other bytes than the document's own: a file that changed since is not used."""
    path = tmp_path / "manifest.yaml"
    path.write_text("kind: MCPServer\nmetadata:\n  name: a\n")
    source = FolderSource(tmp_path)
    (doc,) = parse("manifest.yaml", source.read("manifest.yaml", 10_000)).documents
    release_texts([doc], source)
    path.write_text("kind: MCPServer\n\n\nmetadata:\n  name: a\n")

    assert doc.locate(("metadata", "name")) == (1, 1)
    path.unlink()
    assert doc.locate(("metadata", "name")) == (1, 1)


def test_the_daemon_keeps_no_texts_between_cycles_and_locates_as_a_cold_run(tmp_path: Path) -> None:
    """A daemon's cycle over a mirror: after each cycle the kept documents hold no text; the next
    revision's findings on unchanged files (the group they name is deleted) are located by reading
    the checkout, at the places a cold validation gives."""
    from reconciler.daemon.gitsync import GitMirror
    from tests.test_daemon_units import FakeTarget, _cycle

    repo = write_repo(tmp_path / "repo", 24, 12, 3)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "one")
    cycle = _cycle(repo, FakeTarget())
    cycle.source = GitMirror(str(repo), "main", tmp_path / "state")

    assert cycle.run("test").outcome == "applied"
    kept = cycle._previous
    assert kept is not None and all(d.text is None for d in _kept(kept.repo))

    for group in (repo / "manifests").glob("mcpgroup-*.yaml"):
        group.unlink()
    _git(repo, "commit", "-qam", "no groups")
    cycle.run("test")

    assert cycle._previous is not None and all(d.text is None for d in _kept(cycle._previous.repo))
    cold = validate(open_source(repo, "HEAD"), crds=cycle._crd_options())
    warm = cycle.status.findings["findings"]
    assert sorted((f["path"], f["line"], f["column"], f["rule"]) for f in warm) == sorted(
        (f.path, f.line, f.column, f.rule) for f in cold.report.findings
    )
    assert any(f["rule"] == "ref-unknown" and f["line"] > 1 for f in warm), warm


def test_the_next_checkouts_blob_ids_are_those_of_its_whole_tree(tmp_path: Path) -> None:
    """The mirror works out a revision's blob ids from the last one's and what changed in between
    (edits, additions, deletions, a file turned into a link and back): they must be the ids a listing
    of the whole tree gives, and nothing of the last revision's may leak into them."""
    from reconciler.daemon.gitsync import GitMirror

    repo = write_repo(tmp_path / "repo", 8, 4, 2)
    (repo / "link.yaml").symlink_to("registry.yaml")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "one")
    mirror = GitMirror(str(repo), "main", tmp_path / "state")
    first = mirror.fetch().open()
    first_ids = {path: first.blob_id(path) for path in _blob_ids(repo)}

    entries = sorted(p for p in (repo / "entries").rglob("*") if p.is_file())
    entries[0].write_text(entries[0].read_text().replace("MCP server", "Edited server"))
    entries[1].unlink()
    (repo / "entries" / "new.yaml").write_text(entries[2].read_text())
    entries[3].unlink()
    entries[3].symlink_to(os.path.relpath(entries[2], entries[3].parent))
    (repo / "link.yaml").unlink()
    (repo / "link.yaml").write_text("kind: Now a file\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "two")
    second = mirror.fetch().open()

    expected = _blob_ids(repo)  # files and links of the second revision
    assert "entries/new.yaml" in expected
    for path, blob in expected.items():
        is_link = (repo / path).is_symlink()
        assert second.blob_id(path) == (None if is_link else blob), path
    assert second.blob_id(str(entries[1].relative_to(repo))) is None
    assert second.blob_id(str(entries[3].relative_to(repo))) is None  # now a link: read
    assert second.blob_id("link.yaml") == expected["link.yaml"]
    assert first_ids["link.yaml"] is None
    # The first revision's source still answers for its own tree.
    assert {path: first.blob_id(path) for path in first_ids} == first_ids


def test_a_document_from_a_worker_is_located_after_release_as_before(tmp_path: Path) -> None:
    """Documents parsed in a forked worker come back as plain values (reconciler/transfer.py), with
    where their text lies in the file, so that they too can let their texts go."""
    from reconciler.transfer import documents_in, documents_out

    (tmp_path / "servers.yaml").write_text(
        "kind: A\nmetadata:\n  name: a\n---\nkind: B\nmetadata:\n  name: b\n"
    )
    source = FolderSource(tmp_path)
    parsed = parse("servers.yaml", source.read("servers.yaml", 10_000)).documents
    expected = [d.locate(("metadata", "name")) for d in parsed]

    back = documents_in(documents_out(parsed))
    release_texts(back, source)

    assert [d.text for d in back] == [None, None]
    assert [d.locate(("metadata", "name")) for d in back] == expected == [(3, 9), (7, 9)]
