"""reconciler.schemas.check: the result shape, problem paths, unknown-field suggestions, messages that
never repeat the offending value, legacy detection; and the helpers the other schema tests share."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from reconciler import schemas
from reconciler.schemas.legacy import is_legacy

Path_ = tuple[str | int, ...]
_DELETE = object()


def changed(doc: dict[str, Any], path: Path_, value: Any = _DELETE) -> dict[str, Any]:
    """A deep copy of `doc` with the value at `path` replaced (or removed when no value is given)."""
    out = copy.deepcopy(doc)
    node: Any = out
    for step in path[:-1]:
        node = node[step]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


def problems(kind: str, doc: Any) -> list[tuple[Path_, str]]:
    result = schemas.check(kind, doc)
    assert (result.model is None) == bool(result.problems)
    return [(p.path, p.message) for p in result.problems]


def assert_valid(kind: str, doc: Any) -> None:
    assert problems(kind, doc) == []


def assert_problem(kind: str, doc: Any, path: Path_, fragment: str) -> None:
    found = problems(kind, doc)
    assert any(p == path and fragment in m for p, m in found), found


MINIMAL_ENTRY: dict[str, Any] = {
    "claims": {"org": "acme"},
    "server": {"name": "io.github.acme/weather", "description": "Weather forecasts", "version": "1.0.0"},
}


def test_result_of_a_valid_document_carries_the_model() -> None:
    result = schemas.check("RegistryEntry", MINIMAL_ENTRY)
    assert result.ok and result.problems == []
    assert result.model is not None
    assert result.model.server.name == "io.github.acme/weather"  # type: ignore[attr-defined]


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        schemas.check("Deployment", {})


def test_suggestions_follow_nested_models_lists_and_tagged_unions() -> None:
    entry = changed(
        MINIMAL_ENTRY,
        ("server", "remotes"),
        [{"type": "sse", "url": "https://x.example.com/sse", "hedaers": []}],
    )
    assert problems("RegistryEntry", entry) == [
        (("server", "remotes", 0, "hedaers"), "unknown field 'hedaers'; did you mean 'headers'?")
    ]
    entry = changed(
        MINIMAL_ENTRY, ("server", "repositry"), {"url": "https://github.com/a/b", "source": "github"}
    )
    assert problems("RegistryEntry", entry)[0][1].endswith("did you mean 'repository'?")


def test_unknown_field_without_a_close_match_has_no_suggestion() -> None:
    entry = changed(MINIMAL_ENTRY, ("server", "zzzzzz"), 1)
    assert problems("RegistryEntry", entry) == [(("server", "zzzzzz"), "unknown field 'zzzzzz'")]


def test_value_problems_point_at_the_value_and_union_tags_are_not_in_the_path() -> None:
    entry = changed(MINIMAL_ENTRY, ("server", "remotes"), [{"type": "sse", "url": "ftp://x"}])
    (problem,) = schemas.check("RegistryEntry", entry).problems
    assert problem.path == ("server", "remotes", 0, "url")
    assert not problem.at_key


def test_missing_fields_name_the_missing_field() -> None:
    entry = changed(MINIMAL_ENTRY, ("server", "description"))
    assert problems("RegistryEntry", entry) == [(("server", "description"), "required field is missing")]


def test_wrong_types_are_not_coerced() -> None:
    entry = changed(MINIMAL_ENTRY, ("server", "version"), 1)
    assert problems("RegistryEntry", entry) == [(("server", "version"), "expected a string")]
    assert problems("RegistryEntry", []) == [((), "expected a mapping")]


SECRET = "hunter2-Sup3rSecret"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("server", "name"), SECRET),
        (("server", "version"), "^" + SECRET),
        (("server", "websiteUrl"), SECRET),
        (("server", "description"), SECRET * 10),
        (("server", "packages"), [{"registryType": "npm", "identifier": "x", "transport": {"type": SECRET}}]),
        (("server", "remotes"), [{"type": "streamable-http", "url": "https://x/{" + SECRET + "}"}]),
        (("server", "icons"), [{"src": "https://x/i.png", "mimeType": SECRET}]),
        (
            ("server", "repository"),
            {"url": "https://github.com/a/b", "source": "github", "subfolder": SECRET + "/.."},
        ),
        (("server", "version"), 12345678),
    ],
)
def test_messages_never_repeat_the_offending_value(path: Path_, value: Any) -> None:
    found = problems("RegistryEntry", changed(MINIMAL_ENTRY, path, value))
    assert found
    for _, message in found:
        assert SECRET not in message and "12345678" not in message


def test_registry_config_password_is_not_echoed() -> None:
    config = {
        "sources": [],
        "registries": [],
        "database": {"host": "h", "port": 5432, "user": 7, "database": "d"},
    }
    config["database"]["password"] = 12345678
    for _, message in problems("RegistryConfig", config):
        assert "12345678" not in message


@pytest.mark.parametrize(
    ("data", "legacy"),
    [
        ({"version": "1.0.0", "last_updated": "x", "servers": {}}, True),
        ({"remote_servers": {}}, True),
        ({"groups": []}, True),
        ({"$schema": "https://x/toolhive-legacy-registry.schema.json"}, False),
        ({"version": "1.0.0", "meta": {}, "data": {"servers": [], "groups": []}}, False),
        (MINIMAL_ENTRY, False),
        ([], False),
    ],
)
def test_legacy_detection_uses_top_level_keys(data: Any, legacy: bool) -> None:
    assert is_legacy(data) is legacy


def test_sample_repo_validates_against_the_models(sample_repo: Path) -> None:
    from reconciler.repository import load_repository
    from reconciler.source import open_source

    repo = load_repository(open_source(sample_repo))
    assert [f for f in repo.findings if f.rule == "schema"] == []
    assert repo.config is not None and repo.config.valid
    kinds = sorted(d.kind for d in repo.manifests)
    assert kinds == ["MCPGroup", "MCPServer", "VirtualMCPServer"]
    assert len(repo.entries) >= 6 and all(d.valid for d in repo.entries)
