"""Which targets a run reconciles, and each target's own options."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reconciler.targets import target_names
from reconciler.targets.cluster.options import ClusterOptions
from reconciler.targets.postgres.options import RegistryOptions

if TYPE_CHECKING:
    from reconciler.settings import Settings

# Without `targets:` in mcp-gitops.yaml or --target: the registry only. The cluster is never reached
# because $KUBECONFIG (or a kubeconfig file) happens to exist.
DEFAULT_TARGETS = ("registry",)


@dataclass(frozen=True)
class TargetOptions:
    """One options object per target, each of that target's own type."""

    registry: RegistryOptions = field(default_factory=RegistryOptions)
    cluster: ClusterOptions = field(default_factory=ClusterOptions)

    def of(self, name: str) -> RegistryOptions | ClusterOptions:
        options: RegistryOptions | ClusterOptions = getattr(self, name)
        return options


def selected_targets(settings: Settings, requested: Sequence[str] = ()) -> list[str]:
    """`--target` values when given, else the settings file's `targets:`, else DEFAULT_TARGETS; in
    pipeline order (the registry before the cluster)."""
    wanted = set(requested) or set(settings.targets if settings.targets is not None else DEFAULT_TARGETS)
    return [name for name in target_names() if name in wanted]
