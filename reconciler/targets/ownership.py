"""Which repository owns what a target writes.

Every object and row mcp-gitops writes carries the identity of the repository that declared it, so two
repositories writing to one namespace (or one database) never list, change or delete each other's
things. The identity is `ownership.identity` in mcp-gitops.yaml, else the repository's Git remote URL
(credentials, scheme and `.git` dropped, the host lower-cased) joined with the configuration folder's
path inside it, else the folder's absolute path. The CLI and the daemon reading the same remote agree.
"""

from __future__ import annotations

import os
import re
import subprocess
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.repository import Repository

_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?([^:/]+):(?!//)(.+)$")  # git@github.com:org/repo.git


def repository_identity(repo: Repository, fetched_from: str | None = None) -> str:
    """`fetched_from`: the remote URL the daemon mirrors the repository from (its checkout has no Git
    remote of its own)."""
    configured = repo.settings.ownership.identity
    if configured:
        return configured
    if fetched_from:
        return normalise_remote(fetched_from)
    folder = _folder_of(repo)
    if folder is None:
        return repo.source.label
    top, remote = _git_remote(folder)
    if remote is None:
        return os.path.realpath(folder)
    inside = os.path.relpath(os.path.realpath(folder), os.path.realpath(top)) if top else "."
    identity = normalise_remote(remote)
    return identity if inside == "." else f"{identity}/{inside.replace(os.sep, '/')}"


def normalise_remote(url: str) -> str:
    """`https://user:token@GitHub.com/org/repo.git` and `git@github.com:org/repo` -> `github.com/org/repo`."""
    url = url.strip()
    scp = _SCP_LIKE.match(url)
    if scp and "://" not in url:
        host, path = scp.groups()
    else:
        rest = url.split("://", 1)[-1]
        host, _, path = rest.partition("/")
        host = host.rpartition("@")[2]
    path = path.strip("/")
    path = path.removesuffix(".git")
    return f"{host.lower()}/{path}" if path else host.lower()


def _folder_of(repo: Repository) -> str | None:
    for attribute in ("root", "_top"):
        value = getattr(repo.source, attribute, None)
        if isinstance(value, str) and os.path.isdir(value):
            return value
    return None


def _git_remote(folder: str) -> tuple[str | None, str | None]:
    """(top of the work tree, remote.origin.url); (None, None) outside Git or without a remote."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", folder, *args], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() or None if done.returncode == 0 else None

    remote = git("config", "--get", "remote.origin.url")
    if remote is None:
        return None, None
    return git("rev-parse", "--show-toplevel"), remote
