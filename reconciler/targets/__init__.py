"""Targets: where `plan` and `apply` take a validated repository.

A target compares the repository with the live state of one system and brings that system in line.
The `plan` and `apply` commands know targets only through this interface and the registration table
below, so adding one (e.g. `cluster`) is one line in TARGETS plus its module.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from reconciler.extras import require_extra

# target name -> "module:attribute" of a Target factory (a class taking no arguments).
# Imported lazily so that planning one target never imports another's client library.
TARGETS: dict[str, str] = {
    "registry": "reconciler.targets.postgres:RegistryTarget",
    "cluster": "reconciler.targets.cluster:ClusterTarget",
}
ALL = "all"


class TargetError(Exception):
    """A tool error a person can act on; the command prints the message and exits 2."""


@dataclass(frozen=True)
class TargetOptions:
    """What the command line says about planning and applying; a target ignores what it does not use."""

    # None: take the repository's settings file (`prune.<target>`)
    prune: bool | None = None
    allow_empty: bool = False
    # registry target: where the database is
    database_url: str | None = None
    password_file: str | None = None
    state_dir: Path | None = None
    # use the embedded PostgreSQL even when the environment or settings file names a database
    embedded: bool = False
    lock_timeout: float = 30.0
    # False: `plan` only prepares the desired state and leaves reading the live state to `apply`, which
    # compares again once it holds its lock anyway (what the `apply` command does: one read, not two).
    read_live: bool = True
    # cluster target: which cluster, and how to treat other field managers and readiness
    kubeconfig: str | None = None
    context: str | None = None
    force_conflicts: bool = False
    wait: bool = False
    timeout: float = 300.0
    # True when the target was named with --target (not reached through `all`): a target that cannot
    # find its system then fails instead of being skipped.
    explicit: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class TargetPlan(Protocol):
    target: str

    @property
    def has_changes(self) -> bool: ...

    def to_json(self) -> dict[str, Any]: ...

    def render_text(self) -> str: ...


@runtime_checkable
class TargetResult(Protocol):
    target: str

    @property
    def changed(self) -> bool: ...

    def to_json(self) -> dict[str, Any]: ...

    def render_text(self) -> str: ...


class Target(Protocol):
    name: str

    def plan(self, repo: Any, options: TargetOptions) -> TargetPlan:
        """Desired (from the validated repository) against live state; read-only."""
        ...

    def apply(self, plan: TargetPlan, options: TargetOptions) -> TargetResult:
        """Make the live state match the plan's desired state."""
        ...

    def close(self) -> None: ...


def target_names() -> list[str]:
    """In pipeline order: the registry before the cluster (servers are published before they scale)."""
    return list(TARGETS)


def select(name: str) -> list[str]:
    """Target names for a `--target` value: one name, or every registered target for `all`."""
    if name == ALL:
        return target_names()
    if name not in TARGETS:
        raise TargetError(f"unknown target {name!r}; choose one of {', '.join([*target_names(), ALL])}")
    return [name]


def load_target(name: str) -> Target:
    """Raises MissingExtraError when the target's client library is not installed (the target names
    are also the names of their pip extras)."""
    require_extra(name, f"the {name} target")
    module_name, _, attr = TARGETS[name].partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    target: Target = factory()
    return target
