"""The registry target: registry state in the PostgreSQL database of ToolHive Registry Server v1.2.0.

Modules: `desired` (repository -> rows), `schema` (detect / create the v1.2.0 schema and our
bookkeeping), `live` (what the database holds), `planner` (the difference), `writer` (applying it),
`connection` / `embedded` (which database, which password), `target` (the Target interface).
"""

from reconciler.targets.postgres.desired import DesiredState, build_desired
from reconciler.targets.postgres.target import RegistryInput, RegistryPlan, RegistryResult, RegistryTarget

__all__ = [
    "DesiredState",
    "RegistryInput",
    "RegistryPlan",
    "RegistryResult",
    "RegistryTarget",
    "build_desired",
]
