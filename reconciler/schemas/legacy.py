"""The legacy ToolHive-native registry format (toolhive-core `toolhive-legacy-registry.schema.json`,
removed upstream), which ToolHive Registry Server v1.2.0 no longer reads. Modelled only so that
`mcp-gitops convert` can turn it into entry files; unknown keys are kept (`model_extra`) so the
converter can list what it did not map."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

# The heuristic ToolHive itself uses (pkg/registry/legacyhint): any of these top-level keys marks the
# legacy format, unless `data` is an object (the upstream wrapper). `$schema` alone says nothing.
LEGACY_KEYS = frozenset({"servers", "remote_servers", "groups"})


def is_legacy(data: Any) -> bool:
    return (
        isinstance(data, dict) and not isinstance(data.get("data"), dict) and bool(LEGACY_KEYS & data.keys())
    )


class _Legacy(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, frozen=True)


class LegacyEnvVar(_Legacy):
    name: str
    description: str | None = None
    required: bool | None = None
    secret: bool | None = None
    default: str | None = None


class LegacyHeader(LegacyEnvVar):
    choices: list[str] | None = None


class _LegacyServer(_Legacy):
    name: str | None = None
    title: str | None = None
    description: str | None = None
    transport: str | None = None
    repository_url: str | None = None
    env_vars: list[LegacyEnvVar] | None = None
    # Copied into publisher-provided metadata as they are (see reconciler.convert).
    status: str | None = None
    tier: str | None = None
    tools: list[str] | None = None
    tags: list[str] | None = None
    overview: str | None = None
    tool_definitions: Any = None
    metadata: Any = None
    custom_metadata: Any = None


class LegacyImageServer(_LegacyServer):
    image: str
    args: list[str] | None = None
    target_port: int | None = None
    proxy_port: int | None = None
    docker_tags: list[str] | None = None
    permissions: Any = None
    provenance: Any = None


class LegacyRemoteServer(_LegacyServer):
    url: str
    headers: list[LegacyHeader] | None = None
    oauth_config: Any = None


class LegacyGroup(_Legacy):
    name: str
    description: str | None = None
    servers: dict[str, LegacyImageServer] | None = None
    remote_servers: dict[str, LegacyRemoteServer] | None = None


class LegacyRegistry(_Legacy):
    version: str | None = None
    last_updated: str | None = None
    servers: dict[str, LegacyImageServer] | None = None
    remote_servers: dict[str, LegacyRemoteServer] | None = None
    groups: list[LegacyGroup] | None = None
