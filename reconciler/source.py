"""Where a configuration repository's files come from: a folder, or a Git revision read straight from
Git objects (no checkout, so a pull request's base can be read beside the working tree).

A source never follows a symbolic link out of the repository and never reads a file over the size
limit; both become `SourceProblem`s that the loader reports as findings.
"""

from __future__ import annotations

import os
import posixpath
import stat
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DOCUMENT_SUFFIXES = (".yaml", ".yml", ".json")


class SourceError(Exception):
    """The repository itself cannot be read (missing folder, unknown revision): exit 2."""


class SourceProblem(Exception):
    """One file cannot be read safely; reported as a finding with this rule."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


class Source(ABC):
    #: Human-readable root, used in messages.
    label: str
    #: Commit SHA for a Git revision; None for a working tree.
    revision: str | None = None

    @abstractmethod
    def exists(self, path: str) -> bool:
        """Whether `path` (posix, relative to the root) is a file or folder here."""

    @abstractmethod
    def walk(self, folder: str, recursive: bool = True) -> Iterator[str]:
        """Relative paths of the document files (.yaml, .yml, .json) below `folder` (recursively unless
        told otherwise). Unsafe links show up here too; `read` reports them."""

    @abstractmethod
    def read(self, path: str, max_bytes: int) -> bytes:
        """The bytes of one file; raises SourceProblem when it must not be read."""

    def digest(self) -> str | None:
        """A cheap identity of the whole tree when one exists (the Git tree id), else None."""
        return None


def _is_document(name: str) -> bool:
    return name.endswith(DOCUMENT_SUFFIXES)


class FolderSource(Source):
    """A folder on disk. Paths are handled as strings: on a large repository, `pathlib` and one
    `realpath` per file cost more than parsing the files."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not os.path.isdir(path):
            raise SourceError(f"{path}: not a folder")
        self.root = os.path.realpath(path)
        self.label = str(path)
        self._inside: dict[str, bool] = {}

    def _contains(self, real: str) -> bool:
        return real == self.root or real.startswith(self.root + os.sep)

    def _folder_inside(self, folder: str) -> bool:
        """Whether a folder resolves inside the root (cached: a repository has few folders)."""
        known = self._inside.get(folder)
        if known is None:
            known = self._inside[folder] = self._contains(os.path.realpath(folder))
        return known

    def exists(self, path: str) -> bool:
        return os.path.exists(os.path.join(self.root, path))

    def walk(self, folder: str, recursive: bool = True) -> Iterator[str]:
        start = self.root if folder in ("", ".") else os.path.join(self.root, folder)
        if os.path.isfile(start):
            yield folder
            return
        prefix = len(self.root) + 1
        seen: set[str] = set()
        # os.walk does not descend into linked folders; we do, once, when they stay inside the root.
        stack = [start]
        while stack:
            current = stack.pop()
            real = os.path.realpath(current)
            if real in seen or not self._contains(real):
                continue
            seen.add(real)
            try:
                entries = sorted(os.scandir(current), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if recursive:
                        stack.append(entry.path)
                elif entry.is_symlink():
                    target = os.path.realpath(entry.path)
                    if os.path.isdir(target) and self._contains(target):
                        if recursive:
                            stack.append(entry.path)
                    elif _is_document(entry.name) or not self._contains(target):
                        yield entry.path[prefix:]
                elif _is_document(entry.name):
                    yield entry.path[prefix:]

    def read(self, path: str, max_bytes: int) -> bytes:
        full = os.path.join(self.root, path)
        if not self._folder_inside(os.path.dirname(full)):
            raise SourceProblem("unsafe-path", "the file's folder is a symbolic link out of the repository")
        try:
            info = os.lstat(full)
            if stat.S_ISLNK(info.st_mode):
                target = os.path.realpath(full)
                if not self._contains(target):
                    link = os.readlink(full)
                    raise SourceProblem("unsafe-path", f"symbolic link points outside the repository (-> {link})")
                info = os.stat(target)
                full = target
        except OSError as exc:
            raise SourceProblem("unsafe-path", f"cannot read: {exc.strerror}") from exc
        if not stat.S_ISREG(info.st_mode):
            raise SourceProblem("unsafe-path", "not a regular file")
        if info.st_size > max_bytes:
            raise SourceProblem("file-too-large", f"file is {info.st_size} bytes; the limit is {max_bytes}")
        with open(full, "rb") as handle:
            return handle.read()


_SYMLINK_MODE = 0o120000


class GitSource(Source):
    """A revision of a Git repository, read from its objects. `path` may be a subfolder of the work
    tree: the configuration repository is then that subfolder at `rev`."""

    def __init__(self, path: str | os.PathLike[str], rev: str) -> None:
        import git  # gitpython; imported here so folder-only runs do not pay for it
        import gitdb.exc

        try:
            self._repo = git.Repo(path, search_parent_directories=True)
            commit = self._repo.commit(rev)
        except (git.exc.GitError, gitdb.exc.BadName, gitdb.exc.BadObject, ValueError, OSError) as exc:
            raise SourceError(f"{path}: cannot read Git revision {rev!r}: {exc}") from exc
        workdir = Path(self._repo.working_tree_dir or self._repo.git_dir).resolve()
        prefix = Path(path).resolve().relative_to(workdir).as_posix()
        self._prefix = "" if prefix == "." else prefix
        self.revision = commit.hexsha
        self.label = f"{path}@{rev}"
        self._tree = commit.tree
        try:
            self._root = self._tree / self._prefix if self._prefix else self._tree
        except KeyError as exc:
            raise SourceError(f"{path}: not present at revision {rev}") from exc

    def digest(self) -> str | None:
        return str(self._root.hexsha)

    def _lookup(self, path: str) -> Any:
        return self._root / path if path not in ("", ".") else self._root

    def exists(self, path: str) -> bool:
        try:
            self._lookup(path)
        except KeyError:
            return False
        return True

    def walk(self, folder: str, recursive: bool = True) -> Iterator[str]:
        try:
            node = self._lookup(folder)
        except KeyError:
            return
        if node.type == "blob":
            yield folder
            return
        root_path = str(self._root.path)
        base = len(root_path) + 1 if root_path else 0
        items = node.traverse() if recursive else node.blobs
        for item in items:
            if item.type == "blob" and (_is_document(item.name) or item.mode == _SYMLINK_MODE):
                yield item.path[base:]

    def read(self, path: str, max_bytes: int) -> bytes:
        blob = self._lookup(path)
        if blob.mode == _SYMLINK_MODE:
            link = blob.data_stream.read().decode("utf-8", "replace")
            target = posixpath.normpath(posixpath.join(posixpath.dirname(path), link))
            if posixpath.isabs(link) or target.startswith("../") or target == "..":
                raise SourceProblem("unsafe-path", f"symbolic link points outside the repository (-> {link})")
            try:
                blob = self._lookup(target)
            except KeyError as exc:
                raise SourceProblem("unsafe-path", f"symbolic link target is missing (-> {link})") from exc
        if blob.size > max_bytes:
            raise SourceProblem("file-too-large", f"file is {blob.size} bytes; the limit is {max_bytes}")
        data: bytes = blob.data_stream.read()
        return data


def open_source(path: str | os.PathLike[str], rev: str | None = None) -> Source:
    """A folder, or the folder as it is at Git revision `rev`."""
    if rev is None:
        return FolderSource(path)
    return GitSource(path, rev)
