"""What the CRDs of a run define: kind -> served versions -> schema and compiled CEL rules, and the
check of one object against its version, the API server's order: prune nulls and default, validate the
structural schema, then evaluate the `x-kubernetes-validations` rules."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.crds import openapi
from reconciler.crds.cel_rules import NO_OLD, Rule, Verdict, compile_rule, evaluate
from reconciler.crds.defaults import defaulted
from reconciler.schemas.base import DNS_LABEL_PATTERN, DNS_SUBDOMAIN_PATTERN

FieldPath = tuple[str | int, ...]

CRD_API_VERSION = "apiextensions.k8s.io/v1"
CRD_KIND = "CustomResourceDefinition"

_DNS_SUBDOMAIN = re.compile(DNS_SUBDOMAIN_PATTERN)
_DNS_LABEL = re.compile(DNS_LABEL_PATTERN)
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
# ObjectMeta fields a manifest may carry; the server ignores the read-only ones on apply.
_METADATA_FIELDS = frozenset(
    {
        "name", "generateName", "namespace", "labels", "annotations", "uid", "resourceVersion",
        "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
        "ownerReferences", "finalizers", "managedFields", "selfLink",
    }
)  # fmt: skip


class MalformedCrd(ValueError):
    """A CRD whose schema is not structural; the source that gave it is unusable."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One way an object differs from what the API server accepts."""

    rule: str  # crd-schema, crd-rule, crd-rule-unsupported
    path: FieldPath
    message: str
    at_key: bool = False


@dataclass
class RuleNode:
    """The CEL rules of one schema node and of the nodes below it (only branches that hold rules)."""

    rules: list[Rule] = field(default_factory=list)
    properties: dict[str, RuleNode] = field(default_factory=dict)
    items: RuleNode | None = None
    additional: RuleNode | None = None
    map_keys: tuple[str, ...] = ()  # x-kubernetes-list-map-keys: how old list items correlate


def rule_tree(schema: Mapping[str, Any]) -> RuleNode | None:
    node = RuleNode(rules=[compile_rule(r) for r in schema.get("x-kubernetes-validations") or ()])
    for name, sub in (schema.get("properties") or {}).items():
        child = rule_tree(sub)
        if child is not None:
            node.properties[name] = child
    items = schema.get("items")
    if isinstance(items, dict):
        node.items = rule_tree(items)
        if schema.get("x-kubernetes-list-type") == "map":
            node.map_keys = tuple(schema.get("x-kubernetes-list-map-keys") or ())
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        node.additional = rule_tree(additional)
    if node.rules or node.properties or node.items or node.additional:
        return node
    return None


@dataclass
class ServedVersion:
    group: str
    kind: str
    version: str
    schema: Mapping[str, Any]
    rules: RuleNode | None
    deprecated: bool = False
    warning: str | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def has_transitions(self) -> bool:
        return self.rules is not None and _has_transitions(self.rules)

    def check(self, obj: Mapping[str, Any]) -> list[Problem]:
        """Everything the API server checks on create (transition rules are skipped, as there)."""
        problems = [Problem("crd-schema", p, m, k) for p, m, k in metadata_problems(obj.get("metadata"))]
        return problems + check_value(self.schema, self.rules, _body(obj))

    def check_transitions(self, obj: Mapping[str, Any], old: Mapping[str, Any]) -> list[Problem]:
        """The transition rules only, with `old` as the object before the change (on update)."""
        if self.rules is None:
            return []
        value = defaulted(self.schema, _body(obj))
        broken = {p.path for p in openapi.validate(self.schema, value)}
        problems: list[Problem] = []
        old_value = defaulted(self.schema, _body(old))
        _evaluate_tree(self.rules, value, old_value, (), broken, problems, transitions_only=True)
        return problems


def _body(obj: Mapping[str, Any]) -> dict[str, Any]:
    # metadata is the API server's own (checked apart); status is the operator's, ignored in Git.
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _has_transitions(node: RuleNode) -> bool:
    children = [*node.properties.values(), *(n for n in (node.items, node.additional) if n is not None)]
    return any(rule.transition for rule in node.rules) or any(_has_transitions(c) for c in children)


def check_value(schema: Mapping[str, Any], rules: RuleNode | None, value: Any) -> list[Problem]:
    """Problems of `value` against one schema node and its rules: defaults, structure, then CEL (on
    create: transition rules are skipped)."""
    value = defaulted(schema, value)
    schema_problems = openapi.validate(schema, value)
    problems = [Problem("crd-schema", p.path, p.message, p.at_key) for p in schema_problems]
    if rules is not None:
        broken = {p.path for p in schema_problems}
        _evaluate_tree(rules, value, NO_OLD, (), broken, problems)
    return problems


def _under_problem(path: FieldPath, broken: set[FieldPath]) -> bool:
    return any(path[: len(b)] == b for b in broken) if broken else False


def _has_problem_below(path: FieldPath, broken: set[FieldPath]) -> bool:
    return any(b[: len(path)] == path for b in broken)


def _evaluate_tree(
    node: RuleNode,
    value: Any,
    old: Any,
    path: FieldPath,
    broken: set[FieldPath],
    out: list[Problem],
    transitions_only: bool = False,
) -> None:
    if value is None or _under_problem(path, broken):
        return
    rules = [r for r in node.rules if r.transition] if transitions_only else node.rules
    for rule, outcome in zip(rules, evaluate(rules, value, old), strict=True):
        if outcome.verdict is Verdict.FAILED:
            reason = f" ({rule.reason})" if rule.reason else ""
            out.append(Problem("crd-rule", (*path, *rule.field_path), outcome.message + reason))
        elif outcome.verdict is Verdict.ERROR and not _has_problem_below(path, broken):
            # A rule reading a field the schema check already reported missing or mistyped would only
            # repeat that problem; one problem, one finding.
            out.append(Problem("crd-rule", path, outcome.message))
        elif outcome.verdict is Verdict.UNSUPPORTED:
            out.append(Problem("crd-rule-unsupported", path, f"rule `{rule.text}` {outcome.message}"))
    if isinstance(value, dict):
        old_map = old if isinstance(old, dict) else {}
        for name, child in node.properties.items():
            if name in value:
                _evaluate_tree(
                    child,
                    value[name],
                    old_map.get(name, NO_OLD),
                    (*path, name),
                    broken,
                    out,
                    transitions_only,
                )
        if node.additional is not None:
            for name, child_value in value.items():
                if name not in node.properties:
                    child_old = old_map.get(name, NO_OLD)
                    _evaluate_tree(
                        node.additional, child_value, child_old, (*path, name), broken, out, transitions_only
                    )
    elif isinstance(value, list) and node.items is not None:
        # Old items correlate only through map lists (by their keys), as on the server.
        old_items: dict[tuple[Any, ...], Any] = {}
        if node.map_keys and isinstance(old, list):
            old_items = {_map_key(i, node.map_keys): i for i in old if isinstance(i, dict)}
        for index, item in enumerate(value):
            item_old = old_items.get(_map_key(item, node.map_keys), NO_OLD) if old_items else NO_OLD
            _evaluate_tree(node.items, item, item_old, (*path, index), broken, out, transitions_only)


def _map_key(item: Any, keys: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(repr(item.get(k)) if isinstance(item, dict) else None for k in keys)


def metadata_problems(meta: object) -> list[tuple[FieldPath, str, bool]]:
    """What the API server checks of ObjectMeta for a custom resource applied from Git."""
    if not isinstance(meta, dict):
        return [(("metadata",), "metadata must be a mapping with a name", False)]
    out: list[tuple[FieldPath, str, bool]] = []
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        out.append((("metadata", "name"), "required field is missing", False))
    elif len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        out.append(
            (
                ("metadata", "name"),
                "must be a DNS subdomain name: lowercase letters, digits, '-' and '.', each part "
                "starting and ending with a letter or digit, at most 253 characters",
                False,
            )
        )
    namespace = meta.get("namespace")
    if namespace is not None and (
        not isinstance(namespace, str) or len(namespace) > 63 or not _DNS_LABEL.match(namespace)
    ):
        out.append((("metadata", "namespace"), "must be a DNS label of at most 63 characters", False))
    for block in ("labels", "annotations"):
        values = meta.get(block)
        if values is None:
            continue
        if not isinstance(values, dict):
            out.append((("metadata", block), "must be a mapping of strings", False))
            continue
        for key, text in values.items():
            if not isinstance(text, str):
                out.append((("metadata", block, key), "must be a string", False))
            elif block == "labels" and (len(text) > 63 or not _LABEL_VALUE.match(text)):
                out.append((("metadata", block, key), "must be a valid label value", False))
            prefix, _, local = str(key).rpartition("/")
            if (
                not _QUALIFIED_NAME.match(local)
                or len(local) > 63
                or (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)))
            ):
                out.append((("metadata", block, key), "must be a qualified name ([prefix/]name)", True))
    for key in meta:
        if key not in _METADATA_FIELDS:
            out.append(
                (("metadata", key), openapi.unknown_field_message(key, sorted(_METADATA_FIELDS)), True)
            )
    return out


@dataclass
class Catalog:
    """Every kind the CRDs of this run define; `origin` says where they came from (for messages)."""

    origin: str
    versions: dict[tuple[str, str], dict[str, ServedVersion]] = field(default_factory=dict)
    # (group, kind) -> the REST path segment and version to read objects of the kind with
    resources: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    # When the CRDs came from a cluster: does the object at this API path exist there (None: unknown)?
    live: Callable[[str], bool | None] | None = None
    # What the CRDs were (their files' bytes, or the specs a cluster serves): a later load with the
    # same digest knows its manifests' checks still hold (None: not known, check again).
    digest: str | None = None

    def object_path(self, group: str, kind: str, namespace: str, name: str) -> str | None:
        resource = self.resources.get((group, kind))
        if resource is None:
            return None
        plural, version = resource
        return f"/apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}"

    def exists_in_cluster(self, group: str, kind: str, namespace: str, name: str) -> bool | None:
        path = self.object_path(group, kind, namespace, name)
        return self.live(path) if self.live is not None and path is not None else None

    def add_crd(self, crd: Mapping[str, Any]) -> None:
        spec = crd["spec"]
        group, kind = spec["group"], spec["names"]["kind"]
        served = self.versions.setdefault((group, kind), {})
        plural = spec["names"].get("plural")
        for version in spec.get("versions") or ():
            if not isinstance(version, dict) or not isinstance(version.get("name"), str):
                continue
            if not version.get("served", True):
                continue
            schema = (version.get("schema") or {}).get("openAPIV3Schema") or {}
            problem = malformed(schema)
            if problem:
                raise MalformedCrd(
                    f"CRD {crd.get('metadata', {}).get('name', kind)} {version['name']}: {problem}"
                )
            served[version["name"]] = ServedVersion(
                group=group,
                kind=kind,
                version=version["name"],
                schema=schema,
                rules=rule_tree(schema),
                deprecated=bool(version.get("deprecated")),
                warning=version.get("deprecationWarning"),
            )
            if isinstance(plural, str) and (version.get("storage") or (group, kind) not in self.resources):
                self.resources[(group, kind)] = (plural, version["name"])

    def kinds(self, group: str) -> list[str]:
        return sorted(kind for g, kind in self.versions if g == group)

    def served(self, group: str, kind: str) -> dict[str, ServedVersion] | None:
        return self.versions.get((group, kind))

    def close_kind(self, group: str, kind: str) -> str | None:
        matches = difflib.get_close_matches(kind, self.kinds(group), n=1, cutoff=0.6)
        if not matches:
            lowered = {k.lower(): k for k in self.kinds(group)}
            matches = [lowered[kind.lower()]] if kind.lower() in lowered else []
        return matches[0] if matches else None


def malformed(schema: object, where: str = "openAPIV3Schema") -> str | None:
    """Where a schema is not the shape a structural schema has (a hand-edited CRD file), or None; the
    checks would otherwise stumble over it mid-run."""
    if not isinstance(schema, dict):
        return f"{where} is not a mapping"
    checks: list[tuple[str, type]] = [
        ("properties", dict),
        ("required", list),
        ("enum", list),
        ("x-kubernetes-validations", list),
        ("x-kubernetes-list-map-keys", list),
    ]
    for key, kind in checks:
        if key in schema and not isinstance(schema[key], kind):
            return f"{where}.{key} is not a {'mapping' if kind is dict else 'list'}"
    for index, rule in enumerate(schema.get("x-kubernetes-validations") or ()):
        if not isinstance(rule, dict) or not isinstance(rule.get("rule"), str):
            return f"{where}.x-kubernetes-validations[{index}] has no rule"
    children = [(f"{where}.properties.{k}", v) for k, v in (schema.get("properties") or {}).items()]
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            children.append((f"{where}.{key}", schema[key]))
        elif key in schema and not isinstance(schema[key], bool):
            return f"{where}.{key} is not a schema"
    for child_where, child in children:
        problem = malformed(child, child_where)
        if problem:
            return problem
    return None


def build_catalog(origin: str, crds: Iterable[Mapping[str, Any]]) -> Catalog:
    catalog = Catalog(origin)
    for crd in crds:
        catalog.add_crd(crd)
    return catalog
