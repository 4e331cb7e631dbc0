"""Turn pydantic's validation errors into our schema problems: a path into the document, a message
that says what was expected (never the offending value: it could be a misplaced secret), and whether
the problem is the key itself (an unknown field) or its value."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from reconciler.schemas import base, server_json

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class SchemaProblem:
    path: Path
    message: str
    at_key: bool = False


# What each constrained-string pattern means, in words; a callable may look at the input to be
# precise, but must not quote it.
_PATTERN_HINTS: dict[str, str | Callable[[str], str]] = {
    server_json.SERVER_NAME_PATTERN: server_json.name_problem,
    server_json.SHA256_PATTERN: "must be 64 lowercase hexadecimal characters (a SHA-256 digest)",
    server_json.ICON_SIZE_PATTERN: "must be WIDTHxHEIGHT (such as 48x48) or 'any'",
    base.HTTP_URL_PATTERN: "must be an http:// or https:// URL without spaces",
    base.HTTPS_URL_PATTERN: "must be an https:// URL without spaces",
    base.GO_DURATION_PATTERN: "must be a Go duration such as 30s, 5m or 1h30m",
    base.DNS_LABEL_PATTERN: (
        "must be a DNS label: lowercase letters, digits and '-', starting and ending with a letter or "
        "digit, at most 63 characters"
    ),
}

_TYPE_MESSAGES = {
    "string_type": "expected a string",
    "int_type": "expected an integer",
    "float_type": "expected a number",
    "bool_type": "expected true or false",
    "list_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "missing": "required field is missing",
    "none_required": "expected no value",
}


def problems_from(exc: ValidationError, model: type[BaseModel], data: Any) -> list[SchemaProblem]:
    return [_problem(error, model, data) for error in exc.errors(include_url=False, include_input=True)]


def _problem(error: ErrorDetails, model: type[BaseModel], data: Any) -> SchemaProblem:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    loc = tuple(error["loc"])
    path = _data_path(loc, data, missing=kind == "missing")
    if kind == "extra_forbidden":
        key = loc[-1]
        return SchemaProblem(path, _unknown_field(str(key), _field_names(model, loc[:-1])), at_key=True)
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        # point at the discriminator itself (`type`), which is what is wrong or missing
        discriminator = str(ctx.get("discriminator", "'type'")).strip("'")
        expected = ctx.get("expected_tags")
        message = f"must be one of {expected}" if expected else "required field is missing"
        return SchemaProblem((*path, discriminator), message)
    return SchemaProblem(path, _message(kind, ctx, error))


def _message(kind: str, ctx: dict[str, Any], error: ErrorDetails) -> str:
    if kind in _TYPE_MESSAGES:
        return _TYPE_MESSAGES[kind]
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}"
    if kind == "string_too_short":
        n = ctx["min_length"]
        return "must not be empty" if n == 1 else f"must be at least {n} characters long"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters long"
    if kind == "too_short":
        return f"must have at least {ctx['min_length']} item(s)"
    if kind == "too_long":
        return f"must have at most {ctx['max_length']} item(s)"
    if kind in _BOUNDS:
        return _BOUNDS[kind].format(**ctx)
    if kind == "string_pattern_mismatch":
        hint = _PATTERN_HINTS.get(ctx["pattern"])
        if hint is None:
            return "does not have the expected form"
        value = error.get("input")
        return hint(value) if callable(hint) and isinstance(value, str) else str(hint)
    # Our own validators (rule_error) write value-free messages; pydantic's other messages describe
    # the expectation without repeating the input.
    return error["msg"]


_BOUNDS = {
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be {ge} or more",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be {le} or less",
}


def _data_path(loc: Path, data: Any, missing: bool) -> Path:
    """pydantic's location, minus the steps that are not in the document: the tags of discriminated
    unions (`remotes.0.sse.url` is `remotes.0.url` in the file) and dict-key markers. A step absent
    from the document is kept only when it is the field a `missing` error names."""
    path: list[str | int] = []
    node = data
    for i, step in enumerate(loc):
        if isinstance(node, dict) and step in node:  # noqa: SIM114 (mypy needs the two narrowings apart)
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
        elif missing and i == len(loc) - 1:
            node = None
        else:
            continue  # a union tag or a dict-key marker: not a place in the document
        path.append(step)
    return tuple(path)


def _unknown_field(key: str, known: list[str]) -> str:
    message = f"unknown field '{key}'"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return f"{message}; did you mean '{close[0]}'?" if close else message


def _field_names(model: type[BaseModel], loc: Path) -> list[str]:
    """The field names (as spelled in documents) of the model at `loc`, following pydantic's
    location through nested models, lists, dicts and tagged unions."""
    current: Any = model
    for step in loc:
        current = _next(_unwrap(current), step)
        if current is None:
            return []
    target = _unwrap(current)
    if isinstance(target, type) and issubclass(target, BaseModel):
        return [field.alias or name for name, field in target.model_fields.items()]
    return []


def _next(current: Any, step: str | int) -> Any:
    if isinstance(current, type) and issubclass(current, BaseModel):
        for name, field in current.model_fields.items():
            if step in (name, field.alias):
                return field.annotation
        return None
    origin = typing.get_origin(current)
    args = typing.get_args(current)
    if origin is list and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    if origin in (typing.Union, types.UnionType):
        for member in args:
            member = _unwrap(member)
            if isinstance(member, type) and issubclass(member, BaseModel) and _has_tag(member, step):
                return member
    return None


def _has_tag(model: type[BaseModel], tag: str | int) -> bool:
    field = model.model_fields.get("type")
    return field is not None and tag in typing.get_args(field.annotation)


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated and Optional wrappers down to the type that has fields or items."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
        return annotation
