"""Which ToolHive Registry Server release the repository targets, and what that release does.

One table, read by the settings (which versions exist), the policies (the `server` CEL variable) and the
registry writer (which database schema to expect and how to store package arguments). A behaviour is
keyed on the release that introduced it, so an intermediate release gets every change up to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

OLDEST = (1, 2, 0)
NEWEST = (1, 5, 1)
NEWEST_VERSION = "v1.5.1"
_VERSION = re.compile(r"^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")


class UnknownServerVersion(ValueError):
    """A version outside the releases mcp-gitops knows; the message says which are known."""


def parse_version(text: str) -> tuple[int, int, int]:
    match = _VERSION.match(text)
    if match is None:
        raise UnknownServerVersion(f"{text!r} is not a release tag like {NEWEST_VERSION}")
    parts = (int(match[1]), int(match[2]), int(match[3]))
    if not OLDEST <= parts <= NEWEST:
        raise UnknownServerVersion(
            f"{text} is outside the releases mcp-gitops knows (v1.2.0 through {NEWEST_VERSION})"
        )
    return parts


@dataclass(frozen=True)
class ServerCapabilities:
    """What one release of the registry server does differently, as flags."""

    version: str
    # golang-migrate version its migrations leave: 21 (v1.2.0-v1.5.0) or 23 (v1.5.1: plugins, JSONB args).
    schema_version: int
    # #742 (v1.2.1): publish needs claims when authorization is configured, not when auth is on.
    claims_gate_on_authz: bool
    # #762 (v1.4.1): under authz a registry, source or entry without claims is super-admin only.
    default_deny_unlabelled: bool
    # #791 (v1.4.4): auth.oauth.scopesSupported removed (silently ignored).
    scopes_supported_ignored: bool
    # #804 (v1.4.6, toolhive-core v0.0.38): database host/name character rules at start-up.
    database_name_rules: bool
    # #848 (v1.5.0): existing claims are matched by visibility (OR within arrays), new ones by subset.
    visibility_matching: bool
    # #845/#848 (v1.5.0): a publish must see the managed source's claims.
    publish_gated_on_source: bool
    # #844/#846 (v1.5.0): sources[].api.timeout.
    api_timeout: bool
    # #867 (v1.5.1): package and runtime arguments stored as JSONB argument objects.
    jsonb_arguments: bool

    @classmethod
    def of(cls, version: str) -> ServerCapabilities:
        v = parse_version(version)
        return cls(
            version=version,
            schema_version=23 if v >= (1, 5, 1) else 21,
            claims_gate_on_authz=v >= (1, 2, 1),
            default_deny_unlabelled=v >= (1, 4, 1),
            scopes_supported_ignored=v >= (1, 4, 4),
            database_name_rules=v >= (1, 4, 6),
            visibility_matching=v >= (1, 5, 0),
            publish_gated_on_source=v >= (1, 5, 0),
            api_timeout=v >= (1, 5, 0),
            jsonb_arguments=v >= (1, 5, 1),
        )

    def to_cel(self) -> dict[str, Any]:
        """The `server` variable of the policies."""
        return {
            "version": self.version,
            "schemaVersion": self.schema_version,
            "claimsGateOnAuthz": self.claims_gate_on_authz,
            "defaultDenyUnlabelled": self.default_deny_unlabelled,
            "scopesSupportedIgnored": self.scopes_supported_ignored,
            "databaseNameRules": self.database_name_rules,
            "visibilityMatching": self.visibility_matching,
            "publishGatedOnSource": self.publish_gated_on_source,
            "apiTimeout": self.api_timeout,
            "jsonbArguments": self.jsonb_arguments,
        }


def schema_version_of(version: str) -> int:
    return ServerCapabilities.of(version).schema_version
