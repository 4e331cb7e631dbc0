"""Claims semantics of ToolHive Registry Server v1.2.0 through v1.5.1, implemented once and exposed to CEL.

`covers` is the server's `claimsContain` (every release; new claims on publish and update): for every
key of the resource the caller must have the key,
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


def visible(caller: Mapping[str, Any] | None, resource: Mapping[str, Any] | None) -> bool:
    """The server's `claimsVisible` (v1.5.0, #848): for every key of the resource the caller has the key
    and shares at least one of its values (AND across keys, OR within arrays). It fails closed: a
    resource without claims, or with a value that is not a string or array of strings, is not visible
    (super-admins are let through before this check)."""
    if not resource or claims_value_errors(resource):
        return False
    caller = caller or {}
    for key, required in resource.items():
        if key not in caller:
            return False
        wanted = _string_set(required)
        if wanted and not wanted & _string_set(caller[key]):
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
    # must share at least one string. An empty rule map never matches. The server's config loader
    # (viper) lower-cases every map key, so a rule key is compared in lower case.
    if not rule:
        return False
    return all(
        str(key).lower() in token and _string_set(token[str(key).lower()]) & _string_set(want)
        for key, want in rule.items()
    )


def _roles(config: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The role rules as the server reads them, or None when authorization is off. viper drops empty
    maps, so `authz: {}` and `roles: {}` are no authorization at all ("auth-only mode")."""
    auth = (config or {}).get("auth")
    authz = auth.get("authz") if isinstance(auth, Mapping) else None
    roles = authz.get("roles") if isinstance(authz, Mapping) else None
    return roles if isinstance(roles, Mapping) and roles else None


def authz_configured(config: Mapping[str, Any] | None) -> bool:
    return _roles(config) is not None


def has_role(token: Mapping[str, Any] | None, config: Mapping[str, Any] | None, role: str) -> bool:
    """Whether the verified token holds `role` (superAdmin holds every role). Without authorization
    the server grants every authenticated caller all roles."""
    if not token:
        return False
    roles = _roles(config)
    if roles is None:
        return True
    for name in {role, "superAdmin"}:
        rules = roles.get(name) or []
        if isinstance(rules, list) and any(isinstance(r, dict) and _matches_rule(token, r) for r in rules):
            return True
    return False


def is_super_admin(token: Mapping[str, Any] | None, config: Mapping[str, Any] | None) -> bool:
    """Whether the verified token holds the superAdmin role under the registry config's auth."""
    return has_role(token, config, "superAdmin")


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
