"""server.json 2025-12-11 and the publish envelope: one failing and one passing case per rule."""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_schemas import MINIMAL_ENTRY, assert_problem, assert_valid, changed, problems

ENTRY = "RegistryEntry"
SHA = "a" * 64


def server(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    return changed(MINIMAL_ENTRY, ("server", *path), value)


def package(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "registryType": "npm",
        "identifier": "@acme/weather",
        "transport": {"type": "stdio"},
    }
    base.update(fields)
    return server(("packages",), [base])


def remote(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"type": "streamable-http", "url": "https://mcp.acme.example.com/mcp"}
    base.update(fields)
    return server(("remotes",), [base])


# ---- envelope


def test_envelope_requires_server_and_accepts_any_claim_values() -> None:
    assert_problem(ENTRY, {"claims": {"org": "acme"}}, ("server",), "required")
    # value types are the claims-values policy's to report, with the claim's name
    assert_valid(ENTRY, changed(MINIMAL_ENTRY, ("claims",), {"n": 1, "nested": {"a": "b"}, "list": ["x"]}))
    assert_valid(ENTRY, changed(MINIMAL_ENTRY, ("claims",)))
    assert_problem(ENTRY, changed(MINIMAL_ENTRY, ("claims",), ["org"]), ("claims",), "expected a mapping")
    assert_problem(ENTRY, changed(MINIMAL_ENTRY, ("claim",), {}), ("claim",), "did you mean 'claims'?")


# ---- name


@pytest.mark.parametrize(
    "name", ["a/b", "io.github.acme/weather", "com.example-corp/my_server.v2", "A1/b" + "c" * 196]
)
def test_valid_names(name: str) -> None:
    assert_valid(ENTRY, server(("name",), name))


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("weather", "no '/' found"),
        ("io.github/acme/weather", "multiple slashes"),
        ("io github/weather", "namespace (before '/')"),
        ("io.github.acme/wea ther", "name (after '/')"),
        ("io.github.acme./weather", "start and end with a letter or digit"),
        ("-acme/weather", "start and end with a letter or digit"),
        ("acme/weather_", "start and end with a letter or digit"),
        ("acme/.weather", "start and end with a letter or digit"),
    ],
)
def test_invalid_names(name: str, fragment: str) -> None:
    assert_problem(ENTRY, server(("name",), name), ("server", "name"), fragment)


def test_name_length() -> None:
    assert_problem(ENTRY, server(("name",), "a/"), ("server", "name"), "")
    assert_problem(ENTRY, server(("name",), "a/" + "b" * 199), ("server", "name"), "at most 200 characters")


# ---- description, title


def test_description_length() -> None:
    assert_valid(ENTRY, server(("description",), "d" * 100))
    assert_problem(ENTRY, server(("description",), "d" * 101), ("server", "description"), "at most 100")
    assert_problem(ENTRY, server(("description",), ""), ("server", "description"), "must not be empty")


def test_title_length() -> None:
    assert_valid(ENTRY, server(("title",), "t" * 100))
    assert_problem(ENTRY, server(("title",), "t" * 101), ("server", "title"), "at most 100")
    assert_problem(ENTRY, server(("title",), ""), ("server", "title"), "must not be empty")


# ---- version


@pytest.mark.parametrize("version", ["1.0.0", "2.1.0-alpha.1", "2025.01.15", "1.0.0+build.5", "v3", "0.x1"])
def test_specific_versions(version: str) -> None:
    assert_valid(ENTRY, server(("version",), version))


@pytest.mark.parametrize(
    "version", ["^1.2.3", "~1.2.3", ">=1.2.3", "<2", "1.x", "1.X", "1.*", "*", "1 - 2", "1.2 || 1.3"]
)
def test_version_ranges_are_rejected(version: str) -> None:
    assert_problem(ENTRY, server(("version",), version), ("server", "version"), "not a")


def test_version_latest_and_length() -> None:
    assert_problem(ENTRY, server(("version",), "latest"), ("server", "version"), "'latest' is reserved")
    assert_problem(ENTRY, server(("version",), "1" * 256), ("server", "version"), "at most 255")
    assert_valid(ENTRY, server(("version",), "1" * 255))


# ---- urls, $schema, repository


def test_website_and_schema_urls() -> None:
    assert_valid(ENTRY, server(("websiteUrl",), "https://acme.example.com/weather"))
    assert_valid(
        ENTRY,
        server(("$schema",), "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"),
    )
    assert_problem(ENTRY, server(("websiteUrl",), "acme.example.com"), ("server", "websiteUrl"), "http")
    assert_problem(ENTRY, server(("$schema",), "not a url"), ("server", "$schema"), "http")


def test_repository_requires_url_and_source() -> None:
    repo = {"url": "https://github.com/acme/weather", "source": "github", "id": "123456"}
    assert_valid(ENTRY, server(("repository",), repo))
    assert_problem(
        ENTRY, server(("repository",), {"url": repo["url"]}), ("server", "repository", "source"), "required"
    )
    assert_problem(
        ENTRY, server(("repository",), {"source": "github"}), ("server", "repository", "url"), "required"
    )


@pytest.mark.parametrize("subfolder", ["src/server", "packages/weather-mcp", ".github/mcp"])
def test_clean_subfolders(subfolder: str) -> None:
    repo = {"url": "https://github.com/acme/weather", "source": "github", "subfolder": subfolder}
    assert_valid(ENTRY, server(("repository",), repo))


@pytest.mark.parametrize(
    "subfolder", ["", "/abs", "../up", "a/../../b", "a//b", "./a", "a/", "a\\b", "a/./b"]
)
def test_unclean_subfolders(subfolder: str) -> None:
    repo = {"url": "https://github.com/acme/weather", "source": "github", "subfolder": subfolder}
    assert_problem(
        ENTRY, server(("repository",), repo), ("server", "repository", "subfolder"), "clean relative path"
    )


# ---- icons


def test_icons() -> None:
    icon = {
        "src": "https://acme.example.com/i.png",
        "mimeType": "image/png",
        "sizes": ["48x48", "any"],
        "theme": "dark",
    }
    assert_valid(ENTRY, server(("icons",), [icon]))
    for field, value, fragment in [
        ("src", "http://acme.example.com/i.png", "https://"),
        ("src", "https://acme.example.com/" + "i" * 240, "at most 255"),
        ("mimeType", "image/gif", "must be one of"),
        ("sizes", ["48"], "WIDTHxHEIGHT"),
        ("theme", "blue", "must be one of 'light' or 'dark'"),
    ]:
        path = ("server", "icons", 0, field, 0) if field == "sizes" else ("server", "icons", 0, field)
        assert_problem(ENTRY, server(("icons",), [{**icon, field: value}]), path, fragment)
    assert_problem(
        ENTRY, server(("icons",), [{"mimeType": "image/png"}]), ("server", "icons", 0, "src"), "required"
    )


# ---- packages


def test_package_basics() -> None:
    assert_valid(
        ENTRY, package(registryBaseUrl="https://registry.npmjs.org", version="1.0.0", runtimeHint="npx")
    )
    p = ("server", "packages", 0)
    assert_problem(ENTRY, package(registryType=None), (*p, "registryType"), "expected a string")
    assert_problem(ENTRY, package(identifier=""), (*p, "identifier"), "must not be empty")
    assert_problem(ENTRY, package(version="latest"), (*p, "version"), "'latest' is reserved")
    assert_problem(ENTRY, package(version=""), (*p, "version"), "must not be empty")
    assert_problem(ENTRY, package(registryBaseUrl="registry.npmjs.org"), (*p, "registryBaseUrl"), "http")


def test_file_sha256() -> None:
    p = ("server", "packages", 0)
    assert_valid(ENTRY, package(fileSha256=SHA))
    assert_problem(ENTRY, package(fileSha256="A" * 64), (*p, "fileSha256"), "64 lowercase hexadecimal")
    assert_problem(ENTRY, package(fileSha256="a" * 63), (*p, "fileSha256"), "64 lowercase hexadecimal")


def test_mcpb_requires_file_sha256() -> None:
    url = "https://github.com/acme/w/releases/download/v1/w.mcpb"
    assert_problem(
        ENTRY, package(registryType="mcpb", identifier=url), ("server", "packages", 0), "fileSha256"
    )
    assert_valid(ENTRY, package(registryType="mcpb", identifier=url, fileSha256=SHA))


def test_package_transports() -> None:
    t = ("server", "packages", 0, "transport")
    assert_valid(ENTRY, package(transport={"type": "streamable-http", "url": "http://localhost:{port}/mcp"}))
    headers = [{"name": "Authorization", "isSecret": True}]
    assert_valid(
        ENTRY, package(transport={"type": "sse", "url": "https://x.example.com/sse", "headers": headers})
    )
    assert_problem(ENTRY, package(transport={"type": "websocket"}), (*t, "type"), "must be one of 'stdio'")
    assert_problem(ENTRY, package(transport={}), (*t, "type"), "required")
    assert_problem(ENTRY, package(transport={"type": "streamable-http"}), (*t, "url"), "required")
    assert_problem(ENTRY, package(transport={"type": "sse", "url": "ftp://x"}), (*t, "url"), "http")
    assert_problem(
        ENTRY, package(transport={"type": "sse", "url": "http://a b"}), (*t, "url"), "without spaces"
    )
    assert_problem(
        ENTRY, package(transport={"type": "stdio", "url": "http://x"}), (*t, "url"), "unknown field"
    )
    assert_problem(
        ENTRY,
        package(transport={"type": "sse", "url": "https://x", "headers": [{"isSecret": True}]}),
        (*t, "headers", 0, "name"),
        "required",
    )


def test_arguments() -> None:
    a = ("server", "packages", 0, "runtimeArguments", 0)
    good = [
        {"type": "positional", "valueHint": "file_path"},
        {"type": "positional", "value": "--stdio"},
        {"type": "named", "name": "--port", "value": "{port}", "variables": {"port": {"default": "8080"}}},
        {"type": "named", "name": "-v", "isRepeated": True},
    ]
    assert_valid(ENTRY, package(runtimeHint="docker", runtimeArguments=good, packageArguments=good))
    assert_problem(ENTRY, package(runtimeArguments=[{"type": "positional"}]), a, "valueHint or value")
    assert_problem(ENTRY, package(runtimeArguments=[{"type": "named"}]), (*a, "name"), "required")
    assert_problem(
        ENTRY, package(runtimeArguments=[{"type": "flag", "name": "x"}]), (*a, "type"), "'positional'"
    )
    assert_problem(
        ENTRY,
        package(runtimeArguments=[{"type": "named", "name": "-x", "isRepeated": "yes"}]),
        (*a, "isRepeated"),
        "true or false",
    )


def test_environment_variables() -> None:
    e = ("server", "packages", 0, "environmentVariables", 0)
    env = {
        "name": "API_KEY",
        "description": "key",
        "isRequired": True,
        "isSecret": True,
        "format": "string",
        "default": "x",
        "placeholder": "sk-...",
        "choices": ["a", "b"],
    }
    assert_valid(ENTRY, package(environmentVariables=[env]))
    assert_problem(ENTRY, package(environmentVariables=[{"isSecret": True}]), (*e, "name"), "required")
    assert_problem(
        ENTRY, package(environmentVariables=[{**env, "format": "date"}]), (*e, "format"), "must be one of"
    )
    assert_problem(
        ENTRY, package(environmentVariables=[{**env, "default": 3}]), (*e, "default"), "expected a string"
    )
    assert_problem(
        ENTRY,
        package(environmentVariables=[{**env, "secret": True}]),
        (*e, "secret"),
        "did you mean 'isSecret'?",
    )


# ---- remotes


def test_remotes() -> None:
    r = ("server", "remotes", 0)
    assert_valid(ENTRY, remote())
    assert_valid(ENTRY, remote(type="sse", url="https://mcp.acme.example.com/sse"))
    assert_problem(ENTRY, remote(type="stdio"), (*r, "type"), "must be one of 'streamable-http', 'sse'")
    assert_problem(ENTRY, remote(url="mcp.acme.example.com"), (*r, "url"), "http")
    assert_problem(ENTRY, remote(headers=[{"value": "x"}]), (*r, "headers", 0, "name"), "required")


def test_remote_url_templates_must_be_declared() -> None:
    r = ("server", "remotes", 0)
    url = "https://{tenant}.acme.example.com/mcp/{region}"
    assert_problem(ENTRY, remote(url=url), (*r, "url"), "2 template variable(s)")
    assert_problem(ENTRY, remote(url=url, variables={"tenant": {}}), (*r, "url"), "1 template variable(s)")
    assert_valid(
        ENTRY, remote(url=url, variables={"tenant": {"isRequired": True}, "region": {"choices": ["eu"]}})
    )
    assert_problem(
        ENTRY,
        remote(url=url, variables={"tenant": {"required": True}}),
        (*r, "variables", "tenant", "required"),
        "unknown field",
    )


# ---- _meta


def test_meta_is_free_form_but_publisher_provided_is_an_object() -> None:
    meta = {
        "io.modelcontextprotocol.registry/publisher-provided": {
            "io.github.acme": {"x": {"tier": "Official"}}
        },
        "com.example/other": [1, 2],
    }
    assert_valid(ENTRY, server(("_meta",), meta))
    assert_problem(
        ENTRY,
        server(("_meta",), {"io.modelcontextprotocol.registry/publisher-provided": "x"}),
        ("server", "_meta", "io.modelcontextprotocol.registry/publisher-provided"),
        "expected a mapping",
    )
    assert_problem(ENTRY, server(("_meta",), []), ("server", "_meta"), "expected a mapping")
    # `meta` is not an alias of `_meta`
    assert problems(ENTRY, server(("meta",), {})) == [
        (("server", "meta"), "unknown field 'meta'; did you mean '_meta'?")
    ]
