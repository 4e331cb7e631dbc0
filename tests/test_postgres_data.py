"""Small builders of registry config and entries for the registry-target tests (no tests here).

Plain data in the repository's layout, so the tests do not depend on sample-repo or the pipeline."""

from __future__ import annotations

import copy
from typing import Any

MANAGED = "gitops"


def registry_config(managed: str = MANAGED, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "sources": [
            {"name": managed, "managed": {}},
            {
                "name": "upstream",
                "git": {
                    "repository": "https://github.com/acme/catalog.git",
                    "branch": "main",
                    "path": "r.json",
                },
                "syncPolicy": {"interval": "30m"},
                "claims": {"org": "acme"},
            },
        ],
        "registries": [{"name": "default", "sources": [managed, "upstream"], "claims": {"org": "acme"}}],
        "database": {"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": "registry"},
    }
    config.update(extra)
    return config


def server(name: str, version: str = "1.0.0", **overrides: Any) -> dict[str, Any]:
    short = name.split("/")[-1]
    data: dict[str, Any] = {
        "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
        "name": name,
        "description": f"{short} does useful things",
        "title": short.title(),
        "version": version,
        "websiteUrl": f"https://{short}.example.com",
        "repository": {"url": f"https://github.com/acme/{short}", "source": "github", "id": "123"},
        "icons": [{"src": f"https://{short}.example.com/icon.png", "mimeType": "image/png", "theme": "dark"}],
        "packages": [
            {
                "registryType": "npm",
                "registryBaseUrl": "https://registry.npmjs.org",
                "identifier": f"@acme/{short}",
                "version": version,
                "runtimeHint": "npx",
                "runtimeArguments": [{"type": "named", "name": "--yes"}],
                "packageArguments": [
                    {"type": "named", "name": "--port", "value": "8080"},
                    {"type": "positional", "valueHint": "dir"},
                ],
                "environmentVariables": [{"name": "API_KEY", "isRequired": True, "isSecret": True}],
                "transport": {"type": "stdio"},
            }
        ],
        "remotes": [
            {
                "type": "streamable-http",
                "url": f"https://{short}.example.com/mcp",
                "headers": [{"name": "Authorization", "isSecret": True}],
            }
        ],
        "_meta": {
            "io.modelcontextprotocol.registry/publisher-provided": {
                "io.github.stacklok": {
                    f"ghcr.io/acme/{short}:{version}": {"status": "active", "tier": "Community"}
                }
            }
        },
    }
    data.update(overrides)
    return data


def entry(
    name: str, version: str = "1.0.0", claims: dict[str, Any] | None = None, **overrides: Any
) -> dict[str, Any]:
    return {
        "claims": {"org": "acme"} if claims is None else claims,
        "server": server(name, version, **overrides),
    }


def entries(*items: tuple[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """(name, version) pairs -> [(path, entry)]."""
    return [(f"entries/{n.split('/')[-1]}-{v}.yaml", entry(n, v)) for n, v in items]


def with_claims(
    items: list[tuple[str, dict[str, Any]]], name: str, claims: dict[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    out = copy.deepcopy(items)
    for _, data in out:
        if data["server"]["name"] == name:
            data["claims"] = claims
    return out
