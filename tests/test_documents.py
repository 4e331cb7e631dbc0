"""Parsing with positions: every file problem is a finding with a place, never a traceback."""

from __future__ import annotations

import pytest

from reconciler.documents import format_field_path, parse, parse_field_path


def findings(name: str, raw: bytes) -> list[tuple[str, int, int]]:
    return [(f.rule, f.line, f.column) for f in parse(name, raw).findings]


def test_multi_document_yaml_keeps_each_documents_start_line() -> None:
    raw = b"apiVersion: v1\nkind: A\n---\n# comment\napiVersion: v1\nkind: B\nspec:\n  replicas: 2\n"
    docs = parse("m.yaml", raw).documents
    assert [d.data["kind"] for d in docs] == ["A", "B"]
    assert docs[1].locate("spec.replicas") == (8, 13)
    assert docs[1].locate("spec.replicas", key=True) == (8, 3)


def test_positions_in_lists_and_json() -> None:
    doc = parse("e.json", b'{\n  "claims": {"team": ["a",\n    "b"]},\n  "server": {}\n}').documents[0]
    assert doc.locate("claims.team[1]") == (3, 5)
    assert doc.locate(("server",), key=True) == (4, 3)


def test_missing_path_resolves_to_deepest_parent() -> None:
    doc = parse("x.yaml", b"spec:\n  image: x\n").documents[0]
    assert doc.locate("spec.nope.deeper") == doc.locate("spec")


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("a.yaml", b"a: 1\nb:\n  c: 2\n  c: 3\n", [("duplicate-key", 4, 3)]),
        ("a.json", b'{"a": 1,\n "a": 2}', [("duplicate-key", 2, 2)]),
        ("b.yaml", b"x: 1\n---\ny:\n  z: [1, 2\n", [("yaml-syntax", 4, 6)]),
        ("b.json", b'{"a": 1,\n "b": }', [("yaml-syntax", 2, 7)]),
        ("c.yaml", b"k: v\n  bad: 1\n", [("yaml-syntax", 2, 6)]),
        ("d.yaml", b"ok: 1\nbad: \xff\xfe\n", [("encoding", 2, 6)]),
    ],
)
def test_malformed_files_are_findings_with_positions(
    name: str, raw: bytes, expected: list[tuple[str, int, int]]
) -> None:
    assert findings(name, raw) == expected


def test_duplicate_key_message_never_echoes_values() -> None:
    result = parse("s.yaml", b"database:\n  password: hunter2\n  password: hunter3\n")
    assert "hunter" not in result.findings[0].message


def test_empty_documents_are_skipped() -> None:
    assert parse("e.yaml", b"# nothing\n").documents == []
    assert len(parse("e.yaml", b"a: 1\n---\n").documents) == 1


def test_field_path_round_trip() -> None:
    path = ("server", "_meta", "io.modelcontextprotocol.registry/publisher-provided", "x", 0)
    assert parse_field_path(format_field_path(path)) == path
    assert parse_field_path("claims['a.b'][2].c") == ("claims", "a.b", 2, "c")


def test_a_flow_document_on_a_marker_line_keeps_the_lines_of_the_rest() -> None:
    raw = b"a: 1\n--- {b: 2}\n---\nc:\n  d: 3\n"
    docs = parse("m.yaml", raw).documents
    assert [d.line for d in docs] == [1, 2, 4]
    assert docs[1].locate("b") == (2, 9)
    assert docs[2].locate("c.d") == (5, 6)
    assert docs[2].locate("c.d", key=True) == (5, 3)


def test_keys_are_kept_as_written_and_the_core_schema_resolves_values() -> None:
    doc = parse("k.yaml", b"1: a\ntrue: b\nx: [yes, 0o17, 0x1F, 1_000, ~, .inf, '1']\n").documents[0]
    assert doc.data == {"1": "a", "true": "b", "x": ["yes", 15, 31, "1_000", None, float("inf"), "1"]}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"\x00a: 1\n", ("yaml-syntax", 1, 1)),
        (b"a: 1\nb: x\x07\n", ("yaml-syntax", 2, 5)),
        (b"a: &x [*x]\n", ("yaml-limit", 1, 1)),
        (b"a: !!binary aGk=\n", ("yaml-syntax", 1, 4)),
        (b"a: 18446744073709551616\n", ("yaml-limit", 1, 4)),
    ],
)
def test_refused_input_is_one_finding_and_no_document(raw: bytes, expected: tuple[str, int, int]) -> None:
    result = parse("h.yaml", raw)
    assert [(f.rule, f.line, f.column) for f in result.findings] == [expected]
    assert result.documents == []


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("n.json", b'{"a": "x",\n "b": "y\\u0000"}', ("yaml-syntax", 2, 9)),
        ("s.json", b'{"a": "\\ud800"}', ("yaml-syntax", 1, 8)),
        ("n.yaml", b'a: x\nb: "\\0"\n', ("yaml-syntax", 2, 5)),
    ],
)
def test_escapes_that_give_unstorable_strings_are_findings(
    name: str, raw: bytes, expected: tuple[str, int, int]
) -> None:
    assert findings(name, raw) == [expected]
    assert findings("ok.json", b'{"a": "tab\\there \\\\0"}') == []


@pytest.mark.parametrize("raw", [b"a: -_", b"a: 1_", b"a: ._", b"_", b"a: [0b"])
def test_number_like_tokens_at_the_end_of_a_file(raw: bytes) -> None:
    result = parse("t.yaml", raw)
    assert result.findings or result.documents
