"""Targets: where `plan`, `apply` and `drift` take a validated repository.

A target compares the repository with the live state of one system and brings that system in line.
The reconcile stage (reconciler/reconcile/) knows targets only through the `Target` protocol and the
registration table below; each target takes the `Repository` and its own typed options.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from reconciler.extras import require_extra

if TYPE_CHECKING:
    from reconciler.findings import Finding
    from reconciler.repository import Repository

# target name -> "module:attribute" of a Target factory (a class taking no arguments).
# Imported lazily so that planning one target never imports another's client library.
TARGETS: dict[str, str] = {
    "registry": "reconciler.targets.postgres:RegistryTarget",
    "cluster": "reconciler.targets.cluster:ClusterTarget",
}
# The targets whose apply is one transaction (HoldingTarget): known before any is loaded, so that the
# reconcile stage never loads another one early.
TRANSACTIONAL_TARGETS = frozenset({"registry"})

# Rule ID of every difference between a target and the repository (TargetPlan.differences).
DRIFT_RULE = "drift"

# Rule ID of a registry entry or config row this repository declares and another one owns.
REGISTRY_OWNER_CONFLICT_RULE = "registry-owner-conflict"
# Errors about rows a target leaves out of its own plan: they do not stop the rest of its apply, which
# reports them again as they stand under its lock (TargetError.rule).
PARTIAL_APPLY_RULES = frozenset({REGISTRY_OWNER_CONFLICT_RULE})

# Phase callback a target may call between the stages of an apply (the registry writer's "schema",
# "entries", ...); the daemon's test hook pauses there.
Hook = Callable[[str], None]


class TargetError(Exception):
    """A failure a person can act on, raised where its cause is known.

    `retryable` is True when the cause may go away by itself (a database or API server that cannot be
    reached, a lock another session holds, an API status 429/5xx); the daemon retries only those.
    `reason` is a short CamelCase word for status and metrics (`Unreachable`, `LockTimeout`, ...)."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        reason: str = "TargetFailed",
        partial: TargetResult | None = None,
        locations: Sequence[tuple[str, int]] = (),
        rule: str | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.reason = reason
        # What was applied before the failure (a cluster apply that stopped part way), to report it.
        self.partial = partial
        # The repository files (and lines) the failure is about, when known: one finding each.
        self.locations = list(locations)
        # The rule id of its findings, when more precise than the generic target failure.
        self.rule = rule


def unreachable(message: str) -> TargetError:
    return TargetError(message, retryable=True, reason="Unreachable")


@runtime_checkable
class TargetPlan(Protocol):
    target: str

    @property
    def has_changes(self) -> bool: ...

    @property
    def compared(self) -> bool:
        """Whether the plan compared with the live state. A plan may leave that to the apply, which
        compares again under its lock anyway (the registry target in `apply` and the daemon); the
        result then says what differed (TargetResult.drift)."""
        ...

    @property
    def destination(self) -> str:
        """Where this target writes (a database, a cluster server and context), named before writing."""
        ...

    @property
    def managed(self) -> int:
        """How many things (entry versions, objects) the repository manages in this target."""
        ...

    def findings(self) -> list[Finding]:
        """What blocks (errors) or qualifies (warnings) applying this plan, each at a file and line."""
        ...

    def differences(self) -> list[Finding]:
        """Each thing that differs from the repository (changed behind our back, never applied, left
        behind), as a `drift` finding at the file it comes from."""
        ...

    def to_json(self) -> dict[str, Any]: ...

    def render_text(self) -> str: ...


@runtime_checkable
class TargetResult(Protocol):
    target: str

    @property
    def changed(self) -> bool: ...

    @property
    def drift(self) -> int:
        """How many things differed from the repository when the apply compared (what it changed,
        and what it found but left as it was)."""
        ...

    def summary(self) -> dict[str, Any]:
        """Counts and the outcome, for the daemon's /status and metrics."""
        ...

    def to_json(self) -> dict[str, Any]: ...

    def render_text(self) -> str: ...


OptionsT = TypeVar("OptionsT", contravariant=True)


class Target(Protocol[OptionsT]):
    name: str

    def plan(self, repo: Repository, options: OptionsT) -> TargetPlan:
        """Desired (from the validated repository) against live state; read-only. Problems that block an
        apply are in `plan.findings()`; a TargetError means the target could not be planned at all."""
        ...

    def apply(self, plan: TargetPlan, options: OptionsT, hook: Hook | None = None) -> TargetResult:
        """Make the live state match the plan's desired state."""
        ...

    def probe(self, options: OptionsT) -> str | None:
        """None when the target's system can be reached, else why not (for /readyz)."""
        ...

    def close(self) -> None: ...


class HeldApply(Protocol):
    """An apply written in a transaction not yet committed: none of it is visible until `commit`."""

    def commit(self) -> TargetResult:
        """Make it visible; raises TargetError as `Target.apply` does."""
        ...

    def discard(self) -> None:
        """Roll it back (nothing was written); after `commit`, nothing to do."""
        ...


@runtime_checkable
class HoldingTarget(Target[OptionsT], Protocol[OptionsT]):
    """A target whose apply is one transaction, which it can write before knowing whether to commit
    it: `apply` can then run beside validation (reconcile stage's `hold`)."""

    def hold(self, plan: TargetPlan, options: OptionsT) -> HeldApply | None:
        """`apply` short of committing; None when it cannot be held now (the stage applies the plan
        later). Raises TargetError as `apply` does."""
        ...


def target_names() -> list[str]:
    """In pipeline order: the registry before the cluster (servers are published before they scale)."""
    return list(TARGETS)


def load_target(name: str) -> Target[Any]:
    """Raises MissingExtraError when the target's client library is not installed (the target names
    are also the names of their pip extras)."""
    require_extra(name, f"the {name} target")
    module_name, _, attr = TARGETS[name].partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    target: Target[Any] = factory()
    return target
