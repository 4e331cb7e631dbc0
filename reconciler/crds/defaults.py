"""Before it validates a custom resource, the API server drops `null` values of non-nullable fields and
fills in the schema's defaults (a `null` with a default becomes the default). The same here, on a copy,
so that `required` and the CEL rules see what the server would see."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

Schema = Mapping[str, Any]


def defaulted(schema: Schema, value: Any) -> Any:
    """A copy of `value` with nulls pruned and defaults applied, recursively."""
    if isinstance(value, dict):
        properties: Mapping[str, Schema] = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        result: dict[str, Any] = {}
        for name, child in value.items():
            sub = properties.get(name) or (additional if isinstance(additional, dict) else None)
            if sub is None:
                result[name] = copy.deepcopy(child)
                continue
            if child is None and not sub.get("nullable"):
                if "default" in sub:
                    result[name] = defaulted(sub, copy.deepcopy(sub["default"]))
                continue
            result[name] = defaulted(sub, child)
        for name, sub in properties.items():
            if name not in result and "default" in sub and name not in value:
                result[name] = defaulted(sub, copy.deepcopy(sub["default"]))
        return result
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            return [defaulted(items, item) for item in value]
        return copy.deepcopy(value)
    return value
