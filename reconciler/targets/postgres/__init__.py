"""The registry target: registry state in the PostgreSQL database of ToolHive Registry Server v1.2.0-v1.5.1.

Modules: `desired` (repository -> rows), `schema` (detect / create the targeted release's schema and our
bookkeeping), `live` (what the database holds), `planner` (the difference), `writer` (applying it),
`connection` / `embedded` (which database, which password), `target` (the Target interface).
"""

# The names below are imported on first use, so that importing one module of the target (the
# desired-state builder, say, or the options every command builds) does not load the database client.
from typing import TYPE_CHECKING

from reconciler.lazy import lazy_exports

if TYPE_CHECKING:
    from reconciler.targets.postgres.desired import DesiredState, build_desired
    from reconciler.targets.postgres.options import RegistryOptions
    from reconciler.targets.postgres.target import RegistryInput, RegistryPlan, RegistryResult, RegistryTarget

_LAZY = {
    "DesiredState": "reconciler.targets.postgres.desired",
    "build_desired": "reconciler.targets.postgres.desired",
    "RegistryOptions": "reconciler.targets.postgres.options",
    "RegistryInput": "reconciler.targets.postgres.target",
    "RegistryPlan": "reconciler.targets.postgres.target",
    "RegistryResult": "reconciler.targets.postgres.target",
    "RegistryTarget": "reconciler.targets.postgres.target",
}

__getattr__ = lazy_exports(__name__, _LAZY)


__all__ = [
    "DesiredState",
    "RegistryInput",
    "RegistryOptions",
    "RegistryPlan",
    "RegistryResult",
    "RegistryTarget",
    "build_desired",
]
