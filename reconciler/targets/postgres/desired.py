"""The desired registry state of one repository revision, built from plain data.

Input is the registry config as a dict and the entry files as (path, {"claims", "server"}) pairs, so this
module is usable (and testable) without the rest of the pipeline. Rows are filled the way a publish to
the managed source fills them in the targeted ToolHive Registry Server release (v1.2.0 to v1.5.1).
"""

from __future__ import annotations

import hashlib
import json
import marshal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

from reconciler.registry_server import NEWEST_VERSION, ServerCapabilities
from reconciler.schemas.base import go_duration_seconds
from reconciler.schemas.registry_config import as_loaded
from reconciler.schemas.server_rows import (
    DEFAULT_MAX_META_SIZE,
    go_json_size,
    icon_row_key,
    meta_size_limit,
    package_row_key,
    publisher_meta,
    remote_row_key,
)
from reconciler.targets.postgres.errors import DesiredStateError

SOURCE_TYPES = ("git", "api", "file", "managed", "kubernetes")
# Sources whose content the registry server fetches on a schedule.
SCHEDULED_TYPES = ("git", "api", "file")

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False, sort_keys=True)
# Row values go into jsonb columns, which keep no key order: sorting keys there is wasted work.
_ROW_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)


def canonical_json(value: Any) -> str:
    return _ENCODER.encode(value)


def row_json(value: Any) -> str | None:
    """A value as a jsonb column receives it, encoded once (None: SQL NULL). Empty lists, most of the
    arrays an entry has, are not handed to the encoder at all."""
    if value is None:
        return None
    if value == []:
        return "[]"
    return _ROW_ENCODER.encode(value)


def digest(value: Any) -> str:
    return hashlib.blake2b(canonical_json(value).encode(), digest_size=16).hexdigest()


def content_digest(value: Any) -> str:
    """Digest of parsed file content, cheap enough for 10,000 entries per run.

    marshal format 2 (no back-references, so equal data always gives equal bytes) is several times
    faster than canonical JSON. It keeps key order, so a file whose keys were only reordered gets a new
    digest; the planner then compares row digests and finds nothing to write. Data marshal cannot encode
    (e.g. dates parsed from YAML) falls back to canonical JSON.
    """
    try:
        raw = marshal.dumps(value, 2)
    except ValueError:
        raw = _ENCODER.encode(_jsonable(value)).encode()
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def claims_digest(claims: Mapping[str, Any] | None) -> str:
    """Digest of a claim set, independent of key order (claims are a flat map of strings / string lists)."""
    if not claims:
        return "none"
    return content_digest(sorted(claims.items()))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _is_map(value: Any) -> bool:
    # dict first: parsed documents are dicts, and the Mapping ABC check is slow at 10,000 entries
    return isinstance(value, dict | Mapping)


def claims_or_none(claims: Any) -> dict[str, Any] | None:
    """Claims as stored: an empty map is SQL NULL."""
    if not claims or not _is_map(claims):
        return None
    return claims if isinstance(claims, dict) else dict(claims)


@dataclass(frozen=True)
class SourceRow:
    name: str
    source_type: str
    source_config: dict[str, Any] | None
    filter_config: dict[str, Any] | None
    sync_seconds: float | None
    syncable: bool
    claims: dict[str, Any] | None

    def fields(self) -> dict[str, Any]:
        return {
            "source_type": self.source_type,
            "source_config": self.source_config,
            "filter_config": self.filter_config,
            "sync_schedule": self.sync_seconds,
            "syncable": self.syncable,
            "claims": self.claims,
        }


@dataclass(frozen=True)
class RegistryRow:
    name: str
    claims: dict[str, Any] | None
    sources: tuple[str, ...]  # in priority order; index = registry_source.position

    def fields(self) -> dict[str, Any]:
        return {"claims": self.claims, "sources": list(self.sources)}


class PackageRow(NamedTuple):
    """One mcp_server_package row less its server_id, in the writer's column order, jsonb values
    encoded (once, when the row is built)."""

    registry_type: str
    pkg_registry_url: str
    pkg_identifier: str
    pkg_version: str
    runtime_hint: str | None
    # names as text[] (schema 21), or whole argument objects as jsonb text (schema 23)
    runtime_arguments: list[str] | str | None
    package_arguments: list[str] | str | None
    sha256_hash: str | None
    transport: str
    transport_url: str | None
    env_vars: str | None
    transport_headers: str | None

    def values(self) -> dict[str, Any]:
        """The row as the database returns it (jsonb decoded), to compare and show."""
        return {
            **self._asdict(),
            "runtime_arguments": _decoded(self.runtime_arguments),
            "package_arguments": _decoded(self.package_arguments),
            "env_vars": _decoded(self.env_vars),
            "transport_headers": _decoded(self.transport_headers),
        }


class RemoteRow(NamedTuple):
    transport: str
    transport_url: str
    transport_headers: str | None  # jsonb text

    def values(self) -> dict[str, Any]:
        return {**self._asdict(), "transport_headers": _decoded(self.transport_headers)}


class IconRow(NamedTuple):
    source_uri: str
    mime_type: str
    theme: str


def _decoded(value: list[str] | str | None) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class VersionRows(NamedTuple):
    """Everything one name@version writes below its entry, built once per version that is written."""

    title: str | None
    description: str | None
    website: str | None
    # the publisher-provided metadata as jsonb text: encoded once, for the size check and the row
    server_meta: str | None
    repository_url: str | None
    repository_id: str | None
    repository_subfolder: str | None
    repository_type: str | None
    packages: tuple[PackageRow, ...]
    remotes: tuple[RemoteRow, ...]
    icons: tuple[IconRow, ...]

    def field_groups(self) -> dict[str, Any]:
        """The fields a plan names when they change, as the database returns them (only for the
        versions whose file changed: the jsonb values are decoded here)."""
        return {
            "title": self.title,
            "description": self.description,
            "website": self.website,
            "repository": [
                self.repository_url,
                self.repository_id,
                self.repository_subfolder,
                self.repository_type,
            ],
            "meta": _decoded(self.server_meta),
            "packages": [p.values() for p in self.packages],
            "remotes": [r.values() for r in self.remotes],
            "icons": [i._asdict() for i in self.icons],
        }


class VersionSpec:
    """One name@version from one entry file. Rows are derived only for versions whose digest changed.

    A plain class with hand-made caches: functools.cached_property takes a lock per access on Python
    3.11, which shows at 10,000 entries per plan."""

    __slots__ = (
        "_digest",
        "_rows",
        "file_digest",
        "full_arguments",
        "max_meta_size",
        "name",
        "path",
        "server",
        "version",
    )

    def __init__(
        self,
        name: str,
        version: str,
        path: str,
        server: Mapping[str, Any],
        max_meta_size: int = DEFAULT_MAX_META_SIZE,
        file_digest: str | None = None,
        full_arguments: bool = True,
    ) -> None:
        self.name, self.version, self.path, self.server = name, version, path, server
        self.max_meta_size = max_meta_size
        self.full_arguments = full_arguments
        # digest of the file the entry came from (the pipeline computes it anyway) + document index
        self.file_digest = file_digest
        # A file digest costs nothing; it also changes when only the claims or formatting change, and
        # the planner then compares rows and finds nothing to write.
        # The argument format is part of the digest: rows written for schema 21 are rewritten once the
        # database is at 23, so that they regain the arguments' full metadata.
        self._digest: str | None = f"{self._format}file:{file_digest}" if file_digest else None
        self._rows: VersionRows | None = None

    @property
    def _format(self) -> str:
        return "args:" if self.full_arguments else ""

    @property
    def digest(self) -> str:
        if self._digest is None:
            self._digest = self._format + content_digest(self.server)
        return self._digest

    @property
    def rows(self) -> VersionRows:
        if self._rows is None:
            self._rows = version_rows(self.path, self.server, self.max_meta_size, self.full_arguments)
        return self._rows


@dataclass
class EntrySpec:
    name: str
    claims: dict[str, Any] | None
    claims_path: str
    versions: dict[str, VersionSpec] = field(default_factory=dict)
    _claims_digest: str | None = field(default=None, repr=False)
    _digest: str | None = field(default=None, repr=False)

    @property
    def claims_digest(self) -> str:
        # computed on first use: only entries whose digest changed need it
        if self._claims_digest is None:
            self._claims_digest = claims_digest(self.claims)
        return self._claims_digest

    @property
    def digest(self) -> str:
        """Everything the entry writes, from what is known without encoding any of it: each version's
        digest, which is its file's content digest when the pipeline read it from a file (the claims
        are in the same file), and the claims digest only when a version has no file digest. An entry
        of one version from a file (most entries) is that version's digest as it is."""
        if self._digest is None:
            specs = self.versions
            if len(specs) == 1:
                (spec,) = specs.values()
                self._digest = spec.digest if spec.file_digest is not None else None
            if self._digest is None:
                parts = [f"{version}\1{specs[version].digest}" for version in sorted(specs)]
                if any(spec.file_digest is None for spec in specs.values()):
                    parts.append(self.claims_digest)
                self._digest = hashlib.blake2b("\0".join(parts).encode(), digest_size=16).hexdigest()
        return self._digest


@dataclass
class DesiredState:
    sources: dict[str, SourceRow]
    registries: dict[str, RegistryRow]
    managed_source: str | None
    entries: dict[str, EntrySpec]
    # the targeted release: which schema version to expect, how to store package arguments
    server: ServerCapabilities = field(default_factory=lambda: ServerCapabilities.of(NEWEST_VERSION))
    _digest: str | None = field(default=None, repr=False)

    @cached_property
    def config_digest(self) -> str:
        return digest(
            {
                "sources": {n: s.fields() for n, s in sorted(self.sources.items())},
                "registries": {n: r.fields() for n, r in sorted(self.registries.items())},
            }
        )

    def digest(self) -> str:
        """One digest over everything this state writes (computed once)."""
        if self._digest is None:
            self._digest = self._compute_digest()
        return self._digest

    def _compute_digest(self) -> str:
        h = hashlib.blake2b(digest_size=16)
        h.update(self.config_digest.encode())
        entries = self.entries
        h.update("".join(f"{name}\0{entries[name].digest}\0" for name in sorted(entries)).encode())
        return h.hexdigest()

    def version_count(self) -> int:
        return sum(len(e.versions) for e in self.entries.values())


# --- registry config -> source / registry rows -------------------------------------------------------


def config_claims(claims: Any) -> dict[str, Any] | None:
    """Claims of a config source or registry as the registry server writes them at start-up: its config
    loader lower-cases every key, so writing them otherwise would be undone at the next restart."""
    as_written = claims_or_none(claims)
    return as_loaded(as_written) if as_written else None


def source_row(index: int, source: Mapping[str, Any]) -> SourceRow:
    name = source.get("name")
    if not isinstance(name, str) or not name:
        raise DesiredStateError(f"registry config: sources[{index}] has no name")
    types = [t for t in SOURCE_TYPES if t in source]
    if len(types) != 1:
        raise DesiredStateError(
            f"registry config: source {name!r} must have exactly one of {', '.join(SOURCE_TYPES)}"
        )
    source_type = types[0]
    block = source.get(source_type)
    sync_seconds = None
    if source_type in SCHEDULED_TYPES:
        interval = (source.get("syncPolicy") or {}).get("interval")
        if isinstance(interval, str):
            try:
                sync_seconds = go_duration_seconds(interval)
            except ValueError as exc:
                raise DesiredStateError(f"registry config: source {name!r}: {exc}") from None
    filter_config = source.get("filter")
    return SourceRow(
        name=name,
        source_type=source_type,
        source_config=dict(block) if isinstance(block, Mapping) else {},
        filter_config=dict(filter_config) if isinstance(filter_config, Mapping) and filter_config else None,
        sync_seconds=sync_seconds,
        syncable=source_type in SCHEDULED_TYPES,
        claims=config_claims(source.get("claims")),
    )


def config_rows(config: Mapping[str, Any] | None) -> tuple[dict[str, SourceRow], dict[str, RegistryRow]]:
    config = config or {}
    sources: dict[str, SourceRow] = {}
    for index, raw in enumerate(config.get("sources") or []):
        if not isinstance(raw, Mapping):
            raise DesiredStateError(f"registry config: sources[{index}] is not a mapping")
        row = source_row(index, raw)
        if row.name in sources:
            raise DesiredStateError(f"registry config: source {row.name!r} is declared twice")
        sources[row.name] = row
    registries: dict[str, RegistryRow] = {}
    for index, raw in enumerate(config.get("registries") or []):
        if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
            raise DesiredStateError(f"registry config: registries[{index}] has no name")
        names = tuple(str(s) for s in raw.get("sources") or [])
        unknown = [s for s in names if s not in sources]
        if unknown:
            raise DesiredStateError(
                f"registry config: registry {raw['name']!r} references unknown source {unknown[0]!r}"
            )
        if raw["name"] in registries:
            raise DesiredStateError(f"registry config: registry {raw['name']!r} is declared twice")
        registries[raw["name"]] = RegistryRow(raw["name"], config_claims(raw.get("claims")), names)
    return sources, registries


# --- entry files -> version rows ---------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str:
    return str(value) if value else ""


def _argument_names(arguments: Any) -> list[str]:
    # Schema 21 keeps only each argument's `name` (positional arguments have none): lossy by design there.
    return [str(a.get("name") or "") if isinstance(a, dict) else "" for a in _list(arguments)]


def _argument_objects(arguments: Any) -> str | None:
    # Schema 23 (v1.5.1) stores every argument object whole.
    return row_json([a for a in _list(arguments) if isinstance(a, dict)])


_NO_MAP: dict[str, Any] = {}


def version_rows(
    path: str, server: Mapping[str, Any], max_meta_size: int, full_arguments: bool = True
) -> VersionRows:
    """The rows of one server.json, every jsonb value encoded here and nowhere else. Parsed documents
    are dicts and lists (the loaders make them so): the checks below need no Mapping ABC."""
    server_meta = row_json(publisher_meta(server))
    if server_meta is not None:
        size = go_json_size(server_meta)  # as the registry server measures it
        if size > max_meta_size:
            where = f"{path} ({server.get('name')}@{server.get('version')})"
            raise DesiredStateError(
                f"{where}: publisher-provided metadata size {size} bytes exceeds maximum allowed size of "
                f"{max_meta_size} bytes"
            )
    repository = server.get("repository")
    if not isinstance(repository, dict):
        repository = _NO_MAP

    arguments = _argument_objects if full_arguments else _argument_names
    packages: dict[tuple[str, str, str], PackageRow] = {}
    for raw in _list(server.get("packages")):
        if not isinstance(raw, dict):
            continue
        transport = raw.get("transport")
        if not isinstance(transport, dict):
            transport = _NO_MAP
        row = PackageRow(
            _str(raw.get("registryType")),
            _str(raw.get("registryBaseUrl")),
            _str(raw.get("identifier")),
            _str(raw.get("version")),
            _text(raw.get("runtimeHint")),
            arguments(raw.get("runtimeArguments")),
            arguments(raw.get("packageArguments")),
            _text(raw.get("fileSha256")),
            _str(transport.get("type")),
            _text(transport.get("url")),
            row_json(_list(raw.get("environmentVariables"))),
            row_json(_list(transport.get("headers"))),
        )
        key = package_row_key(raw)
        if key in packages:
            where = f"{path} ({server.get('name')}@{server.get('version')})"
            raise DesiredStateError(f"{where}: package {'/'.join(key)} appears twice")
        packages[key] = row

    remotes: dict[tuple[str, str], RemoteRow] = {}
    for raw in _list(server.get("remotes")):
        if not isinstance(raw, dict):
            continue
        remote = RemoteRow(_str(raw.get("type")), _str(raw.get("url")), row_json(_list(raw.get("headers"))))
        key2 = remote_row_key(raw)
        if key2 in remotes:
            where = f"{path} ({server.get('name')}@{server.get('version')})"
            raise DesiredStateError(f"{where}: remote {' '.join(key2)} appears twice")
        remotes[key2] = remote

    icons: dict[IconRow, None] = {}
    for raw in _list(server.get("icons")):
        if not isinstance(raw, dict) or not isinstance(raw.get("src"), str):
            continue
        icons.setdefault(IconRow(*icon_row_key(raw)))

    return VersionRows(
        _text(server.get("title")),
        _text(server.get("description")),
        _text(server.get("websiteUrl")),
        server_meta,
        _text(repository.get("url")),
        _text(repository.get("id")),
        _text(repository.get("subfolder")),
        _text(repository.get("source")),
        tuple(packages.values()),
        tuple(remotes.values()),
        tuple(icons),
    )


EntryItem = tuple[str, Mapping[str, Any]] | tuple[str, Mapping[str, Any], str | None]


def build_desired(
    config: Mapping[str, Any] | None,
    entries: Iterable[EntryItem],
    release: ServerCapabilities | None = None,
    earlier: DesiredState | None = None,
) -> DesiredState:
    """The desired state of one revision: config rows, and every entry file as a publish to the one
    managed source, for the targeted registry server release (default: the newest). Entries are
    (path, {"claims", "server"}) or (path, data, file digest). `earlier`: the desired state of another
    revision (the daemon's last cycle); a version read from a file with the same path and content
    digest is taken from it as it is, with its digest and any rows already derived. Raises
    DesiredStateError listing every problem found."""
    release = release or ServerCapabilities.of(NEWEST_VERSION)
    sources, registries = config_rows(config)
    managed = [s.name for s in sources.values() if s.source_type == "managed"]
    if len(managed) > 1:
        raise DesiredStateError(f"at most one managed source is allowed, found {len(managed)}")
    max_meta = meta_size_limit(config)
    known = _by_file(earlier, release, max_meta) if earlier is not None else {}

    problems: list[str] = []
    specs: dict[str, EntrySpec] = {}
    for item in entries:
        path, data = item[0], item[1]
        file_digest = item[2] if len(item) > 2 else None
        taken = known.get((path, file_digest)) if file_digest is not None else None
        if taken is not None:
            spec, claims = taken
            name, version = spec.name, spec.version
        else:
            server = data.get("server") if _is_map(data) else None
            if server is None or not _is_map(server):
                problems.append(f"{path}: no server")
                continue
            name, version = server.get("name"), server.get("version")
            if not isinstance(name, str) or not isinstance(version, str):
                problems.append(f"{path}: server has no name or version")
                continue
            claims = claims_or_none(data.get("claims"))
            spec = VersionSpec(name, version, path, server, max_meta, file_digest, release.jsonb_arguments)
        entry = specs.get(name)
        if entry is None:
            entry = specs[name] = EntrySpec(name, claims, path)
        elif entry.claims != claims:
            # The registry server rejects a later version whose claims differ (409 claims mismatch).
            problems.append(f"{path}: claims of {name} differ from those in {entry.claims_path}")
            continue
        if version in entry.versions:
            problems.append(f"{path}: {name}@{version} is also defined in {entry.versions[version].path}")
            continue
        entry.versions[version] = spec
    if specs and not managed:
        problems.append("the registry config declares no managed source to publish the entries into")
    if problems:
        raise DesiredStateError("cannot build the registry state:\n  " + "\n  ".join(problems))
    return DesiredState(sources, registries, managed[0] if managed else None, specs, release)


def _by_file(
    earlier: DesiredState, release: ServerCapabilities, max_meta: int
) -> dict[tuple[str, str], tuple[VersionSpec, dict[str, Any] | None]]:
    """(path, file digest) -> the version `earlier` read from there, with its entry's claims; empty
    when its versions derive other rows than they would now (another argument format or metadata
    limit: one build gives every version the same, so the first one tells)."""
    found = {
        (spec.path, spec.file_digest): (spec, entry.claims)
        for entry in earlier.entries.values()
        for spec in entry.versions.values()
        if spec.file_digest is not None
    }
    first = next(iter(found.values()), None)
    if first is not None and (first[0].full_arguments, first[0].max_meta_size) != (
        release.jsonb_arguments,
        max_meta,
    ):
        return {}
    return found
