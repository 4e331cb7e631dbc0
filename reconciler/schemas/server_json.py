"""server.json, schema 2025-12-11 (https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json),
with the semantic checks of the official registry and ToolHive Registry Server's stricter name rule."""

from __future__ import annotations

import posixpath
import re
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from reconciler.schemas.base import FreeForm, HttpsUrl, HttpUrl, NonEmpty, Open, Strict, rule_error

SCHEMA_URL = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
PUBLISHER_PROVIDED = "io.modelcontextprotocol.registry/publisher-provided"

# The schema's pattern is `^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$`; TRS also wants each side to start and end
# with a letter or digit. One pattern states both (and "exactly one slash").
SERVER_NAME_PATTERN = r"^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?/[a-zA-Z0-9]([a-zA-Z0-9._-]*[a-zA-Z0-9])?$"
SHA256_PATTERN = r"^[a-f0-9]{64}$"
ICON_SIZE_PATTERN = r"^(\d+x\d+|any)$"
_TEMPLATE_VARIABLE = re.compile(r"\{([^{}]+)\}")
# Wildcard components of a version range: 1.x, 1.X, 1.*
_WILDCARDS = frozenset({"x", "X", "*"})


def version_problem(version: str) -> str | None:
    """Why `version` is not a specific version (None when it is one). The official registry rejects
    ranges and reserves `latest`."""
    if version == "latest":
        return "'latest' is reserved and cannot be used; give a specific version"
    if version.startswith(("^", "~", ">", "<")) or "||" in version or " - " in version:
        return "must be a specific version, not a range (such as ^1.2.3, ~1.2.3, >=1.2.3, 1.2 || 1.3)"
    if any(part in _WILDCARDS for part in version.split(".")):
        return "must be a specific version, not a wildcard range (such as 1.x or 1.*)"
    return None


class Input(Strict):
    description: str | None = None
    isRequired: bool = False
    format: Literal["string", "number", "boolean", "filepath"] = "string"
    value: str | None = None
    isSecret: bool = False
    default: str | None = None
    placeholder: str | None = None
    choices: list[str] | None = None


class InputWithVariables(Input):
    variables: dict[str, Input] | None = None


class KeyValueInput(InputWithVariables):
    """An environment variable or an HTTP header."""

    name: NonEmpty


class PositionalArgument(InputWithVariables):
    type: Literal["positional"]
    valueHint: str | None = None
    isRepeated: bool = False

    @model_validator(mode="after")
    def _hint_or_value(self) -> PositionalArgument:
        if self.valueHint is None and self.value is None:
            raise rule_error("argument", "a positional argument needs valueHint or value")
        return self


class NamedArgument(InputWithVariables):
    type: Literal["named"]
    name: NonEmpty
    isRepeated: bool = False


Argument = Annotated[PositionalArgument | NamedArgument, Field(discriminator="type")]


class StdioTransport(Strict):
    type: Literal["stdio"]


class StreamableHttpTransport(Strict):
    type: Literal["streamable-http"]
    url: HttpUrl
    headers: list[KeyValueInput] | None = None


class SseTransport(Strict):
    type: Literal["sse"]
    url: HttpUrl
    headers: list[KeyValueInput] | None = None


Transport = Annotated[StdioTransport | StreamableHttpTransport | SseTransport, Field(discriminator="type")]


class Package(Strict):
    registryType: NonEmpty
    registryBaseUrl: HttpUrl | None = None
    identifier: NonEmpty
    version: NonEmpty | None = None
    fileSha256: Annotated[str, Field(pattern=SHA256_PATTERN)] | None = None
    runtimeHint: str | None = None
    transport: Transport
    runtimeArguments: list[Argument] | None = None
    packageArguments: list[Argument] | None = None
    environmentVariables: list[KeyValueInput] | None = None

    @field_validator("version")
    @classmethod
    def _not_latest(cls, version: str | None) -> str | None:
        if version == "latest":
            raise rule_error("version", "'latest' is reserved and cannot be used; give a specific version")
        return version

    @model_validator(mode="after")
    def _mcpb_has_hash(self) -> Package:
        if self.registryType == "mcpb" and self.fileSha256 is None:
            raise rule_error("mcpb_hash", "fileSha256 (the SHA-256 of the package file) is required for mcpb")
        return self


class _Remote(Strict):
    # `variables` comes before `url` so that the url check can see which variables are declared.
    variables: dict[str, Input] | None = None
    url: HttpUrl
    headers: list[KeyValueInput] | None = None

    @field_validator("url")
    @classmethod
    def _templates_declared(cls, url: str, info: ValidationInfo) -> str:
        if "{" not in url:
            return url
        declared = info.data.get("variables") or {}
        missing = {name for name in _TEMPLATE_VARIABLE.findall(url) if name not in declared}
        if missing:
            # The names are part of the value, so they are counted, not quoted.
            raise rule_error(
                "url_template",
                f"the URL uses {len(missing)} template variable(s) in braces not declared in variables",
            )
        return url


class StreamableHttpRemote(_Remote):
    type: Literal["streamable-http"]


class SseRemote(_Remote):
    type: Literal["sse"]


Remote = Annotated[StreamableHttpRemote | SseRemote, Field(discriminator="type")]


class Repository(Strict):
    url: HttpUrl
    source: NonEmpty
    id: str | None = None
    subfolder: str | None = None

    @field_validator("subfolder")
    @classmethod
    def _clean_relative(cls, subfolder: str | None) -> str | None:
        if subfolder is not None and (
            not subfolder
            or subfolder.startswith("/")
            or "\\" in subfolder
            or posixpath.normpath(subfolder) != subfolder
            or subfolder.split("/")[0] == ".."
        ):
            raise rule_error(
                "subfolder", "must be a clean relative path (no leading '/', no '.' or '..' parts, no '//')"
            )
        return subfolder


class Icon(Strict):
    src: Annotated[HttpsUrl, Field(max_length=255)]
    mimeType: Literal["image/png", "image/jpeg", "image/jpg", "image/svg+xml", "image/webp"] | None = None
    sizes: list[Annotated[str, Field(pattern=ICON_SIZE_PATTERN)]] | None = None
    theme: Literal["light", "dark"] | None = None


class Meta(Open):
    """`_meta`: extension metadata, free-form except that the publisher-provided block is an object."""

    model_config = ConfigDict(populate_by_name=False)

    # (a literal, not PUBLISHER_PROVIDED: type checkers want alias literals)
    publisher_provided: FreeForm | None = Field(
        default=None, alias="io.modelcontextprotocol.registry/publisher-provided"
    )


class ServerJSON(Strict):
    # Only the spelling of the documents: `meta` for `_meta` must be an unknown field, not an alias.
    model_config = ConfigDict(populate_by_name=False)

    schema_: HttpUrl | None = Field(default=None, alias="$schema")
    name: Annotated[str, Field(min_length=3, max_length=200, pattern=SERVER_NAME_PATTERN)]
    description: Annotated[str, Field(min_length=1, max_length=100)]
    title: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    version: Annotated[str, Field(min_length=1, max_length=255)]
    websiteUrl: HttpUrl | None = None
    repository: Repository | None = None
    icons: list[Icon] | None = None
    packages: list[Package] | None = None
    remotes: list[Remote] | None = None
    meta: Meta | None = Field(default=None, alias="_meta")

    @field_validator("version")
    @classmethod
    def _specific_version(cls, version: str) -> str:
        problem = version_problem(version)
        if problem:
            raise rule_error("version", problem)
        return version

    def publisher_provided(self) -> dict[str, Any]:
        return (self.meta.publisher_provided if self.meta else None) or {}


def name_problem(name: str) -> str:
    """A precise reason for a server name that failed the pattern (the value itself is not quoted)."""
    slashes = name.count("/")
    if slashes == 0:
        return "must be 'namespace/name' in reverse-DNS form (e.g. 'io.github.acme/weather'): no '/' found"
    if slashes > 1:
        return "server name cannot contain multiple slashes: give exactly one '/' between namespace and name"
    namespace, _, short = name.partition("/")
    if not re.fullmatch(r"[a-zA-Z0-9.-]+", namespace):
        return "the namespace (before '/') may hold only letters, digits, '.' and '-'"
    if not re.fullmatch(r"[a-zA-Z0-9._-]+", short):
        return "the name (after '/') may hold only letters, digits, '.', '_' and '-'"
    return "the namespace and the name must each start and end with a letter or digit"
