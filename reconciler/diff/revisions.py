"""Which revisions `diff` compares by default: the merge base with the default branch, and the work
tree (as a pull request would be merged)."""

from __future__ import annotations

import os
import subprocess

from reconciler.source import SourceError


def _git(folder: str, *args: str) -> str | None:
    result = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def default_branch(folder: str) -> str:
    """origin's HEAD when the clone knows it (CI checkouts do), else `main`, else `master`."""
    remote_head = _git(folder, "symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD")
    if remote_head:
        return remote_head
    for name in ("main", "master", "origin/main", "origin/master"):
        if _git(folder, "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}"):
            return name
    raise SourceError(
        f"{folder}: no default branch (origin/HEAD, main or master) to diff against; pass --base"
    )


def default_base(folder: str) -> str:
    """The merge base of HEAD and the default branch, as a commit SHA."""
    if not os.path.isdir(folder):
        raise SourceError(f"{folder}: not a folder")
    if _git(folder, "rev-parse", "--git-dir") is None:
        raise SourceError(f"{folder}: not in a Git repository; diff compares Git revisions")
    branch = default_branch(folder)
    base = _git(folder, "merge-base", "HEAD", branch)
    if not base:
        raise SourceError(f"{folder}: HEAD and {branch} have no merge base; pass --base")
    return base
