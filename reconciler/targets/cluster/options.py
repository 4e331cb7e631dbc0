"""The cluster target's options, read from the shared TargetOptions.

Cluster-only settings (kubeconfig, context, force_conflicts, wait, timeout, explicit) are read from
TargetOptions attributes when the command defines them, else from `TargetOptions.extra`, so the target
works with either wiring.
"""

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
        extra = getattr(options, "extra", None) or {}

        def get(name: str, default: Any) -> Any:
            value = getattr(options, name, None)
            if value is None:
                value = extra.get(name)
            return default if value is None else value

        return cls(
            kubeconfig=get("kubeconfig", None),
            context=get("context", None),
            force_conflicts=bool(get("force_conflicts", False)),
            prune=getattr(options, "prune", None),
            allow_empty=bool(getattr(options, "allow_empty", False)),
            wait=bool(get("wait", False)),
            timeout=float(get("timeout", DEFAULT_WAIT_TIMEOUT_S)),
            explicit=bool(get("explicit", False)),
            workers=int(get("workers", DEFAULT_WORKERS)),
            verify_all=bool(get("verify_all", False)),
        )
