"""Models that mirror external schemas: server.json and the publish body, and the ToolHive Registry
Server configuration. Our own logic lives outside this package. (ToolHive manifests are checked against
the operator's own CRDs: `reconciler.crds`.)

`check(kind, data)` validates one parsed document against the model for its kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ValidationError

from reconciler.schemas.problems import SchemaProblem, problems_from
from reconciler.schemas.publish import PublishEntry
from reconciler.schemas.registry_config import RegistryConfig, cross_references

__all__ = [
    "KINDS",
    "SchemaProblem",
    "SchemaResult",
    "check",
]

# document kind -> the model of its schema
KINDS: dict[str, type[BaseModel]] = {
    "RegistryEntry": PublishEntry,
    "RegistryConfig": RegistryConfig,
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
