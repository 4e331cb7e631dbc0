"""The settings file at the root of a config repository (`mcp-gitops.yaml`): where things are, and how
to apply them. Every field has a default, so a repository without the file works."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SETTINGS_FILE = "mcp-gitops.yaml"
DEFAULT_MAX_FILE_BYTES = 1024 * 1024


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class WaiverTarget(_Settings):
    """What a waiver covers: exactly one of a file path, a server name (optionally @version), or the
    registry config."""

    path: str | None = None
    entry: str | None = None
    registryConfig: bool = False


class Waiver(_Settings):
    rule: str = Field(min_length=1)
    target: WaiverTarget
    reason: str = Field(min_length=1)
    expires: dt.date | None = None

    @field_validator("expires", mode="before")
    @classmethod
    def _parse_date(cls, value: object) -> object:
        return dt.date.fromisoformat(value) if isinstance(value, str) else value


class DatabaseSettings(_Settings):
    """Where `apply` writes the registry state. A password is never read from here."""

    url: str | None = None
    # Use the registry config's `database` block (host, port, user, database, sslMode).
    fromRegistryConfig: bool = False
    passwordFile: str | None = None


class PruneSettings(_Settings):
    registry: bool = False
    cluster: bool = False


class Settings(_Settings):
    registryConfig: str = "registry.yaml"
    entries: list[str] = ["entries"]
    manifests: list[str] = ["manifests"]
    policies: list[str] = []
    # Namespace given to manifests that do not name one.
    namespace: str = "default"
    database: DatabaseSettings = DatabaseSettings()
    prune: PruneSettings = PruneSettings()
    waivers: list[Waiver] = []
    maxFileBytes: int = Field(default=DEFAULT_MAX_FILE_BYTES, gt=0)
    # Which document kinds are subject to validation beyond schema (for future narrowing).
    format: Literal["upstream"] = "upstream"
