"""Field-level differences between two plain documents, with credentials never shown.

Values are compared the way a reviewer reads them: mappings key by key, lists item by item when both
sides have the same length (a changed package version is `packages[0].version`, not the whole list),
else the list as one value. Anything the project's secret detection (`reconciler.policy.functions.
secrets_in`) finds in a value is replaced by `(secret)` before it can reach an output.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

from reconciler.documents import parse_field_path
from reconciler.policy.functions import secrets_in
from reconciler.targets.cluster.diff import ABSENT, FieldChange

FieldPath = tuple[str | int, ...]
SECRET = "(secret)"


def secret_paths(document: Any) -> set[FieldPath]:
    """Where the secret detection finds a credential in a whole document (never the values)."""
    if not isinstance(document, dict | list | str):
        return set()
    return {parse_field_path(place["path"]) for place in secrets_in(document)}


def redact(value: Any, path: FieldPath, secrets: set[FieldPath]) -> Any:
    """The value found at `path` of a document whose credentials are at `secrets`, with each of them
    replaced by `(secret)` (a copy when something is replaced)."""
    if value is ABSENT or not secrets:
        return value
    inside: list[FieldPath] = []
    for secret in secrets:
        if secret[: len(path)] == path:
            inside.append(secret[len(path) :])
        elif path[: len(secret)] == secret:
            return SECRET
    if not inside:
        return value
    if () in inside:
        return SECRET
    value = copy.deepcopy(value)
    for rest in inside:
        node = value
        for step in rest[:-1]:
            node = node[step]
        node[rest[-1]] = SECRET
    return value


def field_changes(
    before: Any, after: Any, sensitive: Callable[[FieldPath], bool] = lambda _: False
) -> list[FieldChange]:
    """Every leaf that differs, keys sorted, credentials redacted (a changed credential is listed,
    its values never). `sensitive` marks paths whose values are never shown at all (a Secret's data)."""
    changes = list(_walk((), before, after))
    if not changes:
        return []
    old_secrets, new_secrets = secret_paths(before), secret_paths(after)
    return [
        FieldChange(
            c.path,
            redact(c.before, c.path, old_secrets),
            redact(c.after, c.path, new_secrets),
            sensitive(c.path),
        )
        for c in changes
    ]


def _walk(path: FieldPath, before: Any, after: Any) -> Iterator[FieldChange]:
    if (isinstance(before, dict) and isinstance(after, dict)) or _one_absent_map(before, after):
        before = {} if before is ABSENT else before
        after = {} if after is ABSENT else after
        for key in sorted(set(before) | set(after), key=str):
            yield from _walk((*path, key), before.get(key, ABSENT), after.get(key, ABSENT))
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            yield from _walk((*path, index), old, new)
    elif before != after or type(before) is not type(after):
        yield FieldChange(path, before, after)


def _one_absent_map(before: Any, after: Any) -> bool:
    """An added or removed mapping: listed leaf by leaf, like a mapping that changed."""
    return (before is ABSENT and isinstance(after, dict)) or (after is ABSENT and isinstance(before, dict))
