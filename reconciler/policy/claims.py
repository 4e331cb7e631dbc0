"""Claims semantics of ToolHive Registry Server v1.2.0, implemented once and exposed to CEL.

`covers` is the server's `claimsContain`: for every key of the resource the caller must have the key,
and every value the resource requires must be among the caller's values (AND across keys, AND within
arrays, exact case-sensitive strings). A value that is neither a string nor a list of strings
normalises to the empty set, so a non-string never satisfies a non-empty requirement.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _string_set(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset((value,))
    if isinstance(value, list):
        # A list with any non-string element is not "an array of strings": the server's toStringSet
        # keeps only strings of a []any, so we do the same element by element.
        return frozenset(v for v in value if isinstance(v, str))
    return frozenset()


def covers(caller: Mapping[str, Any] | None, resource: Mapping[str, Any] | None) -> bool:
    """Whether `caller` (JWT claims) contains every claim of `resource`."""
    caller = caller or {}
    for key, required in (resource or {}).items():
        if key not in caller:
            return False
        if not _string_set(required) <= _string_set(caller[key]):
            return False
    return True


def claims_equal(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """The server's `claimsEqual`: containment both ways (`{}` and no claims are the same)."""
    return covers(a, b) and covers(b, a)


def canonical(claims: Mapping[str, Any] | None) -> frozenset[tuple[str, frozenset[str]]]:
    """A hashable form under which two claim sets are equal exactly when `claims_equal` says so."""
    return frozenset((str(key), _string_set(value)) for key, value in (claims or {}).items())


def _matches_rule(token: Mapping[str, Any], rule: Mapping[str, Any]) -> bool:
    # Within one rule map every key must match; for one key, the JWT's values and the rule's values
    # must share at least one string. An empty rule map never matches.
    if not rule:
        return False
    return all(key in token and _string_set(token[key]) & _string_set(want) for key, want in rule.items())


def is_super_admin(token: Mapping[str, Any] | None, config: Mapping[str, Any] | None) -> bool:
    """Whether the verified token holds the superAdmin role under the registry config's auth.

    Without `auth.authz` the server runs in "auth-only mode" and grants every authenticated caller
    all roles, super-admin included; with it, the token must match any `superAdmin` rule map.
    """
    if not token:
        return False
    auth = (config or {}).get("auth") or {}
    authz = auth.get("authz")
    if authz is None:
        return True
    rules = ((authz or {}).get("roles") or {}).get("superAdmin") or []
    return any(isinstance(rule, dict) and _matches_rule(token, rule) for rule in rules)


def claims_value_errors(claims: Any) -> list[str]:
    """Keys whose value is not a string or an array of strings (the server's ValidateClaimValues)."""
    if not isinstance(claims, dict):
        return []
    bad = []
    for key, value in claims.items():
        if isinstance(value, str):
            continue
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            continue
        bad.append(str(key))
    return bad
