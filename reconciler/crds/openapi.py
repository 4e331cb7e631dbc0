"""Structural-schema validation of one object, the way the API server checks a custom resource against
its CRD's `openAPIV3Schema` (after pruning nulls and defaulting, see `defaults.py`).

One difference on purpose: the API server prunes unknown fields silently; here they are errors, with the
close match, because a GitOps validator must not let a misspelt key vanish. Messages name the field and
what was expected, never the offending value (a misplaced secret must not reach a report).
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

FieldPath = tuple[str | int, ...]
Schema = Mapping[str, Any]

_GO_DURATION = re.compile(r"^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d|w))+$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
}


@dataclass(frozen=True, slots=True)
class SchemaProblem:
    path: FieldPath
    message: str
    at_key: bool = False  # the key itself is wrong (an unknown field), not its value


def type_of(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


@lru_cache(maxsize=512)
def _pattern(text: str) -> re.Pattern[str] | None:
    try:
        return re.compile(text)
    except re.error:
        return None


def _format_ok(fmt: str, value: str) -> bool:
    """The string formats the API server checks that the ToolHive CRDs use; others are not checked."""
    if fmt == "date-time":
        if not _DATE_TIME.match(value):
            return False
        try:
            dt.datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00").replace("t", "T"))
        except ValueError:
            return False
        return True
    if fmt == "duration":
        return bool(_GO_DURATION.match(value))
    if fmt == "uri":
        try:
            parts = urlsplit(value)
        except ValueError:
            return False
        return bool(parts.scheme) or value.startswith("/")
    if fmt == "byte":
        return re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", value) is not None and len(value) % 4 == 0
    return True


def _key_of(item: object, keys: list[str]) -> str:
    return json.dumps([item.get(k) if isinstance(item, dict) else None for k in keys], sort_keys=True)


class _Walker:
    def __init__(self) -> None:
        self.problems: list[SchemaProblem] = []

    def add(self, path: FieldPath, message: str, at_key: bool = False) -> None:
        self.problems.append(SchemaProblem(path, message, at_key))

    def check(self, schema: Schema, value: Any, path: FieldPath) -> None:
        if value is None:
            if not schema.get("nullable"):
                self.add(path, "must not be null")
            return
        expected = schema.get("type")
        if schema.get("x-kubernetes-int-or-string"):
            if type_of(value) not in ("integer", "string"):
                self.add(path, "must be an integer or a string")
                return
        elif expected:
            actual = type_of(value)
            if actual != expected and not (expected == "number" and actual == "integer"):
                self.add(
                    path, f"must be {_TYPE_WORDS.get(expected, expected)}, not {_TYPE_WORDS.get(actual)}"
                )
                return
        if "enum" in schema and value not in schema["enum"]:
            choices = ", ".join(json.dumps(v) for v in schema["enum"])
            self.add(path, f"unsupported value; supported values: {choices}")
        if isinstance(value, str):
            self.check_string(schema, value, path)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            self.check_number(schema, value, path)
        elif isinstance(value, list):
            self.check_array(schema, value, path)
        elif isinstance(value, dict):
            self.check_object(schema, value, path)

    def check_string(self, schema: Schema, value: str, path: FieldPath) -> None:
        length = len(value)
        if "minLength" in schema and length < schema["minLength"]:
            self.add(path, f"must be at least {schema['minLength']} characters long")
        if "maxLength" in schema and length > schema["maxLength"]:
            self.add(path, f"may not be longer than {schema['maxLength']} characters")
        if "pattern" in schema:
            compiled = _pattern(schema["pattern"])
            if compiled is not None and not compiled.search(value):
                self.add(path, f"must match the pattern {schema['pattern']}")
        fmt = schema.get("format")
        if fmt and not _format_ok(fmt, value):
            self.add(path, f"must be in the {fmt} format")

    def check_number(self, schema: Schema, value: float, path: FieldPath) -> None:
        # `format: int32/int64` is not checked: the API server accepts any integer there (the dry-run
        # test shows it), so refusing one would be a false error.
        if "minimum" in schema:
            low = schema["minimum"]
            if value < low or (schema.get("exclusiveMinimum") and value == low):
                relation = "greater than" if schema.get("exclusiveMinimum") else "greater than or equal to"
                self.add(path, f"must be {relation} {low}")
        if "maximum" in schema:
            high = schema["maximum"]
            if value > high or (schema.get("exclusiveMaximum") and value == high):
                relation = "less than" if schema.get("exclusiveMaximum") else "less than or equal to"
                self.add(path, f"must be {relation} {high}")
        if "multipleOf" in schema and value % schema["multipleOf"]:
            self.add(path, f"must be a multiple of {schema['multipleOf']}")

    def check_array(self, schema: Schema, value: list[Any], path: FieldPath) -> None:
        if "minItems" in schema and len(value) < schema["minItems"]:
            self.add(path, f"must have at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            self.add(path, f"must have at most {schema['maxItems']} items")
        items = schema.get("items")
        if isinstance(items, dict):
            for index, item in enumerate(value):
                self.check(items, item, (*path, index))
        list_type = schema.get("x-kubernetes-list-type")
        if list_type == "set":
            seen: set[str] = set()
            for index, item in enumerate(value):
                key = json.dumps(item, sort_keys=True)
                if key in seen:
                    self.add((*path, index), "duplicate value in a set list")
                seen.add(key)
        elif list_type == "map":
            keys = list(schema.get("x-kubernetes-list-map-keys") or [])
            seen_keys: set[str] = set()
            for index, item in enumerate(value):
                key = _key_of(item, keys)
                if key in seen_keys:
                    self.add((*path, index), f"duplicate entry for key ({', '.join(keys)})")
                seen_keys.add(key)

    def check_object(self, schema: Schema, value: dict[str, Any], path: FieldPath) -> None:
        properties: Mapping[str, Schema] = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        embedded = schema.get("x-kubernetes-embedded-resource")
        for name in schema.get("required") or ():
            if name not in value or (value[name] is None and not properties.get(name, {}).get("nullable")):
                self.add((*path, name), "required field is missing")
        count = len(value)
        if "minProperties" in schema and count < schema["minProperties"]:
            self.add(path, f"must have at least {schema['minProperties']} properties")
        if "maxProperties" in schema and count > schema["maxProperties"]:
            self.add(path, f"must have at most {schema['maxProperties']} properties")
        open_ended = schema.get("x-kubernetes-preserve-unknown-fields") or additional is True
        for name, child in value.items():
            sub = properties.get(name)
            if sub is not None:
                self.check(sub, child, (*path, name))
            elif isinstance(additional, dict):
                self.check(additional, child, (*path, name))
            elif embedded and name in ("apiVersion", "kind", "metadata"):
                continue
            elif not open_ended:
                self.add((*path, name), unknown_field_message(name, properties), at_key=True)
        if embedded:
            for name in ("apiVersion", "kind"):
                if not isinstance(value.get(name), str) or not value.get(name):
                    self.add((*path, name), "an embedded resource needs apiVersion and kind")


def unknown_field_message(name: object, known: Iterable[str]) -> str:
    name = str(name)
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown field '{name}'{hint}"


def validate(schema: Schema, value: Any, path: FieldPath = ()) -> list[SchemaProblem]:
    """Every schema problem of `value` (already pruned of nulls and defaulted)."""
    walker = _Walker()
    walker.check(schema, value, path)
    return walker.problems
