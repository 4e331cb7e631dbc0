"""Where the daemon's revisions come from.

- `GitMirror`: a remote repository (https, ssh, file://, or a local bare repository given as a path),
  mirrored into the state directory: initialised once, then each cycle fetches the branch tip only
  (`--depth 1`, so a large history is never downloaded); a revision that needs validating is checked out
  into a worktree beside the mirror. Credentials come from a mounted file or an
  environment variable and reach Git through GIT_ASKPASS / GIT_SSH_COMMAND, never the command line or
  the URL; URLs are redacted in every message.
- `LocalFolder`: a folder on disk (a working tree), read as it is; its identity is a digest of file
  names, sizes and modification times, so an unchanged folder is recognised without reading it.

Both return a `Checkout`: the revision, a digest of the content (a Git tree id or the folder digest)
and a way to open it as a pipeline `Source`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reconciler.daemon.backoff import TransientError
from reconciler.daemon.logs import add_secret, redact_url, scrub
from reconciler.source import FolderSource, Source, SourceError

GIT_TIMEOUT_S = 120.0
# Git's file modes that are not a file's content: a symbolic link, a submodule, no file (deleted).
SYMLINK_MODE, SUBMODULE_MODE, DELETED_MODE = "120000", "160000", "000000"


@dataclass(frozen=True)
class Checkout:
    revision: str  # commit SHA, or "worktree:<digest>" for a folder
    digest: str  # Git tree id, or the folder digest: equal digests mean equal content
    open: Callable[[], Source]

    @property
    def short(self) -> str:
        return self.revision if self.revision.startswith("worktree:") else self.revision[:12]


@dataclass(frozen=True)
class GitCredentials:
    """Either HTTPS basic auth (a token as the password) or an SSH private key; both optional."""

    username: str = "git"
    token_file: str | None = None
    token_env: str | None = None
    ssh_key_file: str | None = None
    known_hosts_file: str | None = None

    def token(self) -> str | None:
        if self.token_file:
            value = Path(self.token_file).read_text().strip()
            add_secret(value)
            return value or None
        if self.token_env and os.environ.get(self.token_env):
            value = os.environ[self.token_env].strip()
            add_secret(value)
            return value
        return None


def is_remote(location: str) -> bool:
    """A URL or scp-like address, or a local bare repository (watched as a remote: it has no work tree)."""
    if "://" in location:
        return True
    if ":" in location and "@" in location.split(":", 1)[0] and not Path(location).exists():
        return True  # git@host:org/repo.git
    path = Path(location)
    return path.is_dir() and (path / "HEAD").is_file() and (path / "objects").is_dir()


def local_path_of(location: str) -> Path | None:
    """The folder behind a file:// URL or a plain path, for watching; None for a network remote."""
    if location.startswith("file://"):
        return Path(location.removeprefix("file://"))
    if "://" in location or ("@" in location and ":" in location):
        return None
    return Path(location)


class GitMirror:
    def __init__(self, url: str, branch: str, state_dir: Path, credentials: GitCredentials | None = None):
        local = local_path_of(url)
        # Plain paths use Git's local transport, which ignores --depth; file:// keeps fetches shallow.
        self.url = local.resolve().as_uri() if local is not None and "://" not in url else url
        self.branch = branch
        self.credentials = credentials or GitCredentials()
        key = hashlib.sha256(f"{redact_url(self.url)}#{branch}".encode()).hexdigest()[:16]
        self.path = state_dir / "git" / key
        self.ref = f"refs/mcp-gitops/{branch}"
        self.label = f"{redact_url(url)}#{branch}"
        self._checked_out_revision: str | None = None
        self._known_blob_ids: tuple[str, dict[str, str]] | None = None  # the last revision's

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env["GIT_TERMINAL_PROMPT"] = "0"  # never wait for a person to type a password
        token = self.credentials.token()
        if token is not None:
            helper = self.path / "askpass.sh"
            if not helper.exists():
                # Git asks for the user name, then the password; the helper answers from its environment.
                helper.write_text(
                    '#!/bin/sh\ncase "$1" in\n  Username*) printf "%s" "$MCP_GITOPS_GIT_USERNAME" ;;\n'
                    '  *) printf "%s" "$MCP_GITOPS_GIT_TOKEN" ;;\nesac\n'
                )
                helper.chmod(stat.S_IRWXU)
            env["GIT_ASKPASS"] = str(helper)
            env["MCP_GITOPS_GIT_USERNAME"] = self.credentials.username
            env["MCP_GITOPS_GIT_TOKEN"] = token
        if self.credentials.ssh_key_file:
            known = self.credentials.known_hosts_file
            host_check = (
                f"-o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes"
                if known
                else ("-o StrictHostKeyChecking=accept-new")
            )
            env["GIT_SSH_COMMAND"] = (
                f"ssh -i {self.credentials.ssh_key_file} -o IdentitiesOnly=yes {host_check}"
            )
        return env

    def _git(self, *args: str, check: bool = True) -> str:
        try:
            done = subprocess.run(
                ["git", "-C", str(self.path), *args],
                env=self._env(),
                capture_output=True,
                text=True,
                timeout=GIT_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise TransientError(
                f"git {args[0]} from {self.label} timed out after {GIT_TIMEOUT_S:.0f} s"
            ) from None
        if check and done.returncode != 0:
            message = scrub(done.stderr.strip().replace(self.url, redact_url(self.url)))
            raise TransientError(f"git {args[0]} from {self.label} failed: {message[-500:]}")
        return done.stdout

    def _ensure_initialised(self) -> None:
        if (self.path / "HEAD").is_file():
            return
        self.path.mkdir(parents=True, exist_ok=True)
        self._git("init", "--bare", "--quiet")
        # no background gc while we read objects; we never push from here
        self._git("config", "gc.autoDetach", "false")

    def fetch(self) -> Checkout:
        self._ensure_initialised()
        self._git(
            "fetch", "--quiet", "--no-tags", "--depth", "1", self.url, f"+refs/heads/{self.branch}:{self.ref}"
        )
        revision, tree = self._git("rev-parse", self.ref, f"{self.ref}^{{tree}}").split()
        return Checkout(revision, tree, lambda: self._checked_out(revision))

    def _checked_out(self, revision: str) -> Source:
        """The revision as files on disk, read by a FolderSource.

        Why not a GitSource straight from the objects: it reads blob by blob through one `git cat-file`
        pipe, about a minute for 11,000 files, where a checkout plus reading files takes a second or two
        (and a later checkout rewrites only the files that changed)."""
        work = self.path.with_name(self.path.name + "-checkout")
        if not (work / ".git").exists():
            shutil.rmtree(work, ignore_errors=True)
            self._git("worktree", "prune")
            self._git("worktree", "add", "--quiet", "--detach", "--force", str(work), revision)
        elif self._checked_out_revision != revision:
            self._git_in(work, "checkout", "--quiet", "--detach", "--force", revision)
            if self._checked_out_revision is None:
                # Nothing but the revision's files. Once is enough: only this process writes there,
                # through checkouts, and the clean walks every file (0.1-0.3 s at 50,000 entries).
                self._git_in(work, "clean", "-ffdxq")
        self._checked_out_revision = revision
        source = FolderSource(work, blob_ids=self._blob_ids(revision))
        source.revision = revision  # the folder is exactly this commit: bookkeeping records it
        source.label = f"{self.label}@{revision[:12]}"
        return source

    def _blob_ids(self, revision: str) -> dict[str, str]:
        """Path -> Git blob id of the revision's files (symbolic links left out: those are read), so
        that the next cycle takes the files it shares with this one without reading them. Worked out
        from the last revision's ids and what changed since, when there was one (listing and reading
        the whole tree costs 0.5 s at 50,000 entries); a new dictionary each time, since the last
        revision's source keeps its own."""
        known = self._known_blob_ids
        ids = None
        if known is not None:
            ids = known[1] if known[0] == revision else self._changed_blob_ids(known[0], revision, known[1])
        if ids is None:
            ids = self._listed_blob_ids(revision)
        self._known_blob_ids = (revision, ids)
        return ids

    def _listed_blob_ids(self, revision: str) -> dict[str, str]:
        try:
            listing = self._git("ls-tree", "-r", "-z", "--full-tree", revision)
        except (TransientError, UnicodeError):
            return {}  # then every file is read and compared by its digest
        ids: dict[str, str] = {}
        for record in listing.split("\0"):
            meta, _, name = record.partition("\t")
            fields = meta.split()
            if len(fields) == 3 and fields[1] == "blob" and fields[0] != SYMLINK_MODE:
                ids[name] = fields[2]
        return ids

    def _changed_blob_ids(self, old: str, new: str, old_ids: dict[str, str]) -> dict[str, str] | None:
        """`old_ids` updated with the files that differ between the two revisions; None when Git
        cannot compare them (the old revision's objects are gone)."""
        try:
            changes = self._git("diff-tree", "-r", "-z", "--no-renames", old, new).split("\0")
        except (TransientError, UnicodeError):
            return None
        ids = dict(old_ids)
        # `:old-mode new-mode old-id new-id status` then the path, each ended by a NUL.
        for meta, path in zip(changes[0::2], changes[1::2], strict=False):
            fields = meta.split()
            if len(fields) != 5:
                return None
            new_mode, new_id = fields[1], fields[3]
            if new_mode in (SYMLINK_MODE, SUBMODULE_MODE, DELETED_MODE):
                ids.pop(path, None)
            else:
                ids[path] = new_id
        return ids

    def _git_in(self, work: Path, *args: str) -> None:
        done = subprocess.run(
            ["git", "-C", str(work), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            raise TransientError(f"git {args[0]} of {self.label} failed: {scrub(done.stderr.strip())[-500:]}")

    def watch_paths(self) -> list[Path]:
        """For a local remote: what changes when someone pushes to it."""
        local = local_path_of(self.url)
        return [local] if local is not None and local.is_dir() else []


class LocalFolder:
    """A folder read as it stands (uncommitted edits included)."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self.label = str(path)

    def digest(self) -> str:
        # Names, sizes and modification times: an edit changes the mtime, so no file needs reading.
        h = hashlib.sha256()
        for current, folders, files in os.walk(self.path):
            folders[:] = sorted(f for f in folders if f != ".git")
            for name in sorted(files):
                full = os.path.join(current, name)
                try:
                    info = os.stat(full)
                except OSError:
                    continue
                h.update(f"{os.path.relpath(full, self.path)}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
        return h.hexdigest()

    def fetch(self) -> Checkout:
        if not self.path.is_dir():
            raise SourceError(f"{self.label}: not a folder")
        path = self.path
        digest = self.digest()
        return Checkout(f"worktree:{digest[:12]}", digest, lambda: FolderSource(path))

    def watch_paths(self) -> list[Path]:
        return [self.path]


RevisionSource = GitMirror | LocalFolder
