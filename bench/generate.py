"""Write a synthetic config repository in mcp-gitops' layout, for benchmarks (deterministic per seed).

    python bench/generate.py OUT --entries N --manifests M [--seed S]

OUT gets mcp-gitops.yaml, registry.yaml, entries/ (one publish body {"claims", "server"} per file, YAML
and JSON mixed; several versions per server name; npm/pypi/oci packages, remotes, icons, claims) and
manifests/ (MCPServer, VirtualMCPServer and MCPGroup). `build_entries` gives the same entries in memory.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
from pathlib import Path
from typing import Any

SCHEMA = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
PUBLISHER = "io.modelcontextprotocol.registry/publisher-provided"
ORGS = ["acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "tyrell"]
WORDS = [
    "fetch",
    "search",
    "files",
    "git",
    "slack",
    "jira",
    "sql",
    "vector",
    "docs",
    "mail",
    "calendar",
    "browser",
    "k8s",
    "metrics",
    "logs",
    "notes",
    "maps",
    "weather",
    "crm",
    "billing",
    "tickets",
    "wiki",
]
NAMESPACE = "toolhive-system"

REGISTRY_CONFIG: dict[str, Any] = {
    "sources": [
        # The registry server puts the managed source's claims on all its entries at every start-up, so
        # the entries carry the same (claims-reset-on-restart).
        {"name": "gitops", "managed": {}, "claims": {"org": "acme"}},
        {
            "name": "upstream",
            "git": {
                "repository": "https://github.com/stacklok/toolhive-catalog.git",
                "branch": "main",
                "path": "pkg/catalog/toolhive/data/registry-upstream.json",
            },
            "syncPolicy": {"interval": "30m"},
            "claims": {"org": "acme"},
        },
    ],
    "registries": [
        {"name": "default", "sources": ["gitops", "upstream"], "claims": {"org": "acme"}},
        {"name": "internal", "sources": ["gitops"], "claims": {"org": "acme"}},
    ],
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
            "providers": [
                {"name": "idp", "issuerUrl": "https://idp.example.com", "audience": "api://registry"}
            ],
        },
        "authz": {"roles": {"superAdmin": [{"role": "super-admin"}], "manageEntries": [{"role": "writer"}]}},
    },
}

SETTINGS: dict[str, Any] = {
    "registryConfig": "registry.yaml",
    "entries": ["entries"],
    "manifests": ["manifests"],
}


# --- a small deterministic YAML emitter (block style; strings double-quoted, which JSON escapes suit) ---

_PLAIN_KEY = re.compile(r"^[A-Za-z$_][A-Za-z0-9_.$/-]*$")
_RESERVED = {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}


def _key(key: Any) -> str:
    text = str(key)
    return text if _PLAIN_KEY.match(text) and text.lower() not in _RESERVED else json.dumps(text)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(str(value), ensure_ascii=False)


def to_yaml(value: Any, indent: int = 0) -> str:
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return pad + "{}\n"
        out = []
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                out.append(f"{pad}{_key(key)}:\n{to_yaml(item, indent + 2)}")
            else:
                out.append(f"{pad}{_key(key)}: {_inline(item)}\n")
        return "".join(out)
    if isinstance(value, list):
        if not value:
            return pad + "[]\n"
        out = []
        for item in value:
            if isinstance(item, dict | list) and item:
                body = to_yaml(item, indent + 2)
                out.append(f"{pad}- {body[indent + 2 :]}")
            else:
                out.append(f"{pad}- {_inline(item)}\n")
        return "".join(out)
    return pad + _scalar(value) + "\n"


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


# --- content ---


def _server(rng: random.Random, org: str, short: str, version: str) -> dict[str, Any]:
    name = f"io.github.{org}/{short}"
    kind = rng.choice(["npm", "pypi", "oci", "remote"])
    server: dict[str, Any] = {
        "$schema": SCHEMA,
        "name": name,
        "description": f"MCP server for {short.replace('-', ' ')} at {org}"[:100],
        "title": short.replace("-", " ").title(),
        "version": version,
        "websiteUrl": f"https://{short}.{org}.example.com",
        "repository": {"url": f"https://github.com/{org}/{short}", "source": "github"},
    }
    if rng.random() < 0.5:
        server["icons"] = [
            {
                "src": f"https://{short}.{org}.example.com/icon.png",
                "mimeType": "image/png",
                "sizes": ["48x48"],
                "theme": rng.choice(["light", "dark"]),
            }
        ]
    env = [
        {
            "name": f"{short.upper().replace('-', '_')}_TOKEN",
            "description": "API token",
            "isRequired": True,
            "isSecret": True,
        }
    ]
    if kind == "npm":
        server["packages"] = [
            {
                "registryType": "npm",
                "registryBaseUrl": "https://registry.npmjs.org",
                "identifier": f"@{org}/{short}",
                "version": version,
                "runtimeHint": "npx",
                "transport": {"type": "stdio"},
                "environmentVariables": env,
                "packageArguments": [{"type": "named", "name": "--log-level", "value": "info"}],
            }
        ]
    elif kind == "pypi":
        server["packages"] = [
            {
                "registryType": "pypi",
                "registryBaseUrl": "https://pypi.org",
                "identifier": f"{org}-{short}",
                "version": version,
                "runtimeHint": "uvx",
                "transport": {"type": "stdio"},
                "environmentVariables": env,
            }
        ]
    elif kind == "oci":
        server["packages"] = [
            {
                "registryType": "oci",
                "identifier": f"ghcr.io/{org}/{short}:{version}",
                "version": version,
                "runtimeHint": "docker",
                "transport": {"type": "streamable-http", "url": "http://localhost:8080/mcp"},
                "runtimeArguments": [{"type": "named", "name": "-p", "value": "8080:8080"}],
            }
        ]
    if kind == "remote" or rng.random() < 0.2:
        server["remotes"] = [
            {
                "type": rng.choice(["streamable-http", "sse"]),
                "url": f"https://mcp.{org}.example.com/{short}",
                "headers": [{"name": "Authorization", "isSecret": True, "isRequired": True}],
            }
        ]
    image = f"ghcr.io/{org}/{short}:{version}"
    server["_meta"] = {
        PUBLISHER: {
            "io.github.stacklok": {
                image: {
                    "status": "active",
                    "tier": rng.choice(["Official", "Community"]),
                    "tools": [f"{short}_{w}" for w in rng.sample(WORDS, 3)],
                    "tags": rng.sample(WORDS, 2),
                }
            }
        }
    }
    return server


def build_entries(count: int, seed: int = 1) -> list[tuple[str, dict[str, Any]]]:
    """`count` entry files as (path, publish body): names carry 1-4 versions each."""
    rng = random.Random(seed)
    out: list[tuple[str, dict[str, Any]]] = []
    index = 0
    while len(out) < count:
        org = ORGS[index % len(ORGS)]
        short = f"{WORDS[index % len(WORDS)]}-{index:05d}"
        claims: dict[str, Any] = dict(REGISTRY_CONFIG["sources"][0]["claims"])
        for minor in range(min(rng.randint(1, 4), count - len(out))):
            version = f"1.{minor}.{rng.randint(0, 12)}"
            body = {"claims": claims, "server": _server(rng, org, short, version)}
            suffix = "json" if len(out) % 3 == 0 else "yaml"
            out.append((f"entries/{org}/{short}-{version}.{suffix}", body))
        index += 1
    return out


def build_manifests(count: int, seed: int = 1) -> list[tuple[str, dict[str, Any]]]:
    rng = random.Random(seed + 1)
    out: list[tuple[str, dict[str, Any]]] = []
    groups = max(1, count // 10)
    for i in range(count):
        group = f"group-{i % groups:03d}"
        kind = "MCPGroup" if i < groups else ("VirtualMCPServer" if i % 7 == 0 else "MCPServer")
        meta = {
            "name": group if kind == "MCPGroup" else f"{WORDS[i % len(WORDS)]}-{i:04d}",
            "namespace": NAMESPACE,
        }
        if kind == "MCPGroup":
            spec: dict[str, Any] = {"description": f"servers of {group}"}
        elif kind == "VirtualMCPServer":
            spec = {"groupRef": {"name": group}, "incomingAuth": {"type": "anonymous"}}
        else:
            spec = {
                "image": f"ghcr.io/acme/{meta['name']}:1.{rng.randint(0, 9)}.0",
                "transport": rng.choice(["stdio", "streamable-http"]),
                "proxyPort": 8080,
                "groupRef": {"name": group},
                "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
            }
            if spec["transport"] == "streamable-http" and i % 3 == 0:
                # Scaled with Redis sessions and rate limits: what the CRDs' CEL rules look at.
                spec["replicas"] = 2
                spec["sessionStorage"] = {
                    "provider": "redis",
                    "address": "redis.toolhive-system.svc.cluster.local:6379",
                    "keyPrefix": f"mcp-sessions:{meta['name']}:",
                }
                spec["rateLimiting"] = {"shared": {"maxTokens": 100, "refillPeriod": "1m"}}
                spec["podTemplateSpec"] = {"spec": {"terminationGracePeriodSeconds": 60}}
        doc = {"apiVersion": "toolhive.stacklok.dev/v1beta1", "kind": kind, "metadata": meta, "spec": spec}
        out.append((f"manifests/{kind.lower()}-{i:04d}.yaml", doc))
    return out


def file_text(path: str, doc: Any) -> str:
    """The text written for a document: JSON for *.json, YAML otherwise."""
    return json.dumps(doc, indent=2) + "\n" if path.endswith(".json") else to_yaml(doc)


def write_repo(out: Path, entries: int, manifests: int, seed: int = 1) -> Path:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / "mcp-gitops.yaml").write_text(to_yaml(SETTINGS))
    (out / "registry.yaml").write_text(to_yaml(REGISTRY_CONFIG))
    for path, doc in build_entries(entries, seed) + build_manifests(manifests, seed):
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(file_text(path, doc))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--manifests", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    write_repo(args.out, args.entries, args.manifests, args.seed)
    print(f"wrote {args.entries} entries and {args.manifests} manifests to {args.out}")


if __name__ == "__main__":
    main()
