"""A JSON file skips the tree walk only when its text bounds the tree: every limit still holds."""

from __future__ import annotations

import pytest

from reconciler.loading import LoadError, load_text
from reconciler.loading.limits import MAX_DEPTH, json_within_limits, tree_problem


def _load(text: str) -> object:
    return load_text("entry.json", text, text.encode())[0].data


@pytest.mark.parametrize(
    ("text", "within"),
    [
        ('{"a": [1, 2, {"b": 9223372036854775807}]}', True),  # integers are checked as they are read
        ("[" * MAX_DEPTH + "]" * MAX_DEPTH, False),
        ('{"s": "' + "[" * MAX_DEPTH + '"}', False),  # brackets in a string count too (cautious)
    ],
)
def test_the_text_bounds_the_tree_or_the_walk_runs(text: str, within: bool) -> None:
    assert json_within_limits(text) is within


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 9223372036854775808}',  # one over int64
        '{"a": -9223372036854775809}',
        "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
    ],
)
def test_json_beyond_the_limits_is_still_refused(text: str) -> None:
    with pytest.raises(LoadError) as refused:
        _load(text)
    assert refused.value.rule in {"yaml-limit", "yaml-syntax"}


def test_json_within_the_limits_loads_as_a_plain_tree() -> None:
    data = _load('{"a": [1, 2.5, true, null, {"b": "9223372036854775807"}], "c": 9223372036854775807}')
    assert tree_problem(data) is None
    assert data == {"a": [1, 2.5, True, None, {"b": "9223372036854775807"}], "c": 2**63 - 1}
