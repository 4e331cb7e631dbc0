"""The loaders agree: the fast path (`yaml_rs`, JSON) and the safe path (libyaml + the YAML 1.2 core
schema) give the same data for every file the fast path takes, and the positional path (ruamel.yaml,
used only to locate findings) sees the same structure, so every key it locates is on a line that holds
that key. Corpus: sample-repo, a generated repository (bench/generate.py), the hostile corpus, and
every core-schema scalar form in block and flow context."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from reconciler.documents import parse
from reconciler.loading import _load_yaml_fast, control_character, load_text
from reconciler.loading.limits import tree_problem
from reconciler.loading.problems import LoadError
from reconciler.loading.safe_yaml import load_yaml
from tests.test_hostile_inputs import CASES

ROOT = Path(__file__).resolve().parent.parent

SCALARS = (  # noqa: SIM905
    "yes no on off y n ~ null Null NULL nULL true True TRUE tRUE 0o17 017 0x1F 0X1F 0xg +1 -1 +0 -0 00 "
    "1_000 1__0 1.5 .5 1. -1. +.5 1e3 1E3 1e+3 1.e3 .e3 -.inf .Inf +.INF .inf. .NAN .nan 2001-12-14 "
    "12:30:45 1:20 = << 0b101 0o 0x . + 9223372036854775807 -9223372036854775808 1.0e-400 1e400"
).split()
# Forms ruamel.yaml (1.2 mode) resolves differently from the core schema: it is used for positions
# only, so these change nothing the user sees; the loaders read them all as strings.
RUAMEL_SCALAR_DEVIATIONS = {"1_000", "1__0", "0b101", "2001-12-14", "=", "<<"}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generated") / "repo"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "generate.py"),
            str(out),
            "--entries",
            "400",
            "--manifests",
            "80",
        ],
        check=True,
        capture_output=True,
    )
    return out


def files_of(folder: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted(folder.rglob("*")):
        if path.suffix in (".yaml", ".yml", ".json") and path.is_file():
            yield str(path.relative_to(folder)), path.read_bytes()


def corpus(generated: Path) -> Iterator[tuple[str, bytes]]:
    yield from files_of(ROOT / "sample-repo")
    yield from files_of(ROOT / "policies")
    yield from files_of(generated)
    for name, (content, _rule, _line) in CASES.items():
        yield name.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), content
    for value in SCALARS:
        yield (
            f"scalar-{value}.yaml",
            f"k: {value}\nseq:\n  - {value}\nflow: [{value}, {{x: {value}}}]\n".encode(),
        )


def safe_data(text: str) -> list[object] | None:
    try:
        return [d.data for d in load_yaml(text) if d.data is not None]
    except LoadError:
        return None


def test_fast_and_safe_paths_give_the_same_data(generated: Path) -> None:
    fast_taken = 0
    for name, raw in corpus(generated):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if control_character(text, raw) is not None:  # refused before any parser runs
            continue
        if name.endswith(".json"):
            try:
                fast: list[object] | None = [json.loads(text)]
            except (ValueError, RecursionError):
                fast = None
        else:
            documents = _load_yaml_fast(text, raw)
            fast = None if documents is None else [d.data for d in documents]
        if fast is None or any(tree_problem(d) for d in fast):  # load_text takes the safe path then
            continue
        fast_taken += 1
        safe = safe_data(text)
        # repr: compares types too (1 vs 1.0 vs True), and NaN equals itself
        assert repr(fast) == repr(safe), name
    assert fast_taken > 400  # the comparison really ran over the corpus


def plain(value: object, scalars: bool = True) -> object:
    """ruamel's round-trip data as plain data (scalars=False: only the structure)."""
    if isinstance(value, dict):
        return {str(k): plain(v, scalars) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v, scalars) for v in value]
    if not scalars:
        return "."
    if isinstance(value, (bool, dt.date)) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value) if isinstance(value, str) else repr(value)


def structure(value: object) -> object:
    return plain(value, scalars=False)


def test_positional_path_sees_the_same_content(generated: Path) -> None:
    rt = YAML(typ="rt")
    for name, raw in corpus(generated):
        text = raw.decode("utf-8", "replace")
        safe = safe_data(text)
        if safe is None:
            continue
        positional = [d for d in rt.load_all(text) if d is not None]
        assert [structure(d) for d in positional] == [structure(d) for d in safe], name
        value = name.removeprefix("scalar-").removesuffix(".yaml")
        if name.startswith("scalar-") and value in RUAMEL_SCALAR_DEVIATIONS:
            assert repr([plain(d) for d in positional]) != repr(safe), f"{name}: ruamel now agrees"
        else:
            assert repr([plain(d) for d in positional]) == repr(safe), name


def key_paths(value: object, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from key_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from key_paths(item, (*prefix, index))


def test_every_key_is_located_on_its_own_line(generated: Path) -> None:
    located = 0
    for name, raw in corpus(generated):
        result = parse(name, raw)
        lines = raw.decode("utf-8", "replace").splitlines()
        for document in result.documents:
            for path in key_paths(document.data):
                line, column = document.locate(path, key=True)
                key = str(path[-1])
                assert key in lines[line - 1][column - 1 :], f"{name}: {path} at {line}:{column}"
                located += 1
    assert located > 10_000


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\n",
        "a: x --- y\nb: '...'\n",  # markers only inside lines
        "---\na: 1\n",
        "a: 1\n---\nb: 2\n...\n",
        "a: 1\n--- # a comment\nb: 2\n",
        "a: 1\n---b: 2\n",  # not a marker: no space after it
        "a: 1\n--- b: 2\n",  # content on the marker line: the full parser decides
    ],
)
def test_documents_split_where_the_markers_are(text: str) -> None:
    fast = _load_yaml_fast(text, text.encode())
    assert (fast is None) == (text == "a: 1\n--- b: 2\n")
    assert [d.data for d in fast or []] == (safe_data(text) if fast is not None else [])


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("a: 1\r---\rb: 2\r", [1, 3]),
        ("a: 1\rb: 2\r", [1]),
        ("a: 1\r\n---\r\nb: 2\r\n", [1, 3]),
        ("a: 1\r\n--- # next\r\nb: 2\r\n...\r\n", [1, 3]),
    ],
)
def test_carriage_returns_end_lines_as_yaml_says(text: str, lines: list[int]) -> None:
    # Two documents separated by a marker on a line of its own are two documents, whatever ends lines.
    documents = load_text("x.yaml", text, text.encode())
    assert [d.data for d in documents] == safe_data(text)
    assert [d.line for d in documents] == lines
    assert (_load_yaml_fast(text, text.encode()) is None) == ("\r" in text.replace("\r\n", ""))


@pytest.mark.parametrize(
    ("text", "non_core"),
    [
        ("a: 1_000\n", True),
        ("a: _1\n", True),
        ("a: 1__0\n", True),
        ("a: 0x_1F\n", True),
        ("a: 0X1F\n", True),
        ("a: 0b101\n", True),
        ("a: [-1_0]\n", True),
        ("a: calendar-00032_git\n", False),  # an underscore after a digit, in a word
        ("a: x_1\n", False),
        ("a: snake_case_2\n", False),
        ("a: 1\nb: x_y\n", False),
    ],
)
def test_number_forms_the_fast_path_reads_otherwise_are_found(text: str, non_core: bool) -> None:
    from reconciler.loading import _non_core_number

    assert _non_core_number(text) is non_core
    if not non_core:
        fast = _load_yaml_fast(text, text.encode())
        assert fast is not None and [d.data for d in fast] == safe_data(text)
