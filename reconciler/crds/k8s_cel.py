"""The Kubernetes CEL library, as far as the CRD rules need it, on top of the CEL engine the policies use.

The engine has the CEL standard functions (`has`, `size`, `all`, `exists`, `matches`, `startsWith`,
`duration`, ...). Kubernetes adds libraries (strings, lists, regex, URLs, quantities, IP addresses);
the ones implemented here are registered in every rule's context. A rule that calls anything else is
reported as `crd-rule-unsupported`, never silently passed.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

# The standard functions and macros of the engine (checked against common-expression-language 0.10).
STANDARD = frozenset(
    {
        "has", "size", "all", "exists", "exists_one", "map", "filter", "contains", "startsWith",
        "endsWith", "matches", "duration", "timestamp", "string", "int", "uint", "double", "bytes",
        "type", "dyn", "hasValue", "value", "orValue",
    }
)  # fmt: skip


def _is_sorted(items: list[Any]) -> bool:
    return all(a <= b for a, b in itertools.pairwise(items))


def _index_of(text: str, sub: str, start: int = 0) -> int:
    return text.find(sub, start)


def _last_index_of(text: str, sub: str) -> int:
    return text.rfind(sub)


def _replace(text: str, old: str, new: str, count: int = -1) -> str:
    return text.replace(old, new, count)


def _split(text: str, sep: str, count: int = -1) -> list[str]:
    if count == 0:
        return []
    return text.split(sep, count - 1 if count > 0 else -1)


def _join(items: list[str], sep: str = "") -> str:
    return sep.join(items)


def _find(text: str, pattern: str) -> str:
    found = re.search(pattern, text)
    return found.group(0) if found else ""


def _find_all(text: str, pattern: str, limit: int = -1) -> list[str]:
    found = [m.group(0) for m in re.finditer(pattern, text)]
    return found if limit < 0 else found[:limit]


LIBRARY: dict[str, Callable[..., Any]] = {
    "lowerAscii": lambda s: "".join(c.lower() if c.isascii() else c for c in s),
    "upperAscii": lambda s: "".join(c.upper() if c.isascii() else c for c in s),
    "trim": lambda s: s.strip(),
    "replace": _replace,
    "split": _split,
    "join": _join,
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "isSorted": _is_sorted,
    "sum": lambda items: sum(items),
    "find": _find,
    "findAll": _find_all,
}

SUPPORTED = STANDARD | frozenset(LIBRARY)
_CALL = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|([A-Za-z_][A-Za-z0-9_]*)\s*\(""")


def unsupported_functions(rule: str) -> list[str]:
    """Functions `rule` calls that neither the engine nor this library provides (string literals are
    skipped, so a regular expression's parentheses are not mistaken for calls)."""
    names = {m.group(1) for m in _CALL.finditer(rule) if m.group(1)}
    return sorted(names - SUPPORTED)
