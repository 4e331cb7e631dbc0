"""Small configuration repositories for tests, written as files the way a user would."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path
from typing import Any

ISSUER, AUDIENCE = "https://idp.example.com", "api://registry"

CONFIG: dict[str, Any] = {
    "sources": [
        # the entries' claims: the registry server puts them on every entry of the source at start-up
        {"name": "platform", "managed": {}, "claims": {"org": "acme", "team": ["platform"]}},
        {
            "name": "upstream",
            "git": {
                "repository": "https://github.com/acme/registry.git",
                "branch": "main",
                "path": "registry.json",
            },
            "syncPolicy": {"interval": "30m"},
            "claims": {"org": "acme"},
        },
    ],
    "registries": [{"name": "default", "sources": ["platform", "upstream"], "claims": {"org": "acme"}}],
    "database": {
        "host": "postgres",
        "port": 5432,
        "user": "registry",
        "database": "registry",
        "sslMode": "require",
    },
    "auth": {
        "mode": "oauth",
        "oauth": {
            "resourceUrl": "https://registry.example.com",
            "providers": [{"name": "idp", "issuerUrl": ISSUER, "audience": AUDIENCE}],
        },
        "authz": {"roles": {"superAdmin": [{"role": "super-admin"}], "manageEntries": [{"role": "writer"}]}},
    },
}


def entry(
    name: str = "io.github.acme/tool", version: str = "1.0.0", claims: Any = "default"
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "server": {
            "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
            "name": name,
            "description": "A tool for tests",
            "version": version,
            "packages": [
                {
                    "registryType": "npm",
                    "identifier": "@acme/tool",
                    "version": version,
                    "transport": {"type": "stdio"},
                }
            ],
        }
    }
    if claims is not None:
        body["claims"] = {"org": "acme", "team": ["platform"]} if claims == "default" else claims
    return body


def mcpserver(name: str = "fetch", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "toolhive.stacklok.dev/v1beta1",
        "kind": "MCPServer",
        "metadata": {"name": name, "namespace": "toolhive-system"},
        "spec": {"image": "ghcr.io/acme/fetch:1.0.0", "transport": "streamable-http", **spec},
    }


def vmcp(name: str = "gateway", group: str | None = "tools", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"incomingAuth": {"type": "anonymous"}, **spec}
    if group is not None:
        body["groupRef"] = {"name": group}
    return {
        "apiVersion": "toolhive.stacklok.dev/v1beta1",
        "kind": "VirtualMCPServer",
        "metadata": {"name": name, "namespace": "toolhive-system"},
        "spec": body,
    }


def group(name: str = "tools", namespace: str = "toolhive-system") -> dict[str, Any]:
    return {
        "apiVersion": "toolhive.stacklok.dev/v1beta1",
        "kind": "MCPGroup",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"description": "tools"},
    }


REDIS = {"provider": "redis", "address": "redis.toolhive-system.svc:6379", "keyPrefix": "thv:fetch:"}


def write_repo(
    root: Path,
    *,
    config: dict[str, Any] | None = None,
    entries: dict[str, Any] | None = None,
    manifests: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> Path:
    """Write a repository; `entries`/`manifests` map file names to a document (or a list of them)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "registry.yaml").write_text(
        json.dumps(copy.deepcopy(CONFIG) if config is None else config, indent=2)
    )
    if settings is not None:
        (root / "mcp-gitops.yaml").write_text(json.dumps(settings, indent=2))
    for folder, files in (("entries", entries or {}), ("manifests", manifests or {})):
        (root / folder).mkdir(exist_ok=True)
        for name, doc in files.items():
            if isinstance(doc, str):
                text = doc
            elif isinstance(doc, list):
                text = "\n---\n".join(json.dumps(d, indent=2) for d in doc)
            else:
                text = json.dumps(doc, indent=2)
            (root / folder / name).write_text(text)
    return root


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd` with a fixed identity; its stdout, stripped."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@e",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@e",
    }
    result = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True)
    return result.stdout.strip()
