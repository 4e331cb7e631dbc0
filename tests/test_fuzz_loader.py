"""Fuzzing the loader and the whole `validate` in-process (issue 14): any exception that is not a
finding fails. Hypothesis runs in rounds until a time budget is spent: MCP_GITOPS_FUZZ_SECONDS
(default 60 under CI=true, 4 locally), shared by the two tests. Each fuzzer runs in a child
interpreter (`python -m tests.test_fuzz_loader loader|validate SECONDS [DIR]`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import pipeline
from reconciler.documents import parse
from reconciler.loading.limits import string_problem, tree_problem
from reconciler.policy.loader import load_policies
from reconciler.rules import STRUCTURAL_RULES
from reconciler.source import FolderSource

ROOT = Path(__file__).resolve().parent.parent
BUDGET = float(os.environ.get("MCP_GITOPS_FUZZ_SECONDS", "60" if os.environ.get("CI") == "true" else "4"))

# Pieces of YAML that broke parsers before: anchors and aliases, tags, complex keys, flow and block
# markers, document markers and directives, control and non-characters, huge and odd numbers.
FRAGMENTS = [
    "&a ", "&b ", "*a", "*b", "!!int ", "!!float ", "!!set ", "!!binary ", "!!timestamp ", "!x ", "! ",
    "? ", ": ", "- ", "[", "]", "{", "}", ", ", "\n", "\n  ", "\n    ", "--- ", "\n---\n", "\n...\n",
    "%YAML 1.2\n", "%TAG ! tag:x,2000:\n", "\x00", "\x1b", "\x7f", "\u0085", "\ufeff", "\ufffe", "\U0001f600",
    "# c", "'", '"', "\\", "|\n  x\n", ">-\n  x\n", "9" * 25, "9" * 400, "9" * 4400, "0x1F", "0o17", "1_000",
    "0b1", ".inf", ".nan", "-", "-_", "~", '"\\0"', '"\\u0000"', '"\\ud800"', "null", "true", "<<: *a\n",
    "key", "claims", "server", "kind", "_meta",
    "apiVersion: toolhive.stacklok.dev/v1alpha1\n", "kind: MCPServer\n", "\t",
]  # fmt: skip

yaml_text = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=40).map("".join)

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=8),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def dumped(draw: st.DrawFn) -> str:
    """A structure dumped by PyYAML, with shared and self-containing nodes (aliases, recursion)."""
    value = draw(json_values)
    holder: dict[str, object] = {"claims": value, "server": {"name": "io.x/y", "version": "1.0.0"}}
    if draw(st.booleans()):
        holder["server"] = {"name": "io.x/y", "version": "1.0.0", "_meta": {"a": value, "b": value}}
    if draw(st.booleans()):
        loop: list[object] = [value]
        loop.append(loop)
        holder["claims"] = {"loop": loop}
    return yaml.dump(holder, default_flow_style=draw(st.booleans()))


def mutate(text: str, insert: str, at: float) -> str:
    cut = int(len(text) * at)
    return text[:cut] + insert + text[cut:]


documents = st.one_of(
    yaml_text,
    dumped(),
    st.builds(mutate, dumped(), yaml_text, st.floats(min_value=0, max_value=1)),
)
files = st.one_of(
    st.tuples(
        st.sampled_from(["f.yaml", "f.json"]), documents.map(lambda t: t.encode("utf-8", "surrogatepass"))
    ),
    st.tuples(st.sampled_from(["f.yaml", "f.json"]), st.binary(max_size=200)),
)


def run_for(seconds: float, test: Callable[[], None]) -> int:
    """Run a Hypothesis test in rounds until `seconds` have passed; the number of rounds run."""
    deadline = time.monotonic() + seconds
    rounds = 0
    while rounds == 0 or time.monotonic() < deadline:
        test()
        rounds += 1
    return rounds


FUZZ = settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def check_parse(name: str, raw: bytes) -> None:
    result = parse(name, raw)
    for finding in result.findings:
        assert finding.rule in STRUCTURAL_RULES and finding.line >= 1, finding
    for document in result.documents:
        assert tree_problem(document.data) is None and string_problem(document.data) is None
        document.locate(())
        if isinstance(document.data, dict) and document.data:
            document.locate((next(iter(document.data)),), key=True)


def fuzz_the_loader(seconds: float) -> None:
    @FUZZ
    @given(files)
    def loader(file: tuple[str, bytes]) -> None:
        check_parse(*file)

    run_for(seconds, loader)


def fuzz_validate(seconds: float, workdir: Path) -> None:
    """Hostile text as an entry, a manifest, the registry config or the settings of a real repository:
    validate gives findings, never an exception."""
    repo = workdir / "repo"
    shutil.copytree(ROOT / "sample-repo", repo)
    policies = load_policies(FolderSource(repo), [])
    kept = {name: (repo / name).read_bytes() for name in ("registry.yaml", "mcp-gitops.yaml")}
    targets = ["entries/x/f.yaml", "manifests/f.json", "manifests/f.yaml", *kept]

    @FUZZ
    @given(documents, st.sampled_from(targets))
    def validate(text: str, where: str) -> None:
        target = repo / where
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            result = pipeline.validate(FolderSource(repo), policies=policies)
            assert result.report.findings is not None
        finally:
            target.unlink()
            for name, content in kept.items():
                (repo / name).write_bytes(content)

    run_for(seconds, validate)


def run_fuzzer(*args: str) -> None:
    """Run one fuzzer in a child interpreter (it still calls the loader and `validate` in-process
    there): a crash in a native parser ends the child, not the test run, and the memory Hypothesis
    and the generated data leave behind is not kept by the pytest process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "tests.test_fuzz_loader", *args]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=BUDGET + 300)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]


def test_fuzz_the_loader() -> None:
    run_fuzzer("loader", str(BUDGET * 0.6))


def test_fuzz_validate_in_process(tmp_path: Path) -> None:
    run_fuzzer("validate", str(BUDGET * 0.4), str(tmp_path))


if __name__ == "__main__":
    if sys.argv[1] == "loader":
        fuzz_the_loader(float(sys.argv[2]))
    else:
        fuzz_validate(float(sys.argv[2]), Path(sys.argv[3]))
