"""The cluster target's options: filled in by the command line and the daemon; what they leave unset
comes from the repository's settings file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DEFAULT_WAIT_TIMEOUT_S = 300.0
# Bound of every request to the API server (a dry run, an apply, a list).
DEFAULT_REQUEST_TIMEOUT_S = 30.0
# Parallel requests for dry runs and applies. Server-side apply is CPU-bound in the API server: on a
# 2-core test machine 3-4 in flight was fastest, 8+ slower (contention), 1 slowest.
DEFAULT_WORKERS = 4

Conflicts = Literal["force", "skip"]


@dataclass(frozen=True)
class ClusterOptions:
    kubeconfig: str | None = None
    context: str | None = None
    # None: the settings file's cluster.conflicts
    conflicts: Conflicts | None = None
    prune: bool | None = None  # None: the settings file's prune.cluster
    allow_empty: bool = False
    wait: bool = False
    timeout: float = DEFAULT_WAIT_TIMEOUT_S
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT_S
    workers: int = DEFAULT_WORKERS
    # Dry-run every object, even those known unchanged since our last apply (unchanged.py).
    verify_all: bool = False
    # The remote URL the repository was fetched from (the daemon's Git source), for the default
    # ownership identity; None: the repository folder's own Git remote.
    fetched_from: str | None = None
