"""The ToolHive Registry Server configuration file (`thv-registry-api serve --config`), v1.2.0 to v1.5.1.

One model for every release: fields a release does not know are judged by the policies, which see the
targeted release (`server`). Values are read the way the server's loader (viper, weakly typed) reads them:
a quoted number or boolean is accepted, an unknown key would be ignored by the server but is an error
here (it is most often a typo), except `type`, which the server's own fixtures carry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from reconciler.schemas.base import (
    DnsLabel,
    FreeForm,
    GoDuration,
    HttpUrl,
    NonEmpty,
    Strict,
    rule_error,
)

SOURCE_TYPES = ("git", "api", "file", "managed", "kubernetes")
AUDIT_MAX_DATA_SIZE = 1024 * 1024
_GO_INT = re.compile(r"^[-+]?[0-9]+$")
# strconv.ParseBool, which viper's weak decoding uses for a string into a bool
_GO_BOOL = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True}
_GO_BOOL.update({"0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False})


def _weak_int(value: Any) -> Any:
    return int(value) if isinstance(value, str) and _GO_INT.match(value.strip()) else value


def _weak_bool(value: Any) -> Any:
    return _GO_BOOL.get(value, value) if isinstance(value, str) else value


# What viper accepts for an integer or boolean field: the value, or the same in quotes.
WeakInt = Annotated[int, BeforeValidator(_weak_int)]
WeakBool = Annotated[bool, BeforeValidator(_weak_bool)]


class GitAuth(Strict):
    username: NonEmpty | None = None
    passwordFile: NonEmpty | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> GitAuth:
        if (self.username is None) != (self.passwordFile is None):
            raise rule_error("git_auth", "username and passwordFile go together: give both or neither")
        if self.passwordFile is not None and not self.passwordFile.startswith("/"):
            raise rule_error("git_auth", "passwordFile must be an absolute path")
        return self


class GitSource(Strict):
    repository: NonEmpty
    branch: NonEmpty | None = None
    tag: NonEmpty | None = None
    commit: NonEmpty | None = None
    path: NonEmpty | None = None
    auth: GitAuth | None = None

    @model_validator(mode="after")
    def _one_ref(self) -> GitSource:
        if sum(ref is not None for ref in (self.branch, self.tag, self.commit)) > 1:
            raise rule_error("git_ref", "give at most one of branch, tag and commit")
        return self


class ApiSource(Strict):
    endpoint: HttpUrl
    # v1.5.0 (#844): a Go duration in (0, 5m]; judged by the api-timeout policy for the targeted release.
    timeout: Any = None


class FileSource(Strict):
    path: NonEmpty | None = None
    url: HttpUrl | None = None
    # An origin for sources created through the server's API; its config loader ignores it, so it
    # neither replaces path or url (refused below) nor conflicts with them.
    data: Any = None
    timeout: GoDuration | None = None

    @model_validator(mode="after")
    def _one_origin(self) -> FileSource:
        if (self.path is None) == (self.url is None):
            raise rule_error(
                "file_origin",
                "give exactly one of file.path and file.url"
                + ("; file.data is not read from a config file" if self.data is not None else ""),
            )
        return self


class ManagedSource(Strict):
    """An empty block: `managed: {}`."""


class KubernetesSource(Strict):
    namespaces: list[DnsLabel] | None = None


class SyncPolicy(Strict):
    # Required for git, api and file sources (checked on Source); managed and kubernetes ignore the block.
    interval: GoDuration | None = None


class IncludeExclude(Strict):
    include: list[str] | None = None
    exclude: list[str] | None = None


class Filter(Strict):
    names: IncludeExclude | None = None
    tags: IncludeExclude | None = None


class Source(Strict):
    name: DnsLabel
    git: GitSource | None = None
    api: ApiSource | None = None
    file: FileSource | None = None
    managed: ManagedSource | None = None
    kubernetes: KubernetesSource | None = None
    syncPolicy: SyncPolicy | None = None
    filter: Filter | None = None
    claims: dict[str, Any] | None = None
    # Not a field of the server's config (the block present is the type); ignored by it, as here.
    type_key: Any = Field(default=None, alias="type")

    @property
    def type(self) -> str | None:
        """The source's type: the name of its one type block."""
        present = self._blocks()
        return present[0] if len(present) == 1 else None

    def _blocks(self) -> list[str]:
        return [kind for kind in SOURCE_TYPES if getattr(self, kind) is not None]

    @model_validator(mode="after")
    def _one_type_and_schedule(self) -> Source:
        present = self._blocks()
        # `managed:` with no value is YAML null: the server sees no block at all.
        empty = [
            kind for kind in SOURCE_TYPES if kind in self.model_fields_set and getattr(self, kind) is None
        ]
        if empty:
            raise rule_error(
                "source_type", f"{empty[0]} has no value; write {empty[0]}: {{}} for an empty block"
            )
        if not present:
            raise rule_error("source_type", "one of git, api, file, managed or kubernetes must be given")
        if len(present) > 1:
            raise rule_error(
                "source_type",
                "only one of git, api, file, managed or kubernetes may be given; found " + ", ".join(present),
            )
        if present[0] in ("git", "api", "file") and (
            self.syncPolicy is None or self.syncPolicy.interval is None
        ):
            raise rule_error(
                "sync_policy", f"a {present[0]} source needs syncPolicy.interval (a Go duration)"
            )
        return self


class Registry(Strict):
    name: NonEmpty
    sources: Annotated[list[NonEmpty], Field(min_length=1)]
    claims: dict[str, Any] | None = None


class AwsRdsIam(Strict):
    region: NonEmpty


class DynamicAuth(Strict):
    awsRdsIam: AwsRdsIam | None = None


class Database(Strict):
    host: NonEmpty
    port: Annotated[WeakInt, Field(ge=1, le=65535)]
    user: NonEmpty
    database: NonEmpty
    migrationUser: NonEmpty | None = None
    # Accepted here so that the `secret-in-repo` policy can report them with its advice.
    password: str | None = None
    migrationPassword: str | None = None
    dynamicAuth: DynamicAuth | None = None
    sslMode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] | None = None
    maxOpenConns: WeakInt | None = None
    maxIdleConns: WeakInt | None = None
    connMaxLifetime: GoDuration | None = None
    maxMetaSize: Annotated[WeakInt, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _one_auth_method(self) -> Database:
        if self.dynamicAuth is not None:
            for field in ("password", "migrationPassword"):
                if getattr(self, field) is not None:
                    raise rule_error(
                        "database_auth",
                        f"database.{field} and database.dynamicAuth are mutually exclusive; "
                        "use one authentication method",
                    )
        return self


class Provider(Strict):
    name: NonEmpty
    issuerUrl: HttpUrl
    audience: NonEmpty
    jwksUrl: HttpUrl | None = None
    clientId: str | None = None
    clientSecretFile: str | None = None
    caCertPath: str | None = None
    authTokenFile: str | None = None
    introspectionUrl: HttpUrl | None = None
    allowPrivateIP: WeakBool | None = None


class OAuth(Strict):
    resourceUrl: HttpUrl | None = None
    realm: str | None = None
    # Ignored from v1.4.4 (#791); the scopes-supported-ignored policy says so.
    scopesSupported: list[str] | None = None
    providers: list[Provider] | None = None


# A role rule: claim name -> required value(s). All keys must match; one shared value per key suffices.
RoleRule = dict[str, str | list[str]]


class Roles(Strict):
    superAdmin: list[RoleRule] | None = None
    manageSources: list[RoleRule] | None = None
    manageRegistries: list[RoleRule] | None = None
    manageEntries: list[RoleRule] | None = None


class Authz(Strict):
    roles: Roles | None = None


class Auth(Strict):
    # Required: the server validates the file before it applies its oauth default, so a file without
    # auth.mode never starts.
    mode: Literal["oauth", "anonymous"]
    publicPaths: list[str] | None = None
    oauth: OAuth | None = None
    authz: Authz | None = None

    @model_validator(mode="after")
    def _oauth_block(self) -> Auth:
        if self.mode == "oauth" and self.oauth is None:
            raise rule_error("auth_oauth", "auth.oauth is required when mode is oauth")
        if self.mode == "oauth" and not (self.oauth and self.oauth.providers):
            raise rule_error(
                "auth_oauth", "auth.oauth.providers needs at least one provider when mode is oauth"
            )
        return self


class Audit(Strict):
    enabled: WeakBool | None = None
    logFile: str | None = None
    eventTypes: list[str] | None = None
    excludeEventTypes: list[str] | None = None
    includeRequestData: WeakBool | None = None
    # 0 means the server's default (1024)
    maxDataSize: Annotated[WeakInt, Field(ge=0, le=AUDIT_MAX_DATA_SIZE)] | None = None


class RegistryConfig(Strict):
    sources: Annotated[list[Source], Field(min_length=1)]
    registries: Annotated[list[Registry], Field(min_length=1)]
    database: Database
    # Required: "auth configuration is required" at load.
    auth: Auth
    # Telemetry (OpenTelemetry exporter settings) is not something we reason about; passed through.
    telemetry: FreeForm | None = None
    audit: Audit | None = None
    # Dropped in v1.2.0 (PR #724) and silently ignored by the server, so tolerated here.
    format: Any = None


def as_loaded(claims: Mapping[str, Any]) -> dict[str, Any]:
    """Claims of a config source or registry as the server loads them: its config loader (viper)
    lower-cases every map key."""
    return {str(key).lower(): value for key, value in claims.items()}


def cross_references(config: RegistryConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """Checks that span several blocks: unique names, registries naming declared sources.
    Returns (path, message) pairs."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    sources: set[str] = set()
    for i, source in enumerate(config.sources):
        if source.name in sources:
            problems.append((("sources", i, "name"), "duplicate source name"))
        sources.add(source.name)
    registries: set[str] = set()
    for i, registry in enumerate(config.registries):
        if registry.name in registries:
            problems.append((("registries", i, "name"), "duplicate registry name"))
        registries.add(registry.name)
        for j, name in enumerate(registry.sources):
            if name not in sources:
                problems.append(
                    (("registries", i, "sources", j), "references a source not declared in sources")
                )
    return problems
