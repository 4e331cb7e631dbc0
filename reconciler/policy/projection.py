"""Bind only the part of a document the policies read.

Binding a document into a CEL context converts every node of it, and that conversion is most of the
cost of evaluating policies over a large repository. The policies of a kind name the paths they read
(`object.spec.replicas`, `object.server.name`), so the engine binds a projection holding just those
subtrees: CEL sees exactly the same values (and the same `has()` answers) on every path it can reach.
A policy that uses `object` as a whole gets the whole document.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# A trie of paths: a key maps to a sub-trie, or to KEEP for "this whole subtree".
KEEP: dict[str, Any] = {}
Trie = dict[str, Any]


def build_trie(paths: Iterable[tuple[str, ...]]) -> Trie:
    trie: Trie = {}
    for path in sorted(paths, key=len):
        node = trie
        for depth, key in enumerate(path):
            child = node.get(key)
            if child is KEEP:
                break  # a shorter path already keeps this whole subtree
            if depth == len(path) - 1:
                node[key] = KEEP
            else:
                node = node.setdefault(key, {})
    return trie


def project(value: Any, trie: Trie) -> Any:
    if trie is KEEP or not isinstance(value, dict):
        return value
    return {key: project(value[key], sub) for key, sub in trie.items() if key in value}
