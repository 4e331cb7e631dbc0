"""Models that mirror external schemas: server.json and the publish body, the ToolHive Registry Server
configuration, and the ToolHive operator's CRDs. Our own logic lives outside this package.

`check(kind, data)` validates one parsed document against the model for its kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ValidationError

from reconciler.schemas.problems import SchemaProblem, problems_from
from reconciler.schemas.publish import PublishEntry
from reconciler.schemas.registry_config import RegistryConfig, cross_references
from reconciler.schemas.toolhive import API_VERSIONS, TOOLHIVE_GROUP, MCPGroup, MCPServer, VirtualMCPServer

__all__ = [
    "API_VERSIONS",
    "KINDS",
    "MANIFEST_KINDS",
    "TOOLHIVE_GROUP",
    "SchemaProblem",
    "SchemaResult",
    "check",
]

MANIFEST_KINDS = frozenset({"MCPServer", "VirtualMCPServer", "MCPGroup"})

# document kind -> the model of its schema
KINDS: dict[str, type[BaseModel]] = {
    "RegistryEntry": PublishEntry,
    "RegistryConfig": RegistryConfig,
    "MCPServer": MCPServer,
    "VirtualMCPServer": VirtualMCPServer,
    "MCPGroup": MCPGroup,
}


@dataclass(frozen=True, slots=True)
class SchemaResult:
    model: BaseModel | None  # None when there is any problem
    problems: list[SchemaProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check(kind: str, data: object) -> SchemaResult:
    """Validate `data` (a parsed YAML/JSON document) as `kind`; raises ValueError for an unknown kind."""
    model_class = KINDS.get(kind)
    if model_class is None:
        raise ValueError(f"no schema for kind {kind!r}; known: {', '.join(KINDS)}")
    try:
        model = model_class.model_validate(data)
    except ValidationError as exc:
        return SchemaResult(None, problems_from(exc, model_class, data))
    if isinstance(model, RegistryConfig):
        problems = [SchemaProblem(path, message) for path, message in cross_references(model)]
        if problems:
            return SchemaResult(None, problems)
    return SchemaResult(model)
