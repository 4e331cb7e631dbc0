"""Every CEL rule (`x-kubernetes-validations`) of the real MCPServer and VirtualMCPServer CRDs: a manifest
generated from the CRD that breaks just that rule is reported by `validate` as `crd-rule`, with the CRD's
message, at the line of the rule's node (or of its fieldPath). The manifests come from the CRDs
themselves (tests/crd_mutants.py); the expected line comes from PyYAML's own node marks, not from the
position machinery under test."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.crds.catalog import Catalog, Problem, ServedVersion
from reconciler.crds.sources import CrdOptions, load_catalog
from reconciler.documents import parse_field_path
from reconciler.pipeline import validate
from reconciler.source import FolderSource
from tests.crd_mutants import (
    RuleSite,
    first,
    found,
    materialize,
    minimal,
    node_variants,
    rule_sites,
    valid_value,
)
from tests.harness.upstream import TOOLHIVE_CRDS

GROUP = "toolhive.stacklok.dev"
# v1beta1 rule counts: 37 between the two kinds (upstream-checks.md, Table 3).
RULE_COUNTS = {"MCPServer": 9, "VirtualMCPServer": 28}
KINDS = tuple(RULE_COUNTS)


def _catalog(crds: Path) -> Catalog:
    catalog = load_catalog(CrdOptions(locations=(str(crds),)), [], "v0.44.0", FolderSource(crds))
    assert catalog is not None
    return catalog


def _sites(kind: str) -> list[RuleSite]:
    if not TOOLHIVE_CRDS.is_dir():
        return []
    served = _catalog(TOOLHIVE_CRDS).served(GROUP, kind)
    assert served is not None
    return list(rule_sites(served["v1beta1"].schema))


def _schema_at(schema: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        if isinstance(step, int):
            schema = schema["items"]
        elif step in (schema.get("properties") or {}):
            schema = schema["properties"][step]
        else:
            schema = schema["additionalProperties"]
    return schema


def _node(obj: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        obj = obj[step]
    return obj


def _set(obj: Any, path: tuple[str | int, ...], value: Any) -> None:
    _node(obj, path[:-1])[path[-1]] = value


def _under(path: tuple[str | int, ...], prefix: tuple[str | int, ...]) -> bool:
    return path[: len(prefix)] == prefix


def _exists(obj: Any, path: tuple[str | int, ...]) -> bool:
    try:
        _node(obj, path)
    except (KeyError, IndexError, TypeError):
        return False
    return True


def _repair(
    version: ServedVersion,
    obj: dict[str, Any],
    protected: tuple[str | int, ...] | None = None,
    keep: Problem | None = None,
) -> bool:
    """Make every rule outside `protected` pass (all but `keep`, which must stay) by changing the nodes
    whose rules fail: materialising a deep node can break a rule above it (`config.rateLimiting requires
    sessionStorage`), and setting one field can break its parent's rule (`address is required`)."""

    def others(candidate: dict[str, Any]) -> list[Problem] | None:
        problems = version.check(candidate)
        if keep is not None and keep not in problems:
            return None
        return [
            p for p in problems if p != keep and not (protected is not None and _under(p.path, protected))
        ]

    for _ in range(10):
        outside = others(obj)
        if outside is None:
            return False
        if not outside:
            return True
        problem = outside[0]
        path = next(
            n for n in (problem.path[:k] for k in range(len(problem.path), -1, -1)) if _exists(obj, n)
        )
        schema = _schema_at(version.schema, path)

        def better(
            candidate: Any, path: tuple[str | int, ...] = path, before: list[Problem] = outside
        ) -> bool:
            # Progress: the problem goes, and whatever is new lies deeper (fixed in a later round).
            trial = copy.deepcopy(obj)
            _set(trial, path, candidate) if path else trial.update(candidate)
            rest = others(trial)
            deeper = len(before[0].path)
            return (
                rest is not None
                and (protected is None or _exists(trial, protected))
                and before[0] not in rest
                and all(p in before or len(p.path) > deeper for p in rest)
            )

        rules = list(schema.get("x-kubernetes-validations") or ())
        fixed = first(node_variants(schema, _node(obj, path), rules, valid_value), better)
        if not found(fixed):
            return False
        _set(obj, path, fixed)
    return others(obj) == []


def _mutant(version: ServedVersion, site: RuleSite) -> tuple[dict[str, Any], Problem]:
    obj: dict[str, Any] = {
        "apiVersion": version.api_version,
        "kind": version.kind,
        "metadata": {"name": "m", "namespace": "ns"},
        "spec": minimal(version.schema["properties"]["spec"]),
    }
    assert _repair(version, obj), f"no valid {version.kind} from its CRD"
    _, path = materialize(obj, version.schema, site.steps)
    assert _repair(version, obj, path), f"{site.label}: the path to the rule's node cannot be made valid"
    expected_path = (*path, *parse_field_path(str(site.rule.get("fieldPath") or "").lstrip(".")))
    message = site.rule.get("message") or ""
    schema = _schema_at(version.schema, path)
    rules = [site.rule, *[r for r in schema.get("x-kubernetes-validations") or () if r is not site.rule]]
    attempts = 0
    for candidate in node_variants(schema, _node(obj, path), rules, valid_value):
        trial = copy.deepcopy(obj)
        _set(trial, path, candidate)
        target = next(
            (
                p
                for p in version.check(trial)
                if p.rule == "crd-rule" and p.path == expected_path and p.message.startswith(message)
            ),
            None,
        )
        if target is None:
            continue
        # The rule is broken; now make everything else pass without mending it.
        if _repair(version, trial, keep=target):
            return trial, target
        attempts += 1
        if attempts > 25:
            break
    raise AssertionError(f"{site.label}: no manifest found that breaks only this rule")


def _line_of(text: str, path: tuple[str | int, ...]) -> int:
    """1-based line of the node at `path`, from PyYAML's node marks."""
    node = yaml.compose(text)
    for step in path:
        if isinstance(node, yaml.MappingNode):
            matches = [v for k, v in node.value if k.value == step]
            if not matches:
                break
            node = matches[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            node = node.value[step]
        else:
            break
    return node.start_mark.line + 1


@pytest.mark.parametrize("kind", KINDS)
def test_every_rule_of_the_kind_is_generated(kind: str, toolhive_crds: Path) -> None:
    sites = _sites(kind)
    assert len(sites) == RULE_COUNTS[kind]


@pytest.mark.parametrize(
    "kind,index", [(kind, index) for kind, count in RULE_COUNTS.items() for index in range(count)]
)
def test_a_manifest_breaking_one_rule_is_reported_at_its_line(
    kind: str, index: int, toolhive_crds: Path, tmp_path: Path
) -> None:
    site = _sites(kind)[index]
    version = _catalog(toolhive_crds).served(GROUP, kind)["v1beta1"]  # type: ignore[index]
    obj, problem = _mutant(version, site)
    text = yaml.safe_dump(obj, sort_keys=False)
    (tmp_path / "manifests").mkdir()
    (tmp_path / "registry.yaml").write_text("")
    (tmp_path / "manifests" / "m.yaml").write_text(text)
    result = validate(FolderSource(tmp_path), crds=CrdOptions(locations=(str(toolhive_crds),)))
    found_rules = [f for f in result.report.findings if f.rule.startswith("crd-")]
    assert [f.rule for f in found_rules] == ["crd-rule"], (site.label, found_rules)
    (finding,) = found_rules
    assert finding.path == "manifests/m.yaml"
    assert finding.line == _line_of(text, problem.path), (site.label, text)
    assert site.rule["message"] in finding.message
