"""Where a configuration repository's files come from: a folder, or a Git revision read straight from
Git objects (no checkout, so a pull request's base can be read beside the working tree).

A source never follows a symbolic link out of the repository and never reads a file over the size
limit; both become `SourceProblem`s that the loader reports as findings.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import stat
import subprocess
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from typing import IO

DOCUMENT_SUFFIXES = (".yaml", ".yml", ".json")
# The largest file read unless mcp-gitops.yaml says otherwise (`maxFileBytes`).
DEFAULT_MAX_FILE_BYTES = 1024 * 1024


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

    def blob_id(self, path: str) -> str | None:
        """An id that is equal exactly when the content is (a Git blob id), or None when the source
        has none (a folder, a symbolic link): two revisions' files compare without being read."""
        return None

    def prefetch(self, paths: Iterable[str]) -> None:
        """A hint that only these files will be read (a revision loaded beside another that shares
        the rest): a source that reads in batches reads just these."""
        return None  # a source read file by file has nothing to prepare


def _is_document(name: str) -> bool:
    return name.endswith(DOCUMENT_SUFFIXES)


def _bad_name(name: str) -> str | None:
    """A printable stand-in for a file name that is not valid UTF-8 (None when it is valid): such a
    name cannot be reported, compared or written to a report as it is."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return None


_BAD_NAME = SourceProblem("encoding", "the file name is not valid UTF-8")


class FolderSource(Source):
    """A folder on disk. Paths are handled as strings: on a large repository, `pathlib` and one
    `realpath` per file cost more than parsing the files."""

    def __init__(self, path: str | os.PathLike[str], blob_ids: Mapping[str, str] | None = None) -> None:
        if not os.path.isdir(path):
            raise SourceError(f"{path}: not a folder")
        self.root = os.path.realpath(path)
        self.label = str(path)
        # Git blob ids by path, when the folder is known to hold exactly one commit's tree (the
        # daemon's checkout): its files then compare with another revision's without being read.
        self._blob_ids: Mapping[str, str] = blob_ids or {}
        self._inside: dict[str, bool] = {}
        # Paths `walk` listed but that cannot be read (an unlistable folder, a bad name): `read`
        # raises these, so the loader reports each as a finding instead of skipping it silently.
        self._problems: dict[str, SourceProblem] = {}

    def _contains(self, real: str) -> bool:
        return real == self.root or real.startswith(self.root + os.sep)

    def blob_id(self, path: str) -> str | None:
        return self._blob_ids.get(path.strip("/"))

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
        if not os.path.lexists(start):  # a folder the settings name but the repository lacks
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
                with os.scandir(current) as listing:
                    entries = sorted(listing, key=lambda e: e.name)
            except OSError as exc:
                relative = current[prefix:] if len(current) >= prefix else "."
                self._problems[relative] = SourceProblem(
                    "file-unreadable", f"cannot list the folder: {exc.strerror}"
                )
                yield relative
                continue
            for entry in entries:
                stand_in = _bad_name(entry.name)
                if stand_in is not None:
                    if _is_document(stand_in) or entry.is_dir():
                        relative = os.path.join(current, stand_in)[prefix:]
                        self._problems[relative] = _BAD_NAME
                        yield relative
                elif entry.is_dir(follow_symlinks=False):
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
        problem = self._problems.get(path)
        if problem is not None:
            raise problem
        full = os.path.join(self.root, path)
        if not self._folder_inside(os.path.dirname(full)):
            raise SourceProblem("unsafe-path", "the file's folder is a symbolic link out of the repository")
        try:
            info = os.lstat(full)
            if stat.S_ISLNK(info.st_mode):
                target = os.path.realpath(full)
                if not self._contains(target):
                    link = os.readlink(full)
                    raise SourceProblem(
                        "unsafe-path", f"symbolic link points outside the repository (-> {link})"
                    )
                info = os.stat(target)
                full = target
        except OSError as exc:
            raise SourceProblem("file-unreadable", f"cannot read: {exc.strerror}") from exc
        if not stat.S_ISREG(info.st_mode):
            # Never opened: a FIFO would block the run, a device could be endless.
            raise SourceProblem("file-unreadable", "not a regular file")
        if info.st_size > max_bytes:
            raise SourceProblem("file-too-large", f"file is {info.st_size} bytes; the limit is {max_bytes}")
        try:
            with open(full, "rb") as handle:
                # The size it had, plus one byte to notice growth since: a buffer of the limit for
                # every file would cost more than parsing them.
                data = handle.read(info.st_size + 1)
                if len(data) > info.st_size:
                    data += handle.read(max_bytes + 1 - len(data))
        except OSError as exc:
            raise SourceProblem("file-unreadable", f"cannot read: {exc.strerror}") from exc
        if len(data) > max_bytes:
            raise SourceProblem("file-too-large", f"file grew over the limit of {max_bytes} bytes")
        return data


_SYMLINK_MODE = "120000"


def _git(cwd: str, *args: str, stdin: bytes | None = None) -> bytes:
    result = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, check=False)
    if result.returncode != 0:
        raise SourceError(result.stderr.decode("utf-8", "replace").strip() or f"git {args[0]} failed")
    return result.stdout


class GitSource(Source):
    """A revision of a Git repository, read from its objects. `path` may be a subfolder of the work
    tree: the configuration repository is then that subfolder at `rev`.

    The tree is listed with one `git ls-tree` and blobs are read in one `git cat-file --batch` stream:
    reading object by object costs milliseconds each, a minute on a 10,000-entry repository.
    `read_ahead`: the whole revision is about to be read, so that stream starts at once, in the
    background (into an unnamed temporary file), while the caller goes on; the first read takes it.
    """

    def __init__(self, path: str | os.PathLike[str], rev: str, read_ahead: bool = False) -> None:
        folder = os.path.realpath(path)
        if not os.path.isdir(folder):
            raise SourceError(f"{path}: not a folder")
        try:
            top = _git(folder, "rev-parse", "--show-toplevel").decode().strip()
            self.revision = (
                _git(top, "rev-parse", "--verify", "--end-of-options", f"{rev}^{{commit}}").decode().strip()
            )
        except SourceError as exc:
            raise SourceError(f"{path}: cannot read Git revision {rev!r}: {exc}") from exc
        prefix = os.path.relpath(folder, os.path.realpath(top))
        self._prefix = "" if prefix == "." else prefix.replace(os.sep, "/") + "/"
        self._top = top
        self.label = f"{path}@{rev}"
        # path (relative to the configuration repository) -> (mode, object id, size)
        self._blobs: dict[str, tuple[str, str, int]] = {}
        self._bad_names: set[str] = set()
        self._folders: set[str] = {""}
        listing = _git(
            top, "ls-tree", "-r", "-z", "-l", "--full-tree", self.revision, "--", self._prefix or "."
        )
        for record in listing.split(b"\0"):
            if not record:
                continue
            meta, _, name = record.decode("utf-8", "surrogateescape").partition("\t")
            mode, kind, oid, size = meta.split()
            if kind != "blob" or not name.startswith(self._prefix):
                continue
            relative = name[len(self._prefix) :]
            stand_in = _bad_name(relative)
            if stand_in is not None:
                if not _is_document(stand_in):
                    continue  # never read, so never reported
                self._bad_names.add(stand_in)
                relative = stand_in
            self._blobs[relative] = (mode, oid, int(size) if size.isdigit() else 0)
            # its folders, walked up only until one already known (a whole tree: once per folder)
            folder = relative.rpartition("/")[0]
            while folder not in self._folders:
                self._folders.add(folder)
                folder = folder.rpartition("/")[0]
        if not self._blobs and self._prefix:
            raise SourceError(f"{path}: not present at revision {rev}")
        self._contents: dict[str, bytes] = {}
        # Whether reading was narrowed to a known set of files (`prefetch`): then a file outside it is
        # fetched alone instead of the whole tree.
        self._narrowed = False
        self._ahead: tuple[subprocess.Popen[bytes], IO[bytes]] | None = None
        # the process that started it: a forked child never takes it (it reads on demand)
        self._ahead_pid = os.getpid()
        if read_ahead:
            # no temporary file or no process: the first read fetches, as without it
            with contextlib.suppress(OSError):
                self._ahead = self._start_reading(self._documents(DEFAULT_MAX_FILE_BYTES))

    def _documents(self, max_bytes: int) -> list[str]:
        """The object ids of every document (and symbolic link) of at most `max_bytes`."""
        return [
            o
            for p, (m, o, n) in self._blobs.items()
            if n <= max_bytes and (_is_document(p) or m == _SYMLINK_MODE)
        ]

    def _start_reading(self, oids: list[str]) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
        """`git cat-file --batch` of `oids`, running: it reads them from one unnamed file and writes
        to another (a pipe would stall it until read), which `_take_read_ahead` reads back."""
        out = tempfile.TemporaryFile()  # noqa: SIM115  # handed to _take_read_ahead, which closes it
        with tempfile.TemporaryFile() as ids:
            ids.write("\n".join(sorted(set(oids))).encode() + b"\n")
            ids.seek(0)
            reading = subprocess.Popen(
                ["git", "cat-file", "--batch"],
                cwd=self._top,
                stdin=ids,
                stdout=out,
                stderr=subprocess.DEVNULL,
            )
        return reading, out

    def _take_read_ahead(self) -> None:
        """The blobs read in the background, once; a run that failed leaves them to the reads that
        follow, which say why."""
        if self._ahead is None:
            return
        reading, out = self._ahead
        self._ahead = None
        if os.getpid() != self._ahead_pid:
            return  # a forked child: the parent's process and file are not its to wait for or read
        with out:
            if reading.wait() == 0:
                out.seek(0)
                self._parse_batch(out.read())

    def exists(self, path: str) -> bool:
        path = path.strip("/")
        return path in ("", ".") or path in self._blobs or path in self._folders

    def walk(self, folder: str, recursive: bool = True) -> Iterator[str]:
        folder = "" if folder in ("", ".") else folder.strip("/")
        if folder in self._blobs:
            yield folder
            return
        start = f"{folder}/" if folder else ""
        for path in sorted(self._blobs):
            if not path.startswith(start):
                continue
            if not recursive and "/" in path[len(start) :]:
                continue
            if _is_document(path) or self._blobs[path][0] == _SYMLINK_MODE or path in self._bad_names:
                yield path

    def _fetch(self, oids: list[str]) -> None:
        """Read many blobs in one `git cat-file --batch` run."""
        self._take_read_ahead()
        wanted = sorted(set(oids) - self._contents.keys())
        if not wanted:
            return
        self._parse_batch(_git(self._top, "cat-file", "--batch", stdin="\n".join(wanted).encode() + b"\n"))

    def _parse_batch(self, out: bytes) -> None:
        """Keep each blob of a `git cat-file --batch` output."""
        position = 0
        while position < len(out):
            header_end = out.index(b"\n", position)
            header = out[position:header_end].decode().split(" ")
            if len(header) != 3:  # `<oid> missing`: a shallow or damaged clone; `_blob` reports it
                position = header_end + 1
                continue
            oid, _, size = header
            start = header_end + 1
            self._contents[oid] = out[start : start + int(size)]
            position = start + int(size) + 1

    def _blob(self, path: str, max_bytes: int) -> bytes:
        _mode, oid, size = self._blobs[path]
        if size > max_bytes:
            raise SourceProblem("file-too-large", f"file is {size} bytes; the limit is {max_bytes}")
        if oid not in self._contents and self._narrowed:
            self._fetch([oid])
        elif oid not in self._contents:
            # First read: fetch every document of the tree that fits the limit, in one stream.
            self._fetch([*self._documents(max_bytes), oid])
        if oid not in self._contents:
            raise SourceProblem("file-unreadable", f"Git object {oid} is missing")
        return self._contents[oid]

    def prefetch(self, paths: Iterable[str]) -> None:
        self._narrowed = True
        self._fetch([self._blobs[p][1] for p in paths if p in self._blobs])

    def blob_id(self, path: str) -> str | None:
        blob = self._blobs.get(path.strip("/"))
        return blob[1] if blob is not None and blob[0] != _SYMLINK_MODE else None

    def read(self, path: str, max_bytes: int) -> bytes:
        path = path.strip("/")
        if path in self._bad_names:
            raise _BAD_NAME
        if path not in self._blobs:
            raise SourceProblem("unsafe-path", "not a file at this revision")
        if self._blobs[path][0] == _SYMLINK_MODE:
            link = self._blob(path, 4096).decode("utf-8", "replace")
            target = posixpath.normpath(posixpath.join(posixpath.dirname(path), link))
            if posixpath.isabs(link) or target == ".." or target.startswith("../"):
                raise SourceProblem("unsafe-path", f"symbolic link points outside the repository (-> {link})")
            if target not in self._blobs or self._blobs[target][0] == _SYMLINK_MODE:
                raise SourceProblem("unsafe-path", f"symbolic link target is missing or a link (-> {link})")
            path = target
        return self._blob(path, max_bytes)


def open_source(path: str | os.PathLike[str], rev: str | None = None, read_ahead: bool = False) -> Source:
    """A folder, or the folder as it is at Git revision `rev` (`read_ahead`: GitSource's)."""
    if rev is None:
        return FolderSource(path)
    return GitSource(path, rev, read_ahead)
