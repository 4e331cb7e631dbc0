"""The cluster target's options, read from the shared TargetOptions (tuning knobs that have no
command-line flag, `workers` and `verify_all`, come from `TargetOptions.extra`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_WAIT_TIMEOUT_S = 300.0
# Parallel requests for dry runs and applies. Server-side apply is CPU-bound in the API server: on a
# 2-core test machine 3-4 in flight was fastest, 8+ slower (contention), 1 slowest.
DEFAULT_WORKERS = 4


@dataclass(frozen=True)
class ClusterOptions:
    kubeconfig: str | None = None
    context: str | None = None
    force_conflicts: bool = False
    prune: bool | None = None  # None: the settings file's prune.cluster
    allow_empty: bool = False
    wait: bool = False
    timeout: float = DEFAULT_WAIT_TIMEOUT_S
    # True when the cluster target was asked for by name: no cluster configured is then an error.
    explicit: bool = False
    workers: int = DEFAULT_WORKERS
    # Dry-run every object, even those known unchanged since our last apply (unchanged.py).
    verify_all: bool = False

    @classmethod
    def from_target_options(cls, options: Any) -> ClusterOptions:
        extra = options.extra or {}
        return cls(
            kubeconfig=options.kubeconfig,
            context=options.context,
            force_conflicts=options.force_conflicts,
            prune=options.prune,
            allow_empty=options.allow_empty,
            wait=options.wait,
            timeout=options.timeout,
            explicit=options.explicit,
            workers=int(extra.get("workers", DEFAULT_WORKERS)),
            verify_all=bool(extra.get("verify_all", False)),
        )
