"""The settings file at the root of a config repository (`mcp-gitops.yaml`): where things are, and how
to apply them. Every field has a default, so a repository without the file works."""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from reconciler.registry_server import NEWEST_VERSION, ServerCapabilities, parse_version
from reconciler.source import DEFAULT_MAX_FILE_BYTES

SETTINGS_FILE = "mcp-gitops.yaml"
# `password=...` in a libpq keyword/value string.
_KEYWORD_PASSWORD = re.compile(r"(?:^|\s)password\s*=\s*\S", re.IGNORECASE)


def url_has_password(url: str) -> bool:
    """A password in a PostgreSQL URL (`scheme://user:pw@host`, `?password=`) or keyword string; without
    importing a database driver (validation never does)."""
    from urllib.parse import parse_qs, urlsplit

    if "://" not in url:
        return bool(_KEYWORD_PASSWORD.search(url))
    try:
        parts = urlsplit(url)
        in_query = "password" in {k.lower() for k in parse_qs(parts.query)}
        return bool(parts.password) or in_query
    except ValueError:
        return ":" in url.partition("://")[2].partition("@")[0] and "@" in url


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


# --- rule selection (reconciler/policy/selection.py applies it) -------------------------------------


class SkippedRule(_Settings):
    """A rule not applied anywhere in the repository."""

    rule: str = Field(min_length=1)
    reason: str = Field(min_length=1)


class SeverityOverride(_Settings):
    """A rule reported at another severity than its policy's."""

    rule: str = Field(min_length=1)
    severity: Literal["error", "warning", "info"]
    reason: str = Field(min_length=1)


class ExcludedPaths(_Settings):
    """Files the policies are not applied to: `fnmatch` patterns relative to the repository (`*`
    crosses folders), or a folder ending in `/`."""

    paths: list[str] = Field(min_length=1)
    reason: str = Field(min_length=1)


class RuleSelection(_Settings):
    skip: list[SkippedRule] = []
    severity: list[SeverityOverride] = []
    exclude: list[ExcludedPaths] = []


class DatabaseSettings(_Settings):
    """Where `apply` writes the registry state. The repository is untrusted: a password is never read
    from here, nor from a file named here, and the host it names is used only when the operator allows
    it (reconciler/trust.py)."""

    url: str | None = None
    # Use the registry config's `database` block (host, port, user, database, sslMode).
    fromRegistryConfig: bool = False
    # Kept only to refuse it with a clear finding: a repository that names a file makes mcp-gitops read
    # that file (any file the process can read) and send it as a password.
    passwordFile: None = None

    @field_validator("passwordFile", mode="before")
    @classmethod
    def _refuse_password_file(cls, value: object) -> object:
        if value is not None:
            raise ValueError(
                "a password file is never taken from the repository; the operator gives it "
                "(--password-file, or database.passwordFile in the operator config)"
            )
        return value

    @field_validator("url", mode="before")
    @classmethod
    def _refuse_password_in_url(cls, value: object) -> object:
        if isinstance(value, str) and url_has_password(value):
            raise ValueError(
                "the URL holds a password, which must not be kept in Git; remove it and give the "
                "password through the environment or a password file"
            )
        return value


class RegistryServerSettings(_Settings):
    """The ToolHive Registry Server release the repository targets (reconciler/registry_server.py)."""

    version: str = NEWEST_VERSION

    @field_validator("version")
    @classmethod
    def _known(cls, value: str) -> str:
        parse_version(value)  # UnknownServerVersion is a ValueError: a settings finding at the line
        return value

    def capabilities(self) -> ServerCapabilities:
        return ServerCapabilities.of(self.version)


class PruneSettings(_Settings):
    registry: bool = False
    cluster: bool = False


class ToolhiveSettings(_Settings):
    # Fills `{version}` in CRD URLs: the operator release the platform runs.
    operatorVersion: str = Field(default="v0.44.0", pattern=r"^v?[0-9A-Za-z.+-]+$")


class OwnershipSettings(_Settings):
    """Who owns what this repository writes (reconciler/targets/ownership.py)."""

    # None: the Git remote URL and the folder inside it, else the folder's absolute path.
    identity: str | None = Field(default=None, min_length=1)


class ClusterSettings(_Settings):
    """How the cluster target treats other writers (docs/reconcile.md)."""

    # A field another field manager owns: take it over (as Flux does; keeps the cluster equal to Git
    # after a `kubectl scale`), or report it and skip that object.
    conflicts: Literal["force", "skip"] = "force"
    # Per kind, fields left out of every applied object (another controller owns them, an HPA's
    # `spec.replicas`): mcp-gitops neither sets nor resets them.
    ignoreFields: dict[str, list[str]] = {}


class Settings(_Settings):
    registryConfig: str = "registry.yaml"
    entries: list[str] = ["entries"]
    manifests: list[str] = ["manifests"]
    policies: list[str] = []
    # Namespace given to manifests that do not name one.
    namespace: str = "default"
    database: DatabaseSettings = DatabaseSettings()
    registryServer: RegistryServerSettings = RegistryServerSettings()
    prune: PruneSettings = PruneSettings()
    # Which targets `plan`, `apply`, `drift` and `run` reconcile (--target overrides); None: registry.
    targets: list[Literal["registry", "cluster"]] | None = None
    ownership: OwnershipSettings = OwnershipSettings()
    cluster: ClusterSettings = ClusterSettings()
    waivers: list[Waiver] = []
    rules: RuleSelection = RuleSelection()
    maxFileBytes: int = Field(default=DEFAULT_MAX_FILE_BYTES, gt=0)
    # Where the operator's CRDs come from: files or folders in the repository, or URLs (see docs/crds.md).
    crds: list[str] = []
    toolhive: ToolhiveSettings = ToolhiveSettings()
    # Which document kinds are subject to validation beyond schema (for future narrowing).
    format: Literal["upstream"] = "upstream"
