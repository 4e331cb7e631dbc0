"""The structural-schema checks the ToolHive CRDs use little or not at all (the dry-run test covers
types, enums, ranges, required fields and unknown keys on the real CRDs): list types, maps,
int-or-string, embedded resources, property counts, exclusive bounds, nullable, formats, and fields
kept by x-kubernetes-preserve-unknown-fields. Then defaulting, as the API server does it."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.crds.defaults import defaulted
from reconciler.crds.openapi import validate

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "set": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
        "ports": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
                "required": ["name"],
            },
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
        },
        "labels": {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 2},
        "target": {"x-kubernetes-int-or-string": True},
        "template": {
            "type": "object",
            "x-kubernetes-embedded-resource": True,
            "x-kubernetes-preserve-unknown-fields": True,
        },
        "ratio": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
        "note": {"type": "string", "nullable": True},
        "when": {"type": "string", "format": "date-time"},
        "free": {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "properties": {"n": {"type": "integer"}},
        },
        "mode": {"type": "string", "default": "fast"},
        "nested": {
            "type": "object",
            "default": {},
            "properties": {"depth": {"type": "integer", "default": 3}},
        },
    },
}


@pytest.mark.parametrize(
    "value,path,message",
    [
        ({"set": ["a", "a"]}, ("set", 1), "duplicate value in a set list"),
        (
            {"ports": [{"name": "a"}, {"name": "a", "port": 2}]},
            ("ports", 1),
            "duplicate entry for key (name)",
        ),
        ({"labels": {"a": 1}}, ("labels", "a"), "must be a string, not an integer"),
        ({"labels": {"a": "1", "b": "2", "c": "3"}}, ("labels",), "must have at most 2 properties"),
        ({"target": True}, ("target",), "must be an integer or a string"),
        (
            {"template": {"kind": "ConfigMap"}},
            ("template", "apiVersion"),
            "an embedded resource needs apiVersion and kind",
        ),
        ({"ratio": 0}, ("ratio",), "must be greater than 0"),
        ({"when": "yesterday"}, ("when",), "must be in the date-time format"),
        ({"free": {"n": "x"}}, ("free", "n"), "must be an integer, not a string"),
        ({"ports": [{"port": 1}]}, ("ports", 0, "name"), "required field is missing"),
    ],
)
def test_problem(value: dict[str, Any], path: tuple[str | int, ...], message: str) -> None:
    problems = validate(SCHEMA, defaulted(SCHEMA, value))
    assert [(p.path, p.message) for p in problems] == [(path, message)]


def test_accepted() -> None:
    value = {
        "set": ["a", "b"],
        "ports": [{"name": "a"}, {"name": "b"}],
        "labels": {"a": "1"},
        "target": "50%",
        "template": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {}},
        "ratio": 0.5,
        "note": None,
        "when": "2026-11-29T17:00:00Z",
        "free": {"anything": {"goes": 1}},
    }
    assert validate(SCHEMA, defaulted(SCHEMA, value)) == []


def test_defaults_fill_missing_and_null_fields_and_nest() -> None:
    assert defaulted(SCHEMA, {"mode": None}) == {"mode": "fast", "nested": {"depth": 3}}
    assert defaulted(SCHEMA, {"mode": "slow", "nested": {}}) == {"mode": "slow", "nested": {"depth": 3}}
    # A null without a default is dropped (pruned), unless the field is nullable.
    assert defaulted(SCHEMA, {"ratio": None, "note": None}) == {
        "note": None,
        "mode": "fast",
        "nested": {"depth": 3},
    }
