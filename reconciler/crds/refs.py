"""What the operator resolves at run time, checked within the repository: references between ToolHive
objects (`groupRef`, `oidcConfigRef`, ...), and the Service names the operator derives from object names.

A reference to a kind the repository holds in that namespace must name one of those objects (`ref-unknown`
error); a reference to a kind the repository does not manage there may be satisfied by an object managed
elsewhere, so it is a warning that says so.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from typing import Any

from reconciler.crds.catalog import Catalog
from reconciler.crds.manifests import TOOLHIVE_GROUP
from reconciler.documents import Document, format_field_path
from reconciler.findings import Finding, Severity

FieldPath = tuple[str | int, ...]

# reference field -> the kind it names (same namespace, by `name`)
REFERENCE_KINDS = {
    "groupRef": "MCPGroup",
    "oidcConfigRef": "MCPOIDCConfig",
    "authzConfigRef": "MCPAuthzConfig",
    "telemetryConfigRef": "MCPTelemetryConfig",
    "toolConfigRef": "MCPToolConfig",
    "externalAuthConfigRef": "MCPExternalAuthConfig",
    "webhookConfigRef": "MCPWebhookConfig",
    "embeddingServerRef": "EmbeddingServer",
    "compositeToolRefs": "VirtualMCPCompositeToolDefinition",
    "authServerRef": "MCPExternalAuthConfig",  # its `kind` field may only name this kind
}
# Pod templates hold Kubernetes references (secretKeyRef, configMapRef...), not the operator's.
_SKIP = frozenset({"podTemplateSpec", "resourceOverrides", "status"})
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_HTTP_TRANSPORTS = ("sse", "streamable-http")


def _references(node: Any, path: FieldPath) -> Iterator[tuple[FieldPath, str, str]]:
    """(path of the name, target kind, name) of every operator reference below `node`."""
    if isinstance(node, dict):
        for key, child in node.items():
            if key in _SKIP:
                continue
            target = REFERENCE_KINDS.get(key)
            if target is not None and isinstance(child, dict) and isinstance(child.get("name"), str):
                yield (*path, key, "name"), target, child["name"]
            elif target is not None and isinstance(child, list):
                for index, item in enumerate(child):
                    if isinstance(item, dict) and isinstance(item.get("name"), str):
                        yield (*path, key, index, "name"), target, item["name"]
            else:
                yield from _references(child, (*path, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _references(item, (*path, index))


def _service_names(kind: str, name: str, spec: Any) -> list[str]:
    if kind == "MCPServer":
        names = [f"mcp-{name}-proxy"]
        if isinstance(spec, dict) and spec.get("transport") in _HTTP_TRANSPORTS:
            names.append(f"mcp-{name}-headless")
        return names
    if kind == "VirtualMCPServer":
        return [f"vmcp-{name}"]
    return []


def _finding(rule: str, severity: Severity, doc: Document, path: FieldPath, message: str) -> Finding:
    line, column = doc.locate(path)
    return Finding(rule, severity, doc.path, line, column, f"{format_field_path(path)}: {message}")


def check_references(
    manifests: list[Document],
    default_namespace: str,
    toolhive_kinds: Collection[str],
    catalog: Catalog | None = None,
) -> list[Finding]:
    """`ref-unknown` and `service-name` findings over the ToolHive manifests (valid or not: a wrong
    reference is worth knowing about beside a schema error)."""
    names: dict[tuple[str, str], set[str]] = {}  # (kind, namespace) -> names
    docs: list[tuple[Document, str]] = []
    for doc in manifests:
        meta = doc.data.get("metadata") if isinstance(doc.data, dict) else None
        if (
            doc.kind not in toolhive_kinds
            or not isinstance(meta, dict)
            or not isinstance(meta.get("name"), str)
        ):
            continue
        namespace = meta.get("namespace") or default_namespace
        names.setdefault((doc.kind, namespace), set()).add(meta["name"])
        docs.append((doc, namespace))
    findings: list[Finding] = []
    for doc, namespace in docs:
        name = doc.data["metadata"]["name"]
        services = _service_names(doc.kind, name, doc.data.get("spec"))
        bad = [service for service in services if len(service) > 63 or not _DNS_1035.match(service)]
        if bad:
            findings.append(
                _finding(
                    "service-name",
                    Severity.ERROR,
                    doc,
                    ("metadata", "name"),
                    f"the operator derives the Service name(s) {', '.join(bad)} from it, which must be "
                    "DNS-1035 labels of at most 63 characters (lowercase letters, digits and '-', starting "
                    "with a letter, no dots); the Service cannot be created",
                )
            )
        for path, target, ref_name in _references(doc.data.get("spec"), ("spec",)):
            known = names.get((target, namespace))
            if known is not None and ref_name in known:
                continue
            live = catalog.exists_in_cluster(TOOLHIVE_GROUP, target, namespace, ref_name) if catalog else None
            if live is True:
                continue
            if live is False:
                findings.append(
                    _finding(
                        "ref-unknown",
                        Severity.ERROR,
                        doc,
                        path,
                        f"no {target} named {ref_name} in namespace {namespace}, neither in this repository "
                        "nor in the cluster",
                    )
                )
            elif known is not None:
                findings.append(
                    _finding(
                        "ref-unknown",
                        Severity.ERROR,
                        doc,
                        path,
                        f"no {target} named {ref_name} in namespace {namespace} in this repository, which "
                        f"manages the {target} objects of that namespace",
                    )
                )
            else:
                findings.append(
                    _finding(
                        "ref-unknown",
                        Severity.WARNING,
                        doc,
                        path,
                        f"{target} {ref_name} (namespace {namespace}) is not in this repository; fine if it "
                        f"is managed elsewhere (then waive this finding), otherwise add it: the operator "
                        f"fails the {doc.kind} until it exists",
                    )
                )
    return findings
