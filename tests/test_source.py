"""Sources: a folder, or a Git revision read from objects; links never leave the repository."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from reconciler.source import FolderSource, GitSource, SourceError, SourceProblem
from tests.builders import git


def test_folder_walk_lists_documents_and_unsafe_links(tmp_path: Path) -> None:
    (tmp_path / "entries" / "sub").mkdir(parents=True)
    (tmp_path / "entries" / "a.yaml").write_text("a: 1\n")
    (tmp_path / "entries" / "sub" / "b.json").write_text("{}")
    (tmp_path / "entries" / "notes.txt").write_text("x")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.yaml"
    outside.write_text("secret: 1\n")
    (tmp_path / "entries" / "link.yaml").symlink_to(outside)
    source = FolderSource(tmp_path)
    assert sorted(source.walk("entries")) == ["entries/a.yaml", "entries/link.yaml", "entries/sub/b.json"]
    with pytest.raises(SourceProblem) as problem:
        source.read("entries/link.yaml", 1000)
    assert problem.value.rule == "unsafe-path"


def test_folder_size_limit(tmp_path: Path) -> None:
    (tmp_path / "big.yaml").write_text("a: " + "x" * 100 + "\n")
    with pytest.raises(SourceProblem) as problem:
        FolderSource(tmp_path).read("big.yaml", 50)
    assert problem.value.rule == "file-too-large"


def test_missing_folder_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError):
        FolderSource(tmp_path / "nope")


def test_git_source_reads_a_revision_without_checkout(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "cfg" / "entries").mkdir(parents=True)
    (tmp_path / "cfg" / "entries" / "a.yaml").write_text("v: 1\n")
    os.symlink("../../../etc/passwd", tmp_path / "cfg" / "entries" / "evil.yaml")
    os.symlink("a.yaml", tmp_path / "cfg" / "entries" / "alias.yaml")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "one")
    first = git(tmp_path, "rev-parse", "HEAD").strip()
    (tmp_path / "cfg" / "entries" / "a.yaml").write_text("v: 2\n")
    git(tmp_path, "commit", "-qam", "two")
    source = GitSource(tmp_path / "cfg", first)
    assert source.revision == first
    assert sorted(source.walk("entries")) == ["entries/a.yaml", "entries/alias.yaml", "entries/evil.yaml"]
    assert source.read("entries/a.yaml", 100) == b"v: 1\n"
    assert source.read("entries/alias.yaml", 100) == b"v: 1\n"
    with pytest.raises(SourceProblem) as problem:
        source.read("entries/evil.yaml", 100)
    assert problem.value.rule == "unsafe-path"
    with pytest.raises(SourceError):
        GitSource(tmp_path / "cfg", "no-such-rev")


def test_non_utf8_names_special_files_and_missing_folders(tmp_path: Path) -> None:
    entries = tmp_path / "entries"
    entries.mkdir()
    with open(os.fsencode(entries) + b"/caf\xe9.yaml", "wb") as handle:
        handle.write(b"a: 1\n")
    (entries / "notes\udce9.txt").write_text("never read, never reported")
    os.mkfifo(entries / "pipe.yaml")
    source = FolderSource(tmp_path)
    assert sorted(source.walk("entries")) == ["entries/caf\ufffd.yaml", "entries/pipe.yaml"]
    assert list(source.walk("absent")) == []  # a folder the settings name but the repository lacks
    for path, rule in (("entries/caf\ufffd.yaml", "encoding"), ("entries/pipe.yaml", "file-unreadable")):
        with pytest.raises(SourceProblem) as problem:
            source.read(path, 1000)
        assert problem.value.rule == rule


def test_a_missing_git_object_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    (tmp_path / "a.yaml").write_text("a: 1\n")
    (tmp_path / "b.yaml").write_text("b: 2\n")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "c")
    blob = git(tmp_path, "rev-parse", "HEAD:b.yaml")
    (tmp_path / ".git" / "objects" / blob[:2] / blob[2:]).unlink()
    source = GitSource(tmp_path, "HEAD")
    assert source.read("a.yaml", 1000) == b"a: 1\n"
    with pytest.raises(SourceProblem) as problem:
        source.read("b.yaml", 1000)
    assert problem.value.rule == "file-unreadable"


def _history(root: Path) -> None:
    git(root, "init", "-q")
    (root / "entries").mkdir()
    for i in range(30):
        (root / "entries" / f"e{i}.yaml").write_text(f"n: {i}\n")
    (root / "big.yaml").write_text("x: " + "y" * 2000 + "\n")
    os.symlink("entries/e1.yaml", root / "link.yaml")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "c")


@pytest.mark.parametrize("stopped", [False, True])
def test_reading_ahead_reads_what_reading_on_demand_reads(tmp_path: Path, stopped: bool) -> None:
    _history(tmp_path)
    ahead = GitSource(tmp_path, "HEAD", read_ahead=True)
    if stopped:  # the background run failed: the reads fetch on demand, as without it
        assert ahead._ahead is not None
        reading, out = ahead._ahead
        reading.wait()
        out.close()
        ahead._ahead = (subprocess.Popen(["false"]), tempfile.TemporaryFile())  # noqa: SIM115  # closed by the source
    plain = GitSource(tmp_path, "HEAD")
    paths = sorted(ahead.walk("."))
    assert paths == sorted(plain.walk(".")) and len(paths) == 32
    assert [ahead.read(p, 1000) if p != "big.yaml" else b"" for p in paths] == [
        plain.read(p, 1000) if p != "big.yaml" else b"" for p in paths
    ]
    assert ahead._ahead is None  # taken by the first read
    for source in (ahead, plain):
        with pytest.raises(SourceProblem) as problem:
            source.read("big.yaml", 1000)  # the limit holds whatever was read ahead
        assert problem.value.rule == "file-too-large"
        assert source.read("big.yaml", 10_000).startswith(b"x: yyy")


def test_a_forked_child_leaves_the_parents_read_ahead_alone(tmp_path: Path) -> None:
    """Entry loaders fork before any read when a repository has no settings file and no registry
    config: the git run and its output file are the parent's (a child cannot wait for it, and their
    offset is shared), so a child reads on demand."""
    _history(tmp_path)
    source = GitSource(tmp_path, "HEAD", read_ahead=True)
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if it took nothing of the read-ahead and still reads
        code = 1
        try:
            source._take_read_ahead()
            took = bool(source._contents)
            code = 0 if not took and source.read("entries/e3.yaml", 1000) == b"n: 3\n" else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert source.read("entries/e4.yaml", 1000) == b"n: 4\n" and len(source._contents) == 32
