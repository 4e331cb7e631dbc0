"""What loaded data may be: a plain tree (JSON-like), within bounds. Every parser's output passes
`tree_problem` before it becomes a Document, so no later stage (schemas, CEL, policies, targets) ever
sees a cycle, a shared node, a set, a date or an integer CEL cannot hold."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TypeAlias

PlainValue: TypeAlias = "dict[str, PlainValue] | list[PlainValue] | str | int | float | bool | None"

#: Deepest nesting of mappings and sequences (a Kubernetes pod template nests about 12 deep).
MAX_DEPTH = 100
#: Alias uses in one file (each `*name`).
MAX_ALIASES = 1_000
#: Nodes that alias expansion may add to one file (a "billion laughs" file stops here).
MAX_ALIAS_NODES = 100_000
#: Nodes in one document, aliases expanded (a 1 MB file of `[0,0,...]` holds 500,000).
MAX_NODES = 1_000_000
#: CEL's int is 64-bit: larger integers cannot be evaluated by a policy.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
#: Digits beyond which an integer is refused before conversion (int64 has at most 19).
MAX_INT_DIGITS = 20


def int_problem(value: int) -> str | None:
    if INT_MIN <= value <= INT_MAX:
        return None
    return "integer out of the 64-bit range policies can evaluate"


def tree_problem(data: object, aliases: bool = True) -> str | None:
    """Why `data` is not a plain tree within the limits, or None. Iterative, so a hostile depth cannot
    exhaust the stack here; scalars are checked where they are met, only containers are stacked (this
    runs on every document of a large repository). `aliases=False`: the parser cannot have put one
    node in two places (a YAML text without aliases, JSON), so that is not looked for."""
    problem = _scalar_problem(data)
    if problem is not _CONTAINER:
        return problem
    seen: set[int] = set()
    stack: list[tuple[dict[object, object] | list[object], int]] = [(data, 0)]  # type: ignore[list-item]
    nodes = 1
    while stack:
        container, depth = stack.pop()
        if depth >= MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH} levels"
        if aliases:
            if id(container) in seen:
                return "a mapping or sequence appears twice (a shared or recursive node)"
            seen.add(id(container))
        nodes += len(container)
        if nodes > MAX_NODES:
            return f"more than {MAX_NODES} nodes"
        if type(container) is dict:
            try:
                "".join(container)  # type: ignore[arg-type]  # in C: raises unless every key is a str
            except TypeError:
                return "a mapping key is not a string"
            items: Iterable[object] = container.values()
        else:
            items = container
        for item in items:
            kind = type(item)
            if kind is str or kind is bool or kind is float or item is None:
                continue
            if kind is dict or kind is list:
                stack.append((item, depth + 1))  # type: ignore[arg-type]
            elif kind is not int or not INT_MIN <= item <= INT_MAX:  # type: ignore[operator]
                return _scalar_problem(item)
    return None


def json_within_limits(text: str) -> bool:
    """Whether the tree a JSON text parses to surely nests and counts within the limits, judged from
    the text alone: it cannot nest deeper than its brackets or hold more nodes than characters.
    (False: walk the tree to find out.)"""
    return len(text) < MAX_NODES and text.count("{") + text.count("[") < MAX_DEPTH


_CONTAINER = "container"


def _scalar_problem(value: object) -> str | None:
    """None for an acceptable scalar, `_CONTAINER` for a dict or list, else the problem."""
    kind = type(value)
    if kind is str or kind is bool or kind is float or value is None:
        return None
    if kind is int:
        return int_problem(value)  # type: ignore[arg-type]
    if kind is dict or kind is list:
        return _CONTAINER
    return f"a value of type {kind.__name__} is not plain data"


# Characters an escape can put in a string (`"\0"`, `"\u0000"`, `"\ud800"`) that no later stage can
# keep: PostgreSQL text refuses NUL, and an unpaired surrogate cannot be encoded as UTF-8 (a report,
# a database row, a Kubernetes object).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def string_problem(data: object) -> str | None:
    """Why a string (key or value) of a plain tree cannot be stored, or None. Only a file with a
    backslash can hold such a string (raw control characters are refused before parsing)."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str) and _UNSTORABLE.search(value):
            return "an escape in a string gives NUL or an unpaired surrogate, which cannot be stored"
    return None
