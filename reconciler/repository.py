"""Load a configuration repository: settings, the registry config, entries and manifests, each
document parsed, classified and checked against its schema.

Everything that goes wrong here is a finding with a place; only an unreadable repository (a missing
folder, an unknown revision) raises `SourceError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import cast

from pydantic import ValidationError

from reconciler import parallel, schemas
from reconciler.crds.catalog import Catalog
from reconciler.crds.manifests import REPOSITORY_WIDE_RULES, ManifestChecker, transitions
from reconciler.crds.refs import check_references
from reconciler.crds.sources import CrdOptions, load_catalog
from reconciler.documents import Document, format_field_path, parse
from reconciler.findings import Finding, Severity
from reconciler.schemas.legacy import is_legacy
from reconciler.settings import SETTINGS_FILE, RegistryServerSettings, Settings
from reconciler.source import Source, SourceProblem
from reconciler.transfer import documents_in, documents_out, findings_in, findings_out

ENTRY = "RegistryEntry"
CONFIG = "RegistryConfig"
OTHER_KUBERNETES = "Kubernetes"
LEGACY = "LegacyRegistry"


@dataclass
class Repository:
    source: Source
    settings: Settings = field(default_factory=Settings)
    settings_document: Document | None = None
    config: Document | None = None
    entries: list[Document] = field(default_factory=list)
    manifests: list[Document] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    # The CRDs the manifests were checked against; None when no CRD source was given.
    catalog: Catalog | None = None

    @property
    def revision(self) -> str | None:
        return self.source.revision

    def documents(self) -> Iterator[Document]:
        if self.config is not None:
            yield self.config
        yield from self.entries
        yield from self.manifests

    def valid(self, kind: str) -> list[Document]:
        """Documents of `kind` that passed their schema check."""
        pool = self.entries if kind == ENTRY else self.manifests
        return [d for d in pool if d.kind == kind and d.valid]


def entry_key(doc: Document) -> str | None:
    """`name@version` of an entry document, the identity the registry server uses."""
    server = doc.data.get("server") if isinstance(doc.data, dict) else None
    if isinstance(server, dict) and isinstance(server.get("name"), str):
        return f"{server['name']}@{server.get('version')}"
    return None


def manifest_key(doc: Document, default_namespace: str) -> str | None:
    """`Kind/namespace/name` of a manifest document."""
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("metadata"), dict):
        return None
    meta = data["metadata"]
    return f"{data.get('kind')}/{meta.get('namespace') or default_namespace}/{meta.get('name')}"


class _Reuse:
    """The loaded files of another revision, by path: a file with the same bytes at the same path under
    the same settings loads to the same documents and findings, so a pull request's base is parsed
    and checked only where it differs from the head."""

    def __init__(self, other: Repository) -> None:
        self.settings = other.settings
        self.source = other.source
        self.catalog = other.catalog
        self.documents: dict[str, list[Document]] = {}
        for doc in (*other.entries, *other.manifests):
            self.documents.setdefault(doc.path, []).append(doc)
        self.findings: dict[str, list[Finding]] = {}
        for finding in other.findings:
            # Findings about the repository as a whole are worked out again for each revision.
            if finding.path in self.documents and finding.rule not in REPOSITORY_WIDE_RULES:
                self.findings.setdefault(finding.path, []).append(finding)

    def take(self, path: str, source: Source, max_bytes: int) -> tuple[list[Document], list[Finding]] | None:
        """The other revision's documents and findings of `path` when `source` has the same content
        there: compared by blob id when both revisions have one (nothing read), else by digest."""
        docs = self.documents.get(path)
        if not docs:
            return None
        mine, theirs = source.blob_id(path), self.source.blob_id(path)
        if mine is not None and theirs is not None:
            same = mine == theirs
        else:
            try:
                same = docs[0].digest == hashlib.sha256(source.read(path, max_bytes)).hexdigest()
            except SourceProblem:
                same = False
        return (docs, self.findings.get(path, [])) if same else None


# Entry files to read before the work is shared with forked workers: below this, forking costs more
# than it saves.
PARALLEL_FILES = 2_000
# Entry files a process takes at a time: enough to make taking them cheap, few enough that the
# processes finish together.
ENTRY_CHUNK = 100


@dataclass
class _Batch:
    """Entry files loaded by a worker."""

    entries: list[Document]
    findings: list[Finding]
    files: int


def _batch_out(batch: _Batch) -> object:
    return (documents_out(batch.entries), findings_out(batch.findings), batch.files)


def _batch_in(wire: object) -> _Batch:
    documents, findings, files = cast(tuple[object, object, int], wire)
    return _Batch(documents_in(documents), findings_in(findings), files)


class _Loader:
    def __init__(self, source: Source, reuse: Repository | None = None, same_crds: bool = True) -> None:
        self.repo = Repository(source=source)
        self.source = source
        self.max_bytes = self.repo.settings.maxFileBytes
        self.reuse = _Reuse(reuse) if reuse is not None else None
        self.config_missing = False
        self.same_crds = same_crds
        self._same_settings: bool | None = None

    def reused(self, path: str, into: list[Document]) -> bool:
        """Take `path`'s documents and findings from the other revision when its bytes are the same."""
        if self.reuse is None or not self.same_settings():
            return False
        taken = self.reuse.take(path, self.source, self.max_bytes)
        if taken is None:
            return False
        self.repo.files += 1
        into.extend(taken[0])
        self.repo.findings.extend(taken[1])
        return True

    def same_settings(self) -> bool:
        """Whether the other revision was loaded under these settings: compared once, when the first
        file is about to be reused (the settings are final by then), not for every file."""
        if self._same_settings is None:
            self._same_settings = self.reuse is not None and self.reuse.settings == self.repo.settings
        return self._same_settings

    def finding(self, rule: str, path: str, line: int, column: int, message: str) -> None:
        self.repo.findings.append(Finding(rule, Severity.ERROR, path, line, column, message))

    def read(self, path: str) -> list[Document]:
        self.repo.files += 1
        try:
            raw = self.source.read(path, self.max_bytes)
        except SourceProblem as problem:
            self.finding(problem.rule, path, 0, 0, problem.message)
            return []
        result = parse(path, raw)
        self.repo.findings.extend(result.findings)
        return result.documents

    def check(self, doc: Document, kind: str, prefix: tuple[str | int, ...] = ()) -> None:
        doc.kind = kind
        result = schemas.check(kind, doc.data)
        doc.valid = result.model is not None
        for problem in result.problems:
            line, column = doc.locate(prefix + tuple(problem.path), key=problem.at_key)
            where = format_field_path(problem.path)
            message = f"{where}: {problem.message}" if where else problem.message
            self.finding("schema", doc.path, line, column, message)

    def load_settings(self) -> None:
        if not self.source.exists(SETTINGS_FILE):
            return
        docs = self.read(SETTINGS_FILE)
        if not docs:
            return
        doc = docs[0]
        self.repo.settings_document = doc
        try:
            self.repo.settings = Settings.model_validate(doc.data)
        except ValidationError as exc:
            for error in exc.errors():
                path = tuple(error["loc"])
                line, column = doc.locate(path, key=error["type"] == "extra_forbidden")
                self.finding("settings", doc.path, line, column, f"{format_field_path(path)}: {error['msg']}")
        self.max_bytes = self.repo.settings.maxFileBytes

    def load_config(self) -> None:
        settings = self.repo.settings
        path = settings.registryConfig
        if not self.source.exists(path):
            self.config_missing = True  # judged once the entries are known (check_config_present)
            return
        docs = self.read(path)
        if docs:
            self.repo.config = docs[0]
            if is_legacy(docs[0].data):
                self.legacy(docs[0])
            else:
                self.check(docs[0], CONFIG)

    def check_config_present(self) -> None:
        """A missing registry config is an error when the repository has entries, or names the registry
        target; a repository of manifests only has none (the registry target then refuses to plan)."""
        settings = self.repo.settings
        if not self.config_missing:
            return
        if not self.repo.entries and not (settings.targets and "registry" in settings.targets):
            return
        self.finding(
            "settings",
            SETTINGS_FILE if self.source.exists(SETTINGS_FILE) else settings.registryConfig,
            0,
            0,
            f"registry config '{settings.registryConfig}' not found",
        )

    def legacy(self, doc: Document) -> None:
        doc.kind = LEGACY
        line, column = doc.locate(())
        self.repo.findings.append(
            Finding(
                "legacy-format",
                Severity.ERROR,
                doc.path,
                line,
                column,
                "legacy ToolHive registry format (top-level servers/remote_servers/groups); ToolHive "
                "Registry Server v1.2.0 reads the upstream MCP format only: run "
                f"`mcp-gitops convert {doc.path} --out DIR`",
            )
        )

    def walk(self, folders: list[str]) -> Iterator[str]:
        seen: set[str] = set()
        for folder in folders:
            for path in self.source.walk(folder):
                if path not in seen:
                    seen.add(path)
                    yield path

    def load_entries(self) -> Callable[[], None]:
        """Load the entry files. On a large repository read cold, forked workers (reconciler/parallel.py)
        start on them at once while this process goes on with the manifests: the call returned makes
        this process take its share of the entries too, and puts every chunk back in order. It must be
        made before the repository is used."""
        paths = list(self.walk(self.repo.settings.entries))
        jobs = parallel.jobs() if self.reuse is None and len(paths) >= PARALLEL_FILES else 1
        if jobs == 1:
            for path in paths:
                if not self.reused(path, self.repo.entries):
                    self.load_entry_file(path)
            return lambda: None
        shared = parallel.SharedWork(
            len(paths),
            ENTRY_CHUNK,
            lambda chunk: self.entry_batch(paths[chunk.start : chunk.stop]),
            _batch_out,
            _batch_in,
            jobs,
        )

        def join() -> None:
            for batch in shared.finish():
                self.repo.entries += batch.entries
                self.repo.findings += batch.findings
                self.repo.files += batch.files

        return join

    def entry_batch(self, paths: Sequence[str]) -> _Batch:
        """`paths` loaded as entries by a loader of their own (this one is left as it is)."""
        loader = _Loader(self.source)
        loader.repo.settings, loader.max_bytes = self.repo.settings, self.max_bytes
        for path in paths:
            loader.load_entry_file(path)
        return _Batch(loader.repo.entries, loader.repo.findings, loader.repo.files)

    def load_entry_file(self, path: str) -> None:
        for doc in self.read(path):
            data = doc.data
            if is_legacy(data):
                self.legacy(doc)
            elif isinstance(data, dict) and "server" in data:
                self.check(doc, ENTRY)
                self.repo.entries.append(doc)
            else:
                self.unknown(doc, "not a registry entry: expected a publish body {claims, server}")

    def load_manifests(self, crds: CrdOptions) -> None:
        settings = self.repo.settings
        earlier = self.reuse.catalog if self.reuse is not None and self.same_settings() else None
        if self.same_crds and self.reuse is not None and self.same_settings():
            self.repo.catalog = earlier  # the same CRD sources: compiled once per run
            reuse_checks = True
        else:
            self.repo.catalog = load_catalog(
                crds, settings.crds, settings.toolhive.operatorVersion, self.source
            )
            # CRDs loaded again (the daemon's next cycle): the other revision's checks of unchanged
            # files still hold when they were made against the same CRDs.
            reuse_checks = _checked_alike(self.repo.catalog, earlier)
        namespace = settings.namespace
        checker = ManifestChecker(self.repo.catalog)
        for path in self.walk(settings.manifests):
            before = len(self.repo.manifests)
            if reuse_checks and self.reused(path, self.repo.manifests):
                for doc in self.repo.manifests[before:]:
                    checker.register(doc)  # checked in the other revision; counted for this one
                continue
            for doc in self.read(path):
                data = doc.data
                if not (isinstance(data, dict) and "apiVersion" in data and "kind" in data):
                    self.unknown(doc, "not a Kubernetes manifest: expected apiVersion and kind")
                    continue
                known = checker.check(doc)
                doc.kind = known or OTHER_KUBERNETES
                self.repo.manifests.append(doc)
        self.repo.findings += checker.finish()
        self.repo.findings += check_references(
            self.repo.manifests, namespace, checker.toolhive_kinds, self.repo.catalog
        )

    def load_root_files(self) -> None:
        """Legacy registry files are often left at the root; catch them there too."""
        known = {SETTINGS_FILE, self.repo.settings.registryConfig}
        for path in self.source.walk(".", recursive=False):
            if path in known:
                continue
            for doc in self.read(path):
                if is_legacy(doc.data):
                    self.legacy(doc)

    def unknown(self, doc: Document, message: str) -> None:
        line, column = doc.locate(())
        self.repo.findings.append(
            Finding("unknown-document", Severity.WARNING, doc.path, line, column, message)
        )


def _checked_alike(now: Catalog | None, earlier: Catalog | None) -> bool:
    """Whether a manifest checked against `earlier` is checked alike against `now`: no CRDs both times,
    or CRDs of the same known digest."""
    if now is None or earlier is None:
        return now is earlier
    return now.digest is not None and now.digest == earlier.digest


def load_settings(source: Source) -> Settings:
    """Only the settings (defaults when the file is absent or invalid)."""
    loader = _Loader(source)
    loader.load_settings()
    return loader.repo.settings


def load_repository(
    source: Source,
    reuse: Repository | None = None,
    crds: CrdOptions | None = None,
    server_version: str | None = None,
    same_crds: bool = True,
) -> Repository:
    """Load a repository; `reuse` is another revision of it whose unchanged files are taken as they
    were loaded there; `crds` says where the CRDs come from (default: $MCP_GITOPS_CRDS, then the
    settings); `server_version` (the `--registry-server-version` flag) overrides
    `registryServer.version`. `same_crds`: whether `reuse` was checked against the CRDs this load
    would use (one run); when not (the daemon's previous cycle: the cluster's CRDs may have changed
    since), manifests are checked again and only the other files are taken."""
    if reuse is not None:
        # Read only what differs from the other revision (and what cannot be compared without reading).
        other = reuse.source
        checked_again = () if same_crds else tuple(f.strip("/") for f in reuse.settings.manifests)
        source.prefetch(
            p
            for p in source.walk(".")
            if (i := source.blob_id(p)) is None
            or i != other.blob_id(p)
            or any(p == f or p.startswith(f"{f}/") for f in checked_again)
        )
    loader = _Loader(source, reuse, same_crds)
    loader.load_settings()
    if server_version is not None:
        loader.repo.settings = loader.repo.settings.model_copy(
            update={"registryServer": RegistryServerSettings(version=server_version)}
        )
    loader.load_config()
    finish_entries = loader.load_entries()
    # The manifests are loaded while workers may still load entries; their findings are put back
    # after the entries' so that the result is the same however the work was shared.
    before_manifests = len(loader.repo.findings)
    loader.load_manifests(crds if crds is not None else CrdOptions.from_environment())
    manifest_findings = loader.repo.findings[before_manifests:]
    del loader.repo.findings[before_manifests:]
    finish_entries()
    loader.check_config_present()
    loader.repo.findings += manifest_findings
    loader.load_root_files()
    return loader.repo


def transition_findings(repo: Repository, base: Repository) -> list[Finding]:
    """The CRDs' transition rules (`oldSelf`) of `repo`'s manifests, against their objects in `base`."""
    namespace = repo.settings.namespace
    old_objects = {manifest_key(d, namespace): d.data for d in base.manifests if d.valid}
    return transitions(
        repo.catalog, repo.manifests, lambda doc: old_objects.get(manifest_key(doc, namespace))
    )
