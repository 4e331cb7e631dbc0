"""Server specs: what the measurement needs to know about one MCPServer or VirtualMCPServer.

Plain data, so the measurement runs without a repository (the daemon, tests, a benchmark) and the
repository is only one way to produce specs (`servers_from_manifests`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Protocol

MCP_SERVER = "MCPServer"
VIRTUAL_MCP_SERVER = "VirtualMCPServer"
REMOTE_PROXY = "MCPRemoteProxy"

# Kinds whose sessions use the proxy runner's format; MCPRemoteProxy shares the proxy's default prefix.
PROXY_KINDS = frozenset({MCP_SERVER, REMOTE_PROXY})
VMCP_KINDS = frozenset({VIRTUAL_MCP_SERVER})

PROXY_FORMAT = "proxy"
VMCP_FORMAT = "vmcp"

# ToolHive's defaults when `keyPrefix` is empty (runner.go / vmcp server.go).
DEFAULT_PREFIX = {PROXY_FORMAT: "thv:proxy:session:", VMCP_FORMAT: "thv:vmcp:session:"}
# ToolHive's session TTLs (session.DefaultSessionTTL, vmcp defaultSessionTTL); the CRD cannot change them.
DEFAULT_TTL_SECONDS = {PROXY_FORMAT: 2 * 3600.0, VMCP_FORMAT: 30 * 60.0}


@dataclass(frozen=True)
class SecretRef:
    name: str
    key: str


@dataclass(frozen=True)
class SessionStorage:
    """`spec.sessionStorage` of a server whose provider is redis."""

    address: str
    db: int = 0
    key_prefix: str = ""  # empty: ToolHive's default for the kind
    password_ref: SecretRef | None = None


@dataclass(frozen=True)
class ServerSpec:
    kind: str
    namespace: str
    name: str
    storage: SessionStorage
    path: str = ""  # where the manifest is, for findings
    line: int = 0
    address_line: int = 0  # the line of sessionStorage.address, for a refused destination

    @property
    def session_format(self) -> str:
        return VMCP_FORMAT if self.kind in VMCP_KINDS else PROXY_FORMAT

    @property
    def prefix(self) -> str:
        return self.storage.key_prefix or DEFAULT_PREFIX[self.session_format]

    @property
    def ref(self) -> str:
        """`Kind/namespace/name`, the way the rest of the tool names a manifest."""
        return f"{self.kind}/{self.namespace}/{self.name}"


class ManifestDocument(Protocol):
    """The part of `reconciler.documents.Document` used here."""

    kind: str
    data: Any
    path: str
    line: int


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def spec_from_manifest(
    kind: str, data: Any, default_namespace: str, path: str = "", line: int = 0
) -> ServerSpec | None:
    """The spec of one manifest, or None when it keeps no sessions in Redis (or is not a server)."""
    if kind not in PROXY_KINDS | VMCP_KINDS or not isinstance(data, dict):
        return None
    metadata, spec = _mapping(data.get("metadata")), _mapping(data.get("spec"))
    storage = spec.get("sessionStorage")
    if not isinstance(storage, dict) or storage.get("provider") != "redis":
        return None
    address = storage.get("address")
    name = metadata.get("name")
    if not isinstance(address, str) or not address or not isinstance(name, str):
        return None  # the schema check reports these; nothing to measure
    ref = storage.get("passwordRef")
    password_ref = None
    if isinstance(ref, dict) and isinstance(ref.get("name"), str) and isinstance(ref.get("key"), str):
        password_ref = SecretRef(ref["name"], ref["key"])
    db = storage.get("db", 0)
    prefix = storage.get("keyPrefix") or ""
    return ServerSpec(
        kind=kind,
        namespace=str(metadata.get("namespace") or default_namespace),
        name=name,
        storage=SessionStorage(
            address=address,
            db=db if isinstance(db, int) and not isinstance(db, bool) else 0,
            key_prefix=prefix if isinstance(prefix, str) else "",
            password_ref=password_ref,
        ),
        path=path,
        line=line,
    )


def servers_from_manifests(documents: Iterable[ManifestDocument], default_namespace: str) -> list[ServerSpec]:
    """Specs of every manifest whose `sessionStorage.provider` is redis, in repository order."""
    specs: list[ServerSpec] = []
    for doc in documents:
        data = doc.data
        # Kinds the repository does not model (MCPRemoteProxy) arrive as "Kubernetes"; the data says which.
        kind = data.get("kind") if isinstance(data, dict) else None
        kind = kind if isinstance(kind, str) else doc.kind
        spec = spec_from_manifest(kind, data, default_namespace, doc.path, doc.line)
        if spec is not None:
            locate = getattr(doc, "locate", None)  # positions are resolved only for these few
            if locate is not None:
                spec = replace(spec, address_line=locate(("spec", "sessionStorage", "address"))[0])
            specs.append(spec)
    return specs
