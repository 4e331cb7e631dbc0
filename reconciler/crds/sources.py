"""Where a run's CRDs come from, first match wins: `--crds PATH|URL` (repeatable, or $MCP_GITOPS_CRDS),
`crds:` in mcp-gitops.yaml (paths inside the repository, or URLs), then the live cluster
(`--crds-from-cluster`). URLs may hold `{version}`, filled with `toolhive.operatorVersion`.

Downloads are HTTPS only (plain HTTP only to a loopback address), time- and size-limited, parsed with the
project's YAML loading (never executed), checked to be CustomResourceDefinitions, and kept in the user
cache keyed by the resolved URL, so later runs stay offline. What any CRD file parses to is kept there
too, by the digest of its bytes.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reconciler.crds.catalog import CRD_API_VERSION, CRD_KIND, Catalog, MalformedCrd, build_catalog
from reconciler.documents import parse
from reconciler.source import Source, SourceError, SourceProblem

ENV_CRDS = "MCP_GITOPS_CRDS"
ENV_CACHE = "MCP_GITOPS_CACHE_DIR"
DOWNLOAD_TIMEOUT_S = 20.0
MAX_CRD_BYTES = 8 * 1024 * 1024
_CRD_SUFFIXES = (".yaml", ".yml", ".json")


class CrdSourceError(SourceError):
    """A named CRD source cannot be used (unreadable, not CRDs, download failed): exit 2."""


@dataclass(frozen=True)
class CrdOptions:
    """The command line's say on CRDs."""

    locations: tuple[str, ...] = ()
    from_cluster: bool = False
    kubeconfig: str | None = None
    context: str | None = None
    timeout: float = DOWNLOAD_TIMEOUT_S

    @classmethod
    def from_environment(cls) -> CrdOptions:
        value = os.environ.get(ENV_CRDS, "")
        return cls(locations=tuple(location for location in value.split(os.pathsep) if location))


def cache_dir() -> Path:
    explicit = os.environ.get(ENV_CACHE)
    if explicit:
        return Path(explicit) / "crds"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mcp-gitops" / "crds"


def is_url(location: str) -> bool:
    return location.startswith(("https://", "http://"))


# A CRD file takes the loader's safe path (its CEL rules hold `!`, `&&` and `<`): about a third of a
# second for the operator's 14 CRDs, on every run. What a file parses to depends on its bytes alone, so
# the CRDs of a file that passed are kept in the user cache by the digest of those bytes (and of this
# format), and read back with the JSON parser.
_PARSED_FORMAT = b"parsed-crds/1"


def _crds_in(origin: str, raw: bytes, digests: list[str]) -> list[Mapping[str, Any]]:
    """The CRDs of one file's bytes; the digest of those bytes is added to `digests`."""
    digest = hashlib.sha256(_PARSED_FORMAT + raw).hexdigest()
    digests.append(digest)
    cached = cache_dir() / "parsed" / (digest + ".json")
    try:
        kept: list[Mapping[str, Any]] = json.loads(cached.read_bytes())
        return kept
    except (OSError, ValueError):
        pass  # not kept yet (or unreadable): parsed below
    crds = _parse_crds(origin, raw)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(crds))
        partial.replace(cached)
    except OSError:
        pass  # a read-only cache costs the next run the parse, nothing else
    return crds


def _parse_crds(origin: str, raw: bytes) -> list[Mapping[str, Any]]:
    result = parse(origin, raw)
    crds: list[Mapping[str, Any]] = []
    if result.findings:
        first = result.findings[0]
        raise CrdSourceError(f"{origin}: line {first.line}: {first.message}")
    for doc in result.documents:
        data = doc.data
        if data is None:
            continue
        if not (
            isinstance(data, dict)
            and data.get("apiVersion") == CRD_API_VERSION
            and data.get("kind") == CRD_KIND
            and isinstance(data.get("spec"), dict)
            and isinstance(data["spec"].get("group"), str)
            and isinstance(data["spec"].get("names"), dict)
            and isinstance(data["spec"]["names"].get("kind"), str)
            and isinstance(data["spec"].get("versions"), list)
        ):
            raise CrdSourceError(
                f"{origin}: line {doc.line}: not a CustomResourceDefinition ({CRD_API_VERSION}); "
                "--crds and crds: take CRD files only"
            )
        crds.append(data)
    return crds


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def download(url: str, timeout: float, *, loopback_http: bool) -> bytes:
    """`loopback_http`: plain HTTP to a loopback address is allowed — only for a location the operator
    gave; a URL from the repository's settings is HTTPS, so a pull request cannot send requests to
    services listening on the machine that runs the check."""
    parts = urlsplit(url)
    plain_ok = loopback_http and parts.scheme == "http" and _loopback(parts.hostname)
    if parts.scheme != "https" and not plain_ok:
        raise CrdSourceError(f"{url}: CRDs are downloaded over HTTPS only")
    # Imported here: urllib.request brings http.client, ssl and socket, which a run that downloads
    # nothing (every validate with local or cached CRDs) would pay for at start-up.
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"Accept": "application/yaml, text/plain, */*"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body: bytes = response.read(MAX_CRD_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise CrdSourceError(f"{url}: download failed: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise CrdSourceError(f"{url}: download failed: {reason}") from None
    if len(body) > MAX_CRD_BYTES:
        raise CrdSourceError(f"{url}: larger than {MAX_CRD_BYTES} bytes; refusing it")
    return body


def _from_url(
    url: str, timeout: float, digests: list[str], *, loopback_http: bool
) -> list[Mapping[str, Any]]:
    cached = cache_dir() / (hashlib.sha256(url.encode()).hexdigest() + ".yaml")
    if cached.is_file():
        return _crds_in(url, cached.read_bytes(), digests)
    body = download(url, timeout, loopback_http=loopback_http)
    crds = _crds_in(url, body, digests)  # checked before it is cached
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(f".{os.getpid()}.tmp")
    partial.write_bytes(body)
    partial.replace(cached)
    return crds


def _from_path(location: str, digests: list[str]) -> list[Mapping[str, Any]]:
    try:
        return _read_path(location, digests)
    except OSError as exc:  # a folder or file the operator named that this process may not read
        raise CrdSourceError(f"{exc.filename or location}: cannot read: {exc.strerror}") from None


def _read_path(location: str, digests: list[str]) -> list[Mapping[str, Any]]:
    path = Path(location)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in _CRD_SUFFIXES)
        if not files:
            raise CrdSourceError(f"{location}: no .yaml, .yml or .json files")
    elif path.is_file():
        files = [path]
    else:
        raise CrdSourceError(f"{location}: no such file or folder")
    crds: list[Mapping[str, Any]] = []
    for file in files:
        if file.stat().st_size > MAX_CRD_BYTES:
            raise CrdSourceError(f"{file}: larger than {MAX_CRD_BYTES} bytes; refusing it")
        crds += _crds_in(str(file), file.read_bytes(), digests)
    return crds


def _from_repository(source: Source, location: str, digests: list[str]) -> list[Mapping[str, Any]]:
    files = list(source.walk(location))  # a file walks to itself
    if not files:
        raise CrdSourceError(f"crds: {location}: no such file or folder in the repository")
    crds: list[Mapping[str, Any]] = []
    for file in files:
        if not file.endswith(_CRD_SUFFIXES):
            continue
        try:
            raw = source.read(file, MAX_CRD_BYTES)
        except SourceProblem as problem:
            raise CrdSourceError(f"{file}: {problem.message}") from None
        crds += _crds_in(file, raw, digests)
    return crds


class _Cluster:
    """Read-only requests to the cluster the CRDs come from: the CRD list, then objects that
    references name (one connection per request; a run makes few)."""

    def __init__(self, options: CrdOptions) -> None:
        from reconciler.extras import require_extra

        require_extra("cluster", "--crds-from-cluster")
        from reconciler.targets.cluster.credentials import find_cluster, no_cluster_reason

        # $KUBECONFIG is read here, not left to the client library, which reads it once at import.
        kubeconfig = options.kubeconfig or os.environ.get("KUBECONFIG")
        choice = find_cluster(kubeconfig, options.context)
        if choice is None:
            raise CrdSourceError(f"--crds-from-cluster: {no_cluster_reason()}")
        self.choice = choice
        self.timeout = options.timeout
        self.seen: dict[str, bool | None] = {}

    def get(self, path: str) -> Any:
        from reconciler.targets.cluster.credentials import connect

        api = connect(self.choice, pool_size=1)
        try:
            return api.request("GET", path, timeout=self.timeout)
        finally:
            api.close()

    def crds(self) -> list[Mapping[str, Any]]:
        from reconciler.targets import TargetError

        try:
            response = self.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
        except TargetError as exc:
            raise CrdSourceError(f"--crds-from-cluster: {exc}") from None
        if not response.ok:
            raise CrdSourceError(f"--crds-from-cluster: listing CRDs failed: {response.message}")
        items = response.body.get("items", [])
        return [i for i in items if isinstance(i, dict) and isinstance(i.get("spec"), dict)]

    def exists(self, path: str) -> bool | None:
        """Whether the object exists; None when the cluster cannot tell (unreachable, forbidden)."""
        from reconciler.targets import TargetError

        if path not in self.seen:
            try:
                status = self.get(path).status
            except TargetError:
                status = 0
            self.seen[path] = True if status == 200 else (False if status == 404 else None)
        return self.seen[path]


def _resolve(location: str, version: str) -> str:
    return location.replace("{version}", version)


def load_catalog(
    options: CrdOptions, configured: list[str], operator_version: str, source: Source
) -> Catalog | None:
    """The catalog of the first source that is given; None when none is (the caller warns)."""
    if options.locations:
        origin, locations, in_repo = "--crds", [loc for loc in options.locations if loc], False
    elif configured:
        origin, locations, in_repo = "crds: in mcp-gitops.yaml", configured, True
    elif options.from_cluster:
        cluster = _Cluster(options)
        served = cluster.crds()
        catalog = _build("the cluster", served)
        catalog.live = cluster.exists
        specs = json.dumps([crd["spec"] for crd in served], sort_keys=True, separators=(",", ":"))
        catalog.digest = hashlib.sha256(specs.encode()).hexdigest()
        return catalog
    else:
        return None
    crds: list[Mapping[str, Any]] = []
    digests: list[str] = []
    for location in locations:
        resolved = _resolve(location, operator_version)
        if is_url(resolved):
            crds += _from_url(resolved, options.timeout, digests, loopback_http=not in_repo)
        elif in_repo:
            crds += _from_repository(source, resolved, digests)
        else:
            crds += _from_path(resolved, digests)
    catalog = _build(origin, crds)
    catalog.digest = hashlib.sha256(" ".join(digests).encode()).hexdigest()
    return catalog


def _build(origin: str, crds: list[Mapping[str, Any]]) -> Catalog:
    try:
        return build_catalog(origin, crds)
    except MalformedCrd as exc:
        raise CrdSourceError(f"{origin}: {exc}") from None
