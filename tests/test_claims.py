"""Claims matching exactly as ToolHive Registry Server v1.2.0 to v1.5.1 (reference §1.2, §1.3)."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.policy.claims import (
    authz_configured,
    claims_equal,
    claims_value_errors,
    covers,
    has_role,
    is_super_admin,
    visible,
)


@pytest.mark.parametrize(
    ("resource", "caller", "allowed"),
    [
        # the documentation's table
        ({"org": "acme"}, {"org": "acme", "team": "platform"}, True),
        ({"org": "acme", "team": "platform"}, {"org": "acme"}, False),
        ({}, {"org": "acme"}, True),
        ({"org": "acme"}, {"org": "contoso"}, False),
        # string vs array, AND within arrays
        ({"sub": "u1"}, {"sub": ["u1", "u2"]}, True),
        ({"roles": ["a", "b"]}, {"roles": ["a"]}, False),
        ({"roles": ["a", "b"]}, {"roles": ["b", "a", "c"]}, True),
        ({"roles": ["a"]}, {"roles": "a"}, True),
        # empty array: vacuous, but the key must be present
        ({"teams": []}, {"teams": "x"}, True),
        ({"teams": []}, {}, False),
        # exact, case-sensitive
        ({"org": "Acme"}, {"org": "acme"}, False),
        # non-string caller values never satisfy a requirement
        ({"exp": "5"}, {"exp": 5}, False),
        ({"admin": "true"}, {"admin": True}, False),
        ({"org": "acme"}, {"org": {"name": "acme"}}, False),
        (None, None, True),
    ],
)
def test_covers(resource: dict[str, Any], caller: dict[str, Any], allowed: bool) -> None:
    assert covers(caller, resource) is allowed


def test_claims_equal_is_containment_both_ways() -> None:
    assert claims_equal({"a": ["x", "y"]}, {"a": ["y", "x"]})
    assert claims_equal({}, None)
    assert not claims_equal({"a": "x"}, {"a": "x", "b": "y"})


CONFIG = {
    "auth": {"authz": {"roles": {"superAdmin": [{"role": "super-admin"}, {"org": "acme", "team": ["root"]}]}}}
}


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ({"role": "super-admin"}, True),
        ({"role": ["writer", "super-admin"]}, True),
        ({"org": "acme", "team": "root"}, True),
        ({"org": "acme"}, False),  # all keys of a rule map must match
        ({"role": "writer"}, False),
        (None, False),
    ],
)
def test_is_super_admin(token: dict[str, Any] | None, expected: bool) -> None:
    assert is_super_admin(token, CONFIG) is expected


def test_empty_rule_map_never_matches_and_auth_only_mode_grants_all() -> None:
    assert not is_super_admin({"a": "b"}, {"auth": {"authz": {"roles": {"superAdmin": [{}]}}}})
    assert is_super_admin({"sub": "x"}, {"auth": {"mode": "oauth"}})


def test_claim_value_errors() -> None:
    assert claims_value_errors({"a": "x", "b": ["y"], "c": 1, "d": ["z", 2], "e": {"f": "g"}}) == [
        "c",
        "d",
        "e",
    ]


@pytest.mark.parametrize(
    ("resource", "caller", "seen"),
    [
        # v1.5.0 visibility: AND across keys, OR within arrays
        ({"teams": ["platform", "forecasting"]}, {"teams": ["platform"]}, True),
        ({"teams": ["platform", "forecasting"]}, {"teams": "sales"}, False),
        ({"org": "acme", "teams": ["a", "b"]}, {"teams": ["a"]}, False),
        # fails closed: no claims, or a stored value that is not a string or array of strings
        ({}, {"org": "acme"}, False),
        ({"org": 1}, {"org": "1"}, False),
    ],
)
def test_visible(resource: dict[str, Any], caller: dict[str, Any], seen: bool) -> None:
    assert visible(caller, resource) is seen


def test_roles_are_read_the_way_viper_reads_the_config() -> None:
    camel = {"auth": {"authz": {"roles": {"superAdmin": [{"isAdmin": "yes"}]}}}}
    # viper lower-cases the rule key: only a JWT claim `isadmin` matches it
    assert not is_super_admin({"isAdmin": "yes"}, camel)
    assert is_super_admin({"isadmin": "yes"}, camel)
    # `authz: {}` and `roles: {}` are dropped: auth-only mode, every caller holds every role
    for authz in ({}, {"roles": {}}):
        config = {"auth": {"mode": "oauth", "authz": authz}}
        assert not authz_configured(config)
        assert is_super_admin({"sub": "x"}, config)
    assert authz_configured(CONFIG)


def test_has_role() -> None:
    config = {
        "auth": {"authz": {"roles": {"superAdmin": [{"role": "admin"}], "manageEntries": [{"role": "w"}]}}}
    }
    assert has_role({"role": "w"}, config, "manageEntries")
    assert has_role({"role": "admin"}, config, "manageEntries")  # superAdmin holds every role
    assert not has_role({"role": "viewer"}, config, "manageEntries")
    assert not has_role(None, config, "manageEntries")
