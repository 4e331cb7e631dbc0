"""Convert a legacy ToolHive registry file into entry files of a config repository.

The mapping is ToolHive's own (toolhive-core `toolhive_to_upstream.go`, as `thv registry convert` uses
it): each `servers[key]` becomes a server.json with one OCI package, each `remote_servers[key]` one with
a remote; version 1.0.0; ToolHive-specific fields go to publisher-provided metadata under
`io.github.stacklok`, keyed by the image or URL. Groups are dropped.

What cannot be carried over is listed, never dropped silently:
- a description (or title) over 100 characters is written shortened at a word boundary, with the full
  text kept as `overview` in the metadata when there is none, and reported so someone reviews it;
- an entry that still cannot be valid (no description, an unknown transport, a bad URL) is not written;
- unknown legacy fields and groups are reported.
Every written entry passes the RegistryEntry schema.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reconciler import schemas
from reconciler.schemas.legacy import LegacyImageServer, LegacyRegistry, LegacyRemoteServer, is_legacy
from reconciler.schemas.problems import problems_from
from reconciler.schemas.server_json import PUBLISHER_PROVIDED, SCHEMA_URL

VERSION = "1.0.0"
DEFAULT_NAMESPACE = "io.github.stacklok"
STACKLOK_META = "io.github.stacklok"
TEXT_LIMIT = 100
TIERS = ("Official", "Community")
# Legacy fields ToolHive keeps as publisher-provided metadata, copied as they are.
META_FIELDS = (
    "status", "tier", "tools", "tags", "overview", "tool_definitions", "metadata", "custom_metadata",
    "permissions", "args", "provenance", "docker_tags", "proxy_port", "stateless", "oauth_config", "env_vars",
)  # fmt: skip
# Legacy fields that become server.json fields, for image servers and for remote servers.
_COMMON_FIELDS = frozenset({"name", "title", "description", "transport", "repository_url"})
IMAGE_FIELDS = _COMMON_FIELDS | {"image", "target_port"}
REMOTE_FIELDS = _COMMON_FIELDS | {"url", "headers"}
TOP_LEVEL_FIELDS = frozenset({"$schema", "version", "last_updated", "servers", "remote_servers", "groups"})
INPUT_FIELDS = frozenset({"name", "description", "required", "secret", "default", "choices"})


class ConvertError(Exception):
    """The conversion cannot run at all (not a legacy file, files in the way)."""


@dataclass
class Entry:
    origin: str  # e.g. servers.fetch
    path: str  # relative to the output folder
    document: dict[str, Any]


@dataclass
class Conversion:
    entries: list[Entry] = field(default_factory=list)
    # "where: what" lines for everything not carried over as it was
    unmapped: list[str] = field(default_factory=list)


def entry_path(name: str, version: str) -> str:
    """Where an entry lives in a config repository: `<namespace>/<name>-<version>.yaml`."""
    namespace, _, short = name.partition("/")
    return f"{namespace}/{short}-{version}.yaml"


def parse_claims(pairs: Iterable[str]) -> dict[str, str | list[str]]:
    """`KEY=VALUE` pairs into claims; a key given more than once gets an array of its values."""
    claims: dict[str, str | list[str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"expected KEY=VALUE, got {pair!r}")
        previous = claims.get(key)
        if previous is None:
            claims[key] = value
        else:
            claims[key] = [*([previous] if isinstance(previous, str) else previous), value]
    return claims


def convert_registry(data: Any, claims: dict[str, Any] | None = None) -> Conversion:
    """Entries for every server of a legacy registry document (already parsed)."""
    if not is_legacy(data):
        raise ConvertError("not a legacy ToolHive registry: no top-level servers, remote_servers or groups")
    result = Conversion()
    try:
        registry = LegacyRegistry.model_validate(
            {k: v for k, v in data.items() if k in ("version", "last_updated", "groups")}
        )
    except ValidationError:
        registry = LegacyRegistry()
        result.unmapped.append("version/last_updated/groups: not in the legacy format; ignored")
    for key in sorted(set(data) - TOP_LEVEL_FIELDS):
        result.unmapped.append(f"{key}: unknown top-level field; dropped")
    if registry.groups:
        result.unmapped.append(
            f"groups: {len(registry.groups)} group(s) dropped: the registry server has no groups "
            "(declare MCPGroup manifests instead)"
        )
    converter = _Converter(result, claims or {})
    for section, model in (("servers", LegacyImageServer), ("remote_servers", LegacyRemoteServer)):
        servers = data.get(section) or {}
        if not isinstance(servers, dict):
            result.unmapped.append(f"{section}: expected a mapping of name to server; dropped")
            continue
        for key in sorted(servers):
            converter.add(f"{section}.{key}", key, servers[key], model)
    return result


class _Converter:
    def __init__(self, result: Conversion, claims: dict[str, Any]) -> None:
        self.result = result
        self.claims = claims
        self.paths: set[str] = set()

    def report(self, where: str, what: str) -> None:
        self.result.unmapped.append(f"{where}: {what}")

    def add(
        self, origin: str, key: str, raw: Any, model: type[LegacyImageServer | LegacyRemoteServer]
    ) -> None:
        try:
            legacy = model.model_validate(raw)
        except ValidationError as exc:
            for problem in problems_from(exc, model, raw):
                where = ".".join(str(step) for step in (origin, *problem.path))
                self.report(where, problem.message)
            self.report(origin, "not a valid legacy server; not converted")
            return
        server = self.server(origin, key, legacy, raw)
        if server is None:
            self.report(origin, "not converted")
            return
        document = {"claims": dict(self.claims), "server": server}
        check = schemas.check("RegistryEntry", document)
        if not check.ok:
            for problem in check.problems:
                steps = problem.path[1:] if problem.path[:1] == ("server",) else problem.path
                where = ".".join(str(step) for step in (origin, *steps))
                self.report(where, problem.message)
            self.report(origin, "the converted entry would not be valid; not converted")
            return
        path = entry_path(server["name"], VERSION)
        if path in self.paths:
            self.report(origin, "another legacy server converts to the same name and version; not converted")
            return
        self.paths.add(path)
        self.result.entries.append(Entry(origin, path, document))

    def server(
        self, origin: str, key: str, legacy: LegacyImageServer | LegacyRemoteServer, raw: dict[str, Any]
    ) -> dict[str, Any] | None:
        base = legacy.name or key
        server: dict[str, Any] = {
            "$schema": SCHEMA_URL,
            "name": base if "/" in base else f"{DEFAULT_NAMESPACE}/{base}",
        }
        # status is the one required metadata field; ToolHive defaults it to active
        meta: dict[str, Any] = {"status": legacy.status or "active"}
        for name in META_FIELDS:
            if raw.get(name) is not None:
                meta.setdefault(name, raw[name])
        if isinstance(meta.get("tier"), str):
            meta["tier"] = self.tier(f"{origin}.tier", meta["tier"])
        if legacy.title:
            server["title"] = self.fit(f"{origin}.title", legacy.title)
        if not legacy.description:
            self.report(f"{origin}.description", "missing; the upstream format requires a description")
            return None
        server["description"] = self.fit(f"{origin}.description", legacy.description, overview=meta)
        server["version"] = VERSION
        if legacy.repository_url:
            server["repository"] = {"url": legacy.repository_url, "source": "github"}
        if isinstance(legacy, LegacyImageServer):
            identifier = legacy.image
            transport = self.package_transport(origin, legacy)
            if transport is None:
                return None
            package: dict[str, Any] = {
                "registryType": "oci",
                "identifier": identifier,
                "transport": transport,
            }
            env = self.inputs(f"{origin}.env_vars", raw.get("env_vars"))
            if env:
                package["environmentVariables"] = env
            server["packages"] = [package]
        else:
            identifier = legacy.url
            if legacy.transport not in ("sse", "streamable-http"):
                self.report(f"{origin}.transport", "a remote needs transport sse or streamable-http")
                return None
            remote: dict[str, Any] = {"type": legacy.transport, "url": legacy.url}
            headers = self.inputs(f"{origin}.headers", raw.get("headers"))
            if headers:
                remote["headers"] = headers
            server["remotes"] = [remote]
        mapped = IMAGE_FIELDS if isinstance(legacy, LegacyImageServer) else REMOTE_FIELDS
        for name in sorted(set(raw) - mapped - set(META_FIELDS)):
            self.report(f"{origin}.{name}", "unknown legacy field; dropped")
        server["_meta"] = {PUBLISHER_PROVIDED: {STACKLOK_META: {identifier: meta}}}
        return server

    def tier(self, where: str, tier: str) -> str:
        """ToolHive's metadata schema wants Official or Community; a case slip is fixed, anything else
        is copied and reported."""
        if tier.capitalize() in TIERS:
            return tier.capitalize()
        self.report(where, "not Official or Community; copied as it is")
        return tier

    def package_transport(self, origin: str, legacy: LegacyImageServer) -> dict[str, Any] | None:
        kind = legacy.transport or "stdio"
        if kind == "stdio":
            return {"type": "stdio"}
        if kind in ("sse", "streamable-http"):
            port = f":{legacy.target_port}" if legacy.target_port else ""
            return {"type": kind, "url": f"http://localhost{port}"}
        self.report(f"{origin}.transport", "must be stdio, sse or streamable-http")
        return None

    def inputs(self, where: str, items: Any) -> list[dict[str, Any]]:
        """Legacy env_vars / headers into KeyValueInputs."""
        converted = []
        for i, item in enumerate(items or []):
            value: dict[str, Any] = {"name": item["name"]}
            for legacy_key, key in (
                ("description", "description"),
                ("required", "isRequired"),
                ("secret", "isSecret"),
                ("default", "default"),
                ("choices", "choices"),
            ):
                if item.get(legacy_key) is not None:
                    value[key] = item[legacy_key]
            for extra in sorted(set(item) - INPUT_FIELDS):
                self.report(f"{where}[{i}].{extra}", "unknown legacy field; dropped")
            converted.append(value)
        return converted

    def fit(self, where: str, text: str, overview: dict[str, Any] | None = None) -> str:
        """`text` within the upstream limit of 100 characters: shortened at a word boundary and
        reported; the full text is kept as `overview` in the given metadata when it has none."""
        if len(text) <= TEXT_LIMIT:
            return text
        cut = text[: TEXT_LIMIT - 1]
        if " " in cut:
            cut = cut[: cut.rindex(" ")]
        short = cut.rstrip(" ,;:.-") + "…"
        kept = ""
        if overview is not None and "overview" not in overview:
            overview["overview"] = text
            kept = "; the full text is kept as overview in the publisher-provided metadata"
        self.report(
            where,
            f"{len(text)} characters, upstream allows {TEXT_LIMIT}: written shortened to {len(short)}"
            f"{kept}; review it",
        )
        return short


def render(entry: Entry, source_name: str) -> str:
    """The entry file's YAML text."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    yaml.width = 4096  # keep long strings on one line
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    out.write(f"# Converted from {source_name} ({entry.origin}) by mcp-gitops convert.\n")
    yaml.dump(entry.document, out)
    return out.getvalue()


def write_entries(conversion: Conversion, out_dir: Path, source_name: str, force: bool = False) -> list[Path]:
    """Write every entry below `out_dir`. Refuses (ConvertError, nothing written) when a file is in
    the way, unless `force`."""
    targets = [(out_dir / entry.path, entry) for entry in conversion.entries]
    if not force:
        existing = [str(path) for path, _ in targets if path.exists()]
        if existing:
            raise ConvertError(
                "refusing to overwrite existing files (use --force): " + ", ".join(sorted(existing))
            )
    written = []
    for path, entry in targets:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(entry, source_name), encoding="utf-8")
        written.append(path)
    return written
