"""The shape of one policy file (`policies/*.yaml`)."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

# MCPRemoteProxy shares MCPServer's scaling settings; Secret is matched only by `secret-in-repo`.
PolicyKind = Literal[
    "RegistryEntry",
    "RegistryConfig",
    "MCPServer",
    "VirtualMCPServer",
    "MCPGroup",
    "MCPRemoteProxy",
    "Secret",
]
KINDS: tuple[str, ...] = get_args(PolicyKind)


class _PolicyModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Variable(_PolicyModel):
    """A named expression; `variables.<name>` in the validations is replaced by it before compiling."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    expression: str


class Validation(_PolicyModel):
    # true means the object passes
    expression: str
    message: str | None = None
    messageExpression: str | None = None
    # Where the finding points: a static path (`spec.replicas`, `claims.team[1]`), or a CEL expression
    # that yields one.
    fieldPath: str | None = None
    fieldPathExpression: str | None = None
    # Evaluate once per element of this list (bound as `item`), for rules that find several
    # problems in one object; `expression` then sees `item` too.
    forEach: str | None = None
    # Overrides the policy's severity for this validation (for example a warning beside an error).
    severity: Literal["error", "warning", "info"] | None = None

    @model_validator(mode="after")
    def _one_message(self) -> Validation:
        if not (self.message or self.messageExpression):
            raise ValueError("a validation needs message or messageExpression")
        return self


class Match(_PolicyModel):
    kinds: list[PolicyKind] = Field(min_length=1)


class Policy(_PolicyModel):
    id: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    severity: Literal["error", "warning", "info"]
    description: str = Field(min_length=1)
    help: str = ""
    match: Match
    # Inputs without which the policy cannot be judged (today: `token`). When one is missing the
    # policy is not evaluated, and the run says so once instead of passing silently.
    requires: list[Literal["token"]] = []
    variables: list[Variable] = []
    validations: list[Validation] = Field(min_length=1)
