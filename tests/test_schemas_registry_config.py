"""The ToolHive Registry Server config (v1.2.0 to v1.5.1): one failing and one passing case per rule."""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_schemas import assert_problem, assert_valid, changed, problems

KIND = "RegistryConfig"

CONFIG: dict[str, Any] = {
    "sources": [
        {"name": "internal", "managed": {}},
        {
            "name": "catalog",
            "git": {"repository": "https://github.com/acme/catalog.git", "branch": "main", "path": "r.json"},
            "syncPolicy": {"interval": "30m"},
        },
    ],
    "registries": [{"name": "default", "sources": ["internal", "catalog"]}],
    "database": {"host": "db", "port": 5432, "user": "registry", "database": "registry"},
    "auth": {"mode": "anonymous"},
}


def source(**fields: Any) -> dict[str, Any]:
    return changed(CONFIG, ("sources", 1), {"name": "catalog", **fields})


SYNC = {"syncPolicy": {"interval": "1h"}}


def test_auth_and_auth_mode_are_required() -> None:
    # config.go@v1.2.0:1232-1235 and 537-561: validated before serve.go applies its oauth default
    assert_valid(KIND, CONFIG)
    assert_problem(KIND, changed(CONFIG, ("auth",)), ("auth",), "required")
    assert_problem(KIND, changed(CONFIG, ("auth",), {}), ("auth", "mode"), "required")


def test_oauth_mode_needs_the_oauth_block_and_a_provider() -> None:
    # config.go@v1.2.0:544-549
    a = ("auth",)
    assert_problem(KIND, changed(CONFIG, a, {"mode": "oauth"}), a, "auth.oauth is required")
    for oauth in ({}, {"providers": []}):
        assert_problem(
            KIND, changed(CONFIG, a, {"mode": "oauth", "oauth": oauth}), a, "at least one provider"
        )
    assert_valid(KIND, changed(CONFIG, a, {"mode": "oauth", "oauth": {"providers": [PROVIDER]}}))


def test_values_are_read_the_way_viper_reads_them() -> None:
    # weakly typed input: quoted numbers and booleans; a `type:` key on a source is ignored
    database = {"host": "db", "port": "5432", "user": "u", "database": "d", "maxMetaSize": "1024"}
    assert_valid(KIND, changed(CONFIG, ("database",), database))
    assert_valid(KIND, changed(CONFIG, ("audit",), {"enabled": "true", "maxDataSize": "0"}))
    assert_valid(KIND, source(type="git", git={"repository": "r"}, **SYNC))
    assert_problem(
        KIND, changed(CONFIG, ("database",), {**database, "port": "54x"}), ("database", "port"), ""
    )


@pytest.mark.parametrize("field", ["sources", "registries", "database"])
def test_top_level_required(field: str) -> None:
    assert_problem(KIND, changed(CONFIG, (field,)), (field,), "required")


def test_sources_and_registries_not_empty() -> None:
    assert_problem(KIND, changed(CONFIG, ("sources",), []), ("sources",), "at least 1")
    assert_problem(KIND, changed(CONFIG, ("registries",), []), ("registries",), "at least 1")


def test_stale_format_key_is_tolerated_and_telemetry_passes_through() -> None:
    assert_valid(
        KIND, changed(changed(CONFIG, ("format",), "toolhive"), ("telemetry",), {"enabled": True, "x": 1})
    )


# ---- sources


@pytest.mark.parametrize("name", ["a", "internal", "team-1-catalog", "a" * 63])
def test_source_names_are_dns_labels(name: str) -> None:
    assert_valid(
        KIND, changed(changed(CONFIG, ("sources", 0, "name"), name), ("registries", 0, "sources", 0), name)
    )


@pytest.mark.parametrize("name", ["Internal", "team_catalog", "-a", "a-", "a" * 64, "a.b", ""])
def test_bad_source_names(name: str) -> None:
    assert_problem(KIND, changed(CONFIG, ("sources", 0, "name"), name), ("sources", 0, "name"), "DNS label")


def test_exactly_one_type_block() -> None:
    assert_problem(
        KIND, source(**SYNC), ("sources", 1), "one of git, api, file, managed or kubernetes must be given"
    )
    assert_problem(
        KIND,
        source(managed={}, kubernetes={}),
        ("sources", 1),
        "only one of git, api, file, managed or kubernetes",
    )
    assert_valid(KIND, source(kubernetes={"namespaces": ["toolhive-system"]}))
    assert_valid(KIND, source(api={"endpoint": "https://registry.modelcontextprotocol.io"}, **SYNC))
    assert_problem(KIND, source(managed=None), ("sources", 1), "write managed: {} for an empty block")
    assert_problem(KIND, source(managed={"x": 1}), ("sources", 1, "managed", "x"), "unknown field")


def test_sync_policy_required_for_git_api_file() -> None:
    for block in (
        {"git": {"repository": "r"}},
        {"api": {"endpoint": "https://x"}},
        {"file": {"path": "/r.json"}},
    ):
        assert_problem(KIND, source(**block), ("sources", 1), "syncPolicy.interval")
        assert_valid(KIND, source(**block, **SYNC))
    # managed and kubernetes sources ignore syncPolicy, an empty one included (config.go@v1.2.0:919-926)
    assert_valid(KIND, source(managed={}, syncPolicy={}))
    assert_valid(KIND, source(kubernetes={}, syncPolicy={}))
    assert_problem(
        KIND, source(git={"repository": "r"}, syncPolicy={}), ("sources", 1), "syncPolicy.interval"
    )


@pytest.mark.parametrize(
    "interval", ["30m", "1h30m", "1.5h", "300ms", "10s", "0", "2h45m30.5s", "1us", "1µs"]
)
def test_go_durations(interval: str) -> None:
    assert_valid(KIND, source(git={"repository": "r"}, syncPolicy={"interval": interval}))


@pytest.mark.parametrize("interval", ["30", "30 minutes", "1d", "m", "", "1h 30m", "PT30M"])
def test_bad_go_durations(interval: str) -> None:
    assert_problem(
        KIND,
        source(git={"repository": "r"}, syncPolicy={"interval": interval}),
        ("sources", 1, "syncPolicy", "interval"),
        "Go duration",
    )


def test_git_block() -> None:
    g = ("sources", 1, "git")
    assert_problem(KIND, source(git={"branch": "main"}, **SYNC), (*g, "repository"), "required")
    assert_problem(
        KIND, source(git={"repository": "r", "branch": "main", "tag": "v1"}, **SYNC), g, "at most one"
    )
    assert_valid(KIND, source(git={"repository": "r", "commit": "abc123"}, **SYNC))


def test_git_auth_both_or_neither_and_absolute_password_file() -> None:
    a = ("sources", 1, "git", "auth")
    good = {"username": "bot", "passwordFile": "/secrets/git/password"}
    assert_valid(KIND, source(git={"repository": "r", "auth": good}, **SYNC))
    assert_problem(
        KIND, source(git={"repository": "r", "auth": {"username": "bot"}}, **SYNC), a, "both or neither"
    )
    assert_problem(
        KIND, source(git={"repository": "r", "auth": {"passwordFile": "/p"}}, **SYNC), a, "both or neither"
    )
    assert_problem(
        KIND,
        source(git={"repository": "r", "auth": {**good, "passwordFile": "secrets/p"}}, **SYNC),
        a,
        "absolute",
    )


def test_file_block_has_one_origin() -> None:
    f = ("sources", 1, "file")
    assert_valid(KIND, source(file={"url": "https://x.example.com/r.json", "timeout": "10s"}, **SYNC))
    assert_valid(KIND, source(file={"path": "/data/r.json"}, **SYNC))
    # config.go@v1.2.0:1067-1077: data is not an origin in a config file, and beside path it is ignored
    assert_problem(KIND, source(file={"data": "{}"}, **SYNC), f, "file.data is not read from a config file")
    assert_valid(KIND, source(file={"path": "/a", "data": "{}"}, **SYNC))
    assert_problem(KIND, source(file={}, **SYNC), f, "exactly one of file.path and file.url")
    assert_problem(KIND, source(file={"path": "/a", "url": "https://x"}, **SYNC), f, "exactly one")
    assert_problem(KIND, source(file={"url": "ftp://x"}, **SYNC), (*f, "url"), "http")


def test_api_endpoint_required() -> None:
    assert_problem(KIND, source(api={}, **SYNC), ("sources", 1, "api", "endpoint"), "required")


def test_filter_and_claims() -> None:
    flt = {"names": {"include": ["io.github.acme/*"], "exclude": ["*-test"]}, "tags": {"exclude": ["beta"]}}
    assert_valid(KIND, source(managed={}, filter=flt, claims={"org": "acme"}))
    assert_problem(
        KIND, source(managed={}, filter={"labels": {}}), ("sources", 1, "filter", "labels"), "unknown"
    )


# ---- registries


def test_registry_rules() -> None:
    assert_problem(
        KIND, changed(CONFIG, ("registries", 0, "sources"), []), ("registries", 0, "sources"), "at least 1"
    )
    assert_problem(
        KIND,
        changed(CONFIG, ("registries", 0, "sources", 1), "missing"),
        ("registries", 0, "sources", 1),
        "not declared",
    )
    twice = changed(CONFIG, ("registries",), [{"name": "a", "sources": ["internal"]}] * 2)
    assert_problem(KIND, twice, ("registries", 1, "name"), "duplicate registry name")
    two = changed(
        CONFIG,
        ("registries",),
        [
            {"name": "a", "sources": ["internal"]},
            {"name": "b", "sources": ["catalog"], "claims": {"org": "acme"}},
        ],
    )
    assert_valid(KIND, two)
    dup_source = changed(CONFIG, ("sources", 1, "name"), "internal")
    assert_problem(KIND, dup_source, ("sources", 1, "name"), "duplicate source name")


# ---- database


@pytest.mark.parametrize("field", ["host", "port", "user", "database"])
def test_database_required_fields(field: str) -> None:
    assert_problem(KIND, changed(CONFIG, ("database", field)), ("database", field), "required")


def test_database_fields() -> None:
    d = ("database",)
    full = {
        **CONFIG["database"],
        "migrationUser": "migrator",
        "sslMode": "verify-full",
        "maxOpenConns": 25,
        "maxIdleConns": 5,
        "connMaxLifetime": "5m",
        "maxMetaSize": 262144,
    }
    assert_valid(KIND, changed(CONFIG, d, full))
    assert_valid(KIND, changed(CONFIG, (*d, "port"), "5432"))  # viper decodes weakly
    assert_problem(KIND, changed(CONFIG, (*d, "port"), "port"), (*d, "port"), "expected an integer")
    assert_problem(KIND, changed(CONFIG, (*d, "port"), 70000), (*d, "port"), "65535 or less")
    assert_problem(KIND, changed(CONFIG, (*d, "sslMode"), "on"), (*d, "sslMode"), "must be one of")
    assert_problem(KIND, changed(CONFIG, (*d, "maxMetaSize"), 0), (*d, "maxMetaSize"), "greater than 0")
    assert_problem(
        KIND, changed(CONFIG, (*d, "connMaxLifetime"), "5 minutes"), (*d, "connMaxLifetime"), "Go duration"
    )
    assert_problem(KIND, changed(CONFIG, (*d, "passwordFile"), "/p"), (*d, "passwordFile"), "unknown field")


def test_database_passwords_are_accepted_for_the_secret_policy_to_report() -> None:
    assert_valid(
        KIND, changed(changed(CONFIG, ("database", "password"), "x"), ("database", "migrationPassword"), "y")
    )


def test_dynamic_auth_excludes_passwords() -> None:
    iam = {"awsRdsIam": {"region": "detect"}}
    with_iam = changed(CONFIG, ("database", "dynamicAuth"), iam)
    assert_valid(KIND, with_iam)
    for field in ("password", "migrationPassword"):
        assert_problem(KIND, changed(with_iam, ("database", field), "x"), ("database",), "mutually exclusive")
    assert_problem(
        KIND,
        changed(CONFIG, ("database", "dynamicAuth"), {"awsRdsIam": {}}),
        ("database", "dynamicAuth", "awsRdsIam", "region"),
        "required",
    )


# ---- auth


PROVIDER = {"name": "sso", "issuerUrl": "https://sso.acme.example.com", "audience": "api://registry"}


def test_auth_full_shape() -> None:
    auth = {
        "mode": "oauth",
        "publicPaths": ["/metrics"],
        "oauth": {
            "resourceUrl": "https://registry.acme.example.com",
            "realm": "mcp-registry",
            "scopesSupported": ["mcp-registry:read"],
            "providers": [
                {
                    **PROVIDER,
                    "jwksUrl": "https://sso.acme.example.com/jwks",
                    "clientId": "registry",
                    "clientSecretFile": "/secrets/client",
                    "caCertPath": "/etc/ca.pem",
                    "authTokenFile": "/var/run/token",
                    "introspectionUrl": "https://sso.acme.example.com/introspect",
                    "allowPrivateIP": False,
                }
            ],
        },
        "authz": {
            "roles": {
                "superAdmin": [{"role": "super-admin"}],
                "manageSources": [{"org": "acme", "role": "admin"}],
                "manageRegistries": [{"org": "acme"}],
                "manageEntries": [{"role": ["writer", "admin"]}],
            }
        },
    }
    assert_valid(KIND, changed(CONFIG, ("auth",), auth))
    assert_valid(KIND, changed(CONFIG, ("auth",), {"mode": "anonymous"}))


def test_auth_rules() -> None:
    a = ("auth",)
    assert_problem(KIND, changed(CONFIG, a, {"mode": "none"}), (*a, "mode"), "'oauth' or 'anonymous'")
    for field in ("name", "issuerUrl", "audience"):
        provider = {k: v for k, v in PROVIDER.items() if k != field}
        config = changed(CONFIG, a, {"mode": "oauth", "oauth": {"providers": [provider]}})
        assert_problem(KIND, config, (*a, "oauth", "providers", 0, field), "required")
    config = changed(
        CONFIG, a, {"mode": "oauth", "oauth": {"providers": [{**PROVIDER, "issuerUrl": "sso.acme"}]}}
    )
    assert_problem(KIND, config, (*a, "oauth", "providers", 0, "issuerUrl"), "http")
    roles = ("authz", "roles")
    assert_problem(
        KIND,
        changed(CONFIG, a, {"mode": "anonymous", "authz": {"roles": {"superAdmin": {"role": "x"}}}}),
        (*a, *roles, "superAdmin"),
        "expected a list",
    )
    assert_problem(
        KIND,
        changed(CONFIG, a, {"mode": "anonymous", "authz": {"roles": {"superAdmins": []}}}),
        (*a, *roles, "superAdmins"),
        "did you mean 'superAdmin'?",
    )


# ---- audit


def test_audit() -> None:
    audit = {
        "enabled": True,
        "logFile": "/var/log/audit.log",
        "eventTypes": ["entry.publish"],
        "excludeEventTypes": ["entry.read"],
        "includeRequestData": True,
        "maxDataSize": 1024 * 1024,
    }
    assert_valid(KIND, changed(CONFIG, ("audit",), audit))
    assert_problem(
        KIND,
        changed(CONFIG, ("audit",), {"maxDataSize": 1024 * 1024 + 1}),
        ("audit", "maxDataSize"),
        "or less",
    )
    # 0 is the server's default (GetMaxDataSize), not an error
    assert_valid(KIND, changed(CONFIG, ("audit",), {"maxDataSize": 0}))
    assert_problem(
        KIND, changed(CONFIG, ("audit",), {"maxDataSize": -1}), ("audit", "maxDataSize"), "0 or more"
    )
    assert_problem(
        KIND, changed(CONFIG, ("audit",), {"enable": True}), ("audit", "enable"), "did you mean 'enabled'?"
    )
    assert problems(KIND, changed(CONFIG, ("audit",), {"enabled": "yes"})) == [
        (("audit", "enabled"), "expected true or false")
    ]
