"""Schema checks agree with the kube-apiserver's own server-side dry run on the same CRDs.

Mutants of a valid object (wrong types, values outside an enum or range, too short, not matching a
pattern, a required field removed, unknown keys at several depths) are generated from the real CRDs of
MCPServer, VirtualMCPServer and MCPRemoteProxy. The 1.20 test server has no CEL and refuses `default: ""`
on strings, so both sides use the CRDs with those stripped (tests.harness.kube.for_old_server). Unknown
keys are the one deliberate difference: the server prunes them (checked), `validate` reports them.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler.crds.catalog import ServedVersion, build_catalog
from tests.crd_mutants import minimal, valid_value
from tests.harness.kube import KubeCluster, crd_documents

GROUP = "toolhive.stacklok.dev"
PLURALS = {
    "MCPServer": "mcpservers",
    "VirtualMCPServer": "virtualmcpservers",
    "MCPRemoteProxy": "mcpremoteproxies",
}
MAX_MUTANTS_PER_KIND = 120


@dataclass(frozen=True)
class Mutant:
    what: str
    path: tuple[str | int, ...]
    body: dict[str, Any]
    unknown_key: bool = False


def _version(kind: str, toolhive_crds: Path) -> ServedVersion:
    catalog = build_catalog("test", crd_documents(toolhive_crds))
    served = catalog.served(GROUP, kind)
    assert served is not None
    return served["v1beta1"]


def _rich(version: ServedVersion) -> dict[str, Any]:
    """A valid object with as many optional spec blocks as stay valid together."""
    spec_schema = version.schema["properties"]["spec"]
    body = {"apiVersion": version.api_version, "kind": version.kind, "metadata": {"name": "m"}}
    spec = valid_value(spec_schema)
    for name, sub in spec_schema["properties"].items():
        if name in spec or name == "podTemplateSpec":
            continue
        trial = {**spec, name: valid_value(sub)}
        if not version.check({**body, "spec": trial}):
            spec = trial
    assert not version.check({**body, "spec": spec})
    return {**body, "spec": spec}


def _walk(
    schema: Any, value: Any, path: tuple[str | int, ...]
) -> Iterator[tuple[Any, Any, tuple[str | int, ...]]]:
    yield schema, value, path
    if isinstance(value, dict):
        for name, child in value.items():
            sub = (schema.get("properties") or {}).get(name)
            if sub is None and isinstance(schema.get("additionalProperties"), dict):
                sub = schema["additionalProperties"]
            if sub is not None:
                yield from _walk(sub, child, (*path, name))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from _walk(schema["items"], item, (*path, index))


def _with(
    body: dict[str, Any], path: tuple[str | int, ...], value: Any, delete: bool = False
) -> dict[str, Any]:
    copied = copy.deepcopy(body)
    node = copied
    for step in path[:-1]:
        node = node[step]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return copied


_WRONG_TYPE = {
    "string": 5,
    "integer": "five",
    "boolean": "yes",
    "object": "text",
    "array": {"a": 1},
    "number": "x",
}


def _mutants(version: ServedVersion) -> list[Mutant]:
    body = _rich(version)
    out: list[Mutant] = []
    for schema, value, path in _walk(version.schema["properties"]["spec"], body["spec"], ("spec",)):
        kind = schema.get("type")
        if kind in _WRONG_TYPE and not schema.get("x-kubernetes-int-or-string"):
            out.append(Mutant(f"type {kind}", path, _with(body, path, _WRONG_TYPE[kind])))
        if schema.get("enum"):
            out.append(Mutant("enum", path, _with(body, path, "not-a-choice")))
        if "minimum" in schema:
            out.append(Mutant("minimum", path, _with(body, path, schema["minimum"] - 1)))
        if "maximum" in schema:
            out.append(Mutant("maximum", path, _with(body, path, schema["maximum"] + 1)))
        if schema.get("format") == "int32":  # accepted by the server: not a schema error
            out.append(Mutant("int32", path, _with(body, path, 2**31)))
        if schema.get("minLength"):
            out.append(Mutant("minLength", path, _with(body, path, "")))
        if schema.get("pattern"):
            out.append(Mutant("pattern", path, _with(body, path, "!! not matching")))
        if isinstance(value, dict):
            for name in schema.get("required") or ():
                if name in value:
                    out.append(
                        Mutant("required", (*path, name), _with(body, (*path, name), None, delete=True))
                    )
            if schema.get("properties") and not schema.get("x-kubernetes-preserve-unknown-fields"):
                key = (*path, "bogusField")
                out.append(Mutant("unknown", key, _with(body, key, "x"), unknown_key=True))
        if isinstance(value, list) and not value and isinstance(schema.get("items"), dict):
            item = minimal(schema["items"])
            if isinstance(item, dict) and schema["items"].get("properties"):
                item["bogusField"] = "x"
                out.append(
                    Mutant("unknown", (*path, 0, "bogusField"), _with(body, path, [item]), unknown_key=True)
                )
    return out[:MAX_MUTANTS_PER_KIND]


def _dry_run(
    kube: KubeCluster, namespace: str, kind: str, body: dict[str, Any]
) -> tuple[bool, dict[str, Any]]:
    """Server-side apply with dryRun=All; the body is sent as JSON text exactly as given."""
    body = {**body, "metadata": {"name": f"m-{uuid.uuid4().hex[:8]}", "namespace": namespace}}
    path = f"/apis/{GROUP}/v1beta1/namespaces/{namespace}/{PLURALS[kind]}/{body['metadata']['name']}"
    client = kube.api_client
    serialized = client.param_serialize(
        method="PATCH",
        resource_path=path,
        query_params=[("dryRun", "All"), ("fieldManager", "mcp-gitops-tests")],
        header_params={"Content-Type": "application/apply-patch+yaml", "Accept": "application/json"},
        body=json.dumps(body),
        auth_settings=["BearerToken"],
    )
    try:
        response = client.call_api(*serialized)
        data = response.read()
        status = response.status
    except Exception as exc:  # the client raises ApiException for 4xx
        status = getattr(exc, "status", 0)
        data = getattr(exc, "body", b"") or b"{}"
    parsed = json.loads(data) if data else {}
    # Server-side apply refuses a value of the wrong structure before validation (1.20: a 500 "failed
    # to create typed patch object"); anything else is a harness problem, not an answer.
    refused = status == 422 or (status == 500 and "typed patch" in str(parsed.get("message")))
    assert status in (200, 201) or refused, (status, parsed.get("message"))
    return not refused, parsed


def _get(obj: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        if (isinstance(obj, dict) and step in obj) or (
            isinstance(obj, list) and isinstance(step, int) and step < len(obj)
        ):
            obj = obj[step]
        else:
            return None
    return obj


@pytest.mark.kube
@pytest.mark.parametrize("kind", sorted(PLURALS))
def test_schema_mutants_agree_with_the_api_server(
    kind: str, kube: KubeCluster, kube_namespace: str, toolhive_crds: Path
) -> None:
    version = _version(kind, toolhive_crds)
    base = _rich(version)
    accepted, _ = _dry_run(kube, kube_namespace, kind, base)
    assert accepted, "the generated valid object is refused by the API server"
    mutants = _mutants(version)
    assert len(mutants) >= 20, [m.what for m in mutants]
    kinds_seen = {m.what.split()[0] for m in mutants}
    assert {"type", "required", "unknown"} <= kinds_seen
    disagreements = []
    for mutant in mutants:
        problems = [p for p in version.check(mutant.body) if p.rule == "crd-schema"]
        server_ok, returned = _dry_run(kube, kube_namespace, kind, mutant.body)
        if mutant.unknown_key:
            # Server-side apply refuses the key ("field not declared in schema"), or a plain write would
            # prune it silently; either way validate must name it.
            lost = not server_ok or _get(returned, mutant.path) is None
            if not (lost and any(p.at_key and p.path == mutant.path for p in problems)):
                disagreements.append((mutant.what, mutant.path, problems, server_ok))
        elif server_ok == bool(problems):
            disagreements.append((mutant.what, mutant.path, problems, server_ok))
    assert not disagreements, disagreements
