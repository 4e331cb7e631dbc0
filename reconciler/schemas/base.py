"""The strict base every mirrored model uses: unknown fields and wrong types are errors."""

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    # strict: YAML gives real types, so "3" for an integer is a mistake worth reporting, not coercing.
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True, frozen=True)


class Open(BaseModel):
    """For free-form blocks we pass through (podTemplateSpec, _meta, config): shape not checked."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)
