"""Manifests generated from a CRD's own schema, for tests: a minimal valid object, and for each CEL rule a
mutant that breaks just that rule. Nothing is hand-listed, so a new rule in a new CRD release is covered
without editing the tests.

The search is blind to what a rule means: it reads the `self.a.b` paths a rule mentions and tries, at the
rule's node, the combinations of those fields absent or set to a few values their schema allows (each enum
value, true/false, an empty or one-item list...), keeping the first whose only problem is that rule.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.crds.catalog import check_value, rule_tree

Schema = Mapping[str, Any]
Step = tuple[str, str]  # ("prop", name) | ("item", "") | ("map", "")
_SELF_PATH = re.compile(r"\bself((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
_STRING_SAMPLES = ("a", "1s", "https://example.com/x", "1", "abc1")
_FORMAT_SAMPLES = {"date-time": "2026-01-01T00:00:00Z", "duration": "1s", "uri": "https://example.com/x"}


def sample_string(schema: Schema) -> str:
    if schema.get("enum"):
        return str(schema["enum"][0])
    if schema.get("format") in _FORMAT_SAMPLES:
        return _FORMAT_SAMPLES[schema["format"]]
    pattern = schema.get("pattern")
    for sample in _STRING_SAMPLES:
        if pattern and not re.search(pattern, sample):
            continue
        if len(sample) < schema.get("minLength", 0) or len(sample) > schema.get("maxLength", 1 << 30):
            continue
        return sample
    raise AssertionError(f"no sample string fits {pattern!r}")


def minimal(schema: Schema) -> Any:
    """The smallest value the structural schema accepts (CEL rules not considered)."""
    if schema.get("x-kubernetes-int-or-string"):
        return 1
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        value = {name: minimal(schema["properties"][name]) for name in schema.get("required") or ()}
        if schema.get("x-kubernetes-embedded-resource"):
            value.update({"apiVersion": "v1", "kind": "ConfigMap"})
        return value
    if kind == "array":
        return [minimal(schema["items"]) for _ in range(schema.get("minItems", 0))]
    if kind == "string":
        return sample_string(schema)
    if kind == "integer":
        low = schema.get("minimum", 1)
        return low + 1 if schema.get("exclusiveMinimum") else max(low, 1) if "maximum" not in schema else low
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return False
    return {}


@dataclass(frozen=True)
class RuleSite:
    steps: tuple[Step, ...]
    schema: Schema
    rule: Mapping[str, Any]

    @property
    def label(self) -> str:
        parts = [name if kind == "prop" else ("[]" if kind == "item" else "{}") for kind, name in self.steps]
        return ".".join(parts) + ": " + self.rule["rule"][:60]


def rule_sites(schema: Schema, steps: tuple[Step, ...] = ()) -> Iterator[RuleSite]:
    for rule in schema.get("x-kubernetes-validations") or ():
        yield RuleSite(steps, schema, rule)
    for name, sub in (schema.get("properties") or {}).items():
        yield from rule_sites(sub, (*steps, ("prop", name)))
    if isinstance(schema.get("items"), dict):
        yield from rule_sites(schema["items"], (*steps, ("item", "")))
    if isinstance(schema.get("additionalProperties"), dict):
        yield from rule_sites(schema["additionalProperties"], (*steps, ("map", "")))


def materialize(obj: Any, schema: Schema, steps: tuple[Step, ...]) -> tuple[Any, tuple[str | int, ...]]:
    """Make the node at `steps` exist (minimal values on the way); returns (parent container, path)."""
    node, path, parent, key = obj, (), None, None
    for kind, name in steps:
        if kind == "prop":
            schema = schema["properties"][name]
            if name not in node:
                node[name] = minimal(schema)
            parent, key = node, name
        elif kind == "item":
            schema = schema["items"]
            if not node:
                node.append(minimal(schema))
            parent, key = node, 0
        else:
            schema = schema["additionalProperties"]
            if not node:
                node["k"] = minimal(schema)
            parent, key = node, next(iter(node))
        node = parent[key]
        path = (*path, key)
    return parent, path


def _sub_schema(schema: Schema, names: tuple[str, ...]) -> Schema | None:
    for name in names:
        schema = (schema.get("properties") or {}).get(name)
        if schema is None:
            return None
    return schema


Valid = Callable[[Schema], Any]  # a value of a schema node that passes its own rules too


@dataclass(frozen=True)
class Hints:
    """What a node's rules mention: string literals (tried as values and map keys) and field names
    (tried set on list items and nested objects)."""

    literals: tuple[str, ...] = ()
    fields: frozenset[str] = frozenset()

    @classmethod
    def of(cls, rules: list[Mapping[str, Any]]) -> Hints:
        text = " ".join(r["rule"] for r in rules)
        literals = tuple(dict.fromkeys(m.group(1) for m in re.finditer(r"'([^'\\]*)'", text)))
        return cls(literals, frozenset(re.findall(r"\.([A-Za-z_][A-Za-z0-9_]*)", text)))


def _object_options(schema: Schema, valid: Valid, hints: Hints) -> list[Any]:
    base = valid(schema)
    options = [base]
    for name, sub in (schema.get("properties") or {}).items():
        if name in hints.fields and name not in base:
            options.append({**base, name: valid(sub)})
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        value = valid(additional)
        options += [{key: value} for key in ("a", "bad key", *hints.literals) if key]
    return options


def _leaf_options(schema: Schema, valid: Valid, hints: Hints) -> list[Any]:
    kind = schema.get("type")
    if schema.get("enum"):
        return list(schema["enum"])
    if kind == "boolean":
        return [True, False]
    if kind == "string":
        return [minimal(schema), "", "http://example.com", "*", "1ms", *hints.literals]
    if kind == "integer":
        return [minimal(schema), 0, 2]
    if kind == "array":
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {"type": "string"}
        if items.get("type") == "string":
            return [[], [minimal(items)], ["*"], ["*", "a"], *([lit] for lit in hints.literals)]
        return [[], *([item] for item in _object_options(items, valid, hints))]
    if kind == "object" or "properties" in schema:
        return _object_options(schema, valid, hints)
    return [valid(schema)]


_ABSENT = object()


def _set_path(node: dict[str, Any], schema: Schema, names: tuple[str, ...], value: Any) -> None:
    for name in names[:-1]:
        schema = schema["properties"][name]
        child = node.get(name)
        if not isinstance(child, dict):
            child = node[name] = minimal(schema)
        node = child
    if value is _ABSENT:
        node.pop(names[-1], None)
    else:
        node[names[-1]] = copy.deepcopy(value)


def node_variants(
    schema: Schema, base: Any, rules: list[Mapping[str, Any]], valid: Valid, limit: int = 4000
) -> Iterator[Any]:
    """Values for a rule's node, fewest changes first."""
    yield base
    hints = Hints.of(rules)
    if not isinstance(base, dict):
        yield from _leaf_options(schema, valid, hints)
        return
    paths: list[tuple[str, ...]] = []
    for rule in rules:
        for match in _SELF_PATH.finditer(rule["rule"]):
            names = tuple(match.group(1).strip(".").split("."))
            for end in range(1, len(names) + 1):
                prefix = names[:end]
                if _sub_schema(schema, prefix) is not None and prefix not in paths:
                    paths.append(prefix)
    options = {p: [_ABSENT, *_leaf_options(_sub_schema(schema, p) or {}, valid, hints)] for p in paths}
    produced = 0
    for size in (1, 2, 3):
        for chosen in itertools.combinations(paths, size):
            for values in itertools.product(*(options[p] for p in chosen)):
                candidate = copy.deepcopy(base)
                for names, value in sorted(zip(chosen, values, strict=True), key=lambda pair: len(pair[0])):
                    _set_path(candidate, schema, names, value)
                yield candidate
                produced += 1
                if produced >= limit:
                    return


def first(candidates: Iterator[Any], accept: Callable[[Any], bool]) -> Any:
    for candidate in candidates:
        if accept(candidate):
            return candidate
    return _ABSENT


def found(value: Any) -> bool:
    return value is not _ABSENT


# id(schema) -> (schema, value): the schema is kept so that its id is never reused by another object.
_VALID: dict[int, tuple[Any, Any]] = {}


def valid_value(schema: Any) -> Any:
    """A value of `schema` that passes its structure and every rule at and below it (memoised)."""
    key = id(schema)
    if key not in _VALID:
        _VALID[key] = (schema, minimal(schema))  # guards against recursion through the same node
        rules = rule_tree(schema)
        own_rules = list(schema.get("x-kubernetes-validations") or ())
        value = first(
            node_variants(schema, minimal(schema), own_rules, valid_value),
            lambda candidate: not check_value(schema, rules, candidate),
        )
        _VALID[key] = (schema, value if found(value) else minimal(schema))
    return copy.deepcopy(_VALID[key][1])
