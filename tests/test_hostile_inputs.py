"""Hostile inputs found by fuzzing (issue 14): each is an error finding at its file and line, the
process ends within a time and memory bound, and the reports are still written. `validate` runs as a
subprocess under RLIMIT_AS and a timeout, so a hang or an explosion fails the test instead of the
machine."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.policy.loader import builtin_policy_dir
from tests.harness.services import unavailable

ROOT = Path(__file__).resolve().parent.parent
MEMORY_LIMIT = 1536 * 1024 * 1024  # address space, not RSS: the interpreter and its libraries included
TIMEOUT = 60

ENTRY_HEAD = "server:\n  name: io.github.acme/x{n}\n  description: d\n  version: 1.0.0\n"


def entry(n: int, claims: str = "claims: {org: acme}\n", extra: str = "") -> str:
    return claims + ENTRY_HEAD.format(n=n) + extra


def bomb(key: str, indent: str = "") -> str:
    """A ~1 KB "billion laughs": nine levels of ten aliases each, 10**9 nodes once expanded."""
    lines = [f"{indent}{key}:", f"{indent}  l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 10):
        refs = ", ".join([f"*l{level - 1}"] * 10)
        lines.append(f"{indent}  l{level}: &l{level} [{refs}]")
    return "\n".join(lines) + "\n"


POD_HEAD = (
    "apiVersion: toolhive.stacklok.dev/v1alpha1\nkind: MCPServer\nmetadata: {{name: h{n}}}\n"
    "spec:\n  image: ghcr.io/acme/x:1\n  transport: stdio\n"
)

# path -> (content, expected rule, expected line)
CASES: dict[str, tuple[bytes, str, int]] = {
    "entries/h/recursive-claims.yaml": (
        entry(1, "claims: &c\n  org: acme\n  self: *c\n").encode(),
        "yaml-limit",
        3,
    ),
    "entries/h/recursive-meta.yaml": (
        entry(2, extra="  _meta: &m\n    io.acme/x: {loop: *m}\n").encode(),
        "yaml-limit",
        7,
    ),
    "entries/h/bomb-claims.yaml": ((bomb("claims") + ENTRY_HEAD.format(n=3)).encode(), "yaml-limit", 6),
    "entries/h/bomb-meta.yaml": (entry(4, extra=bomb("_meta", "  ")).encode(), "yaml-limit", 11),
    "entries/h/nul-start.yaml": (b"\x00" + entry(5).encode(), "yaml-syntax", 1),
    "entries/h/nul-middle.yaml": (
        entry(6).encode().replace(b"description: d", b"description: \x00d"),
        "yaml-syntax",
        4,
    ),
    "entries/h/escape-byte.yaml": (
        entry(7).encode().replace(b"version: 1", b"version: \x1b1"),
        "yaml-syntax",
        5,
    ),
    "entries/h/deep.json": (
        b'{"claims": {"org": "acme"},\n "server": ' + b"[" * 1000 + b"]" * 1000 + b"}",
        "yaml-limit",
        2,
    ),
    "entries/h/huge-int.yaml": (entry(8, extra=f"  _meta: {{n: {'9' * 4400}}}\n").encode(), "yaml-limit", 6),
    "entries/h/huge-int.json": (b'{"claims": {"org": "acme"},\n "n": ' + b"9" * 4400 + b"}", "yaml-limit", 2),
    "entries/h/cel-int.yaml": (entry(9, extra=f"  _meta: {{n: {'9' * 320}}}\n").encode(), "yaml-limit", 6),
    "entries/h/int64.yaml": (
        entry(10, extra="  _meta: {n: 9223372036854775808}\n").encode(),
        "yaml-limit",
        6,
    ),
    "entries/h/empty-int.yaml": (entry(11, extra="  _meta: {n: !!int }\n").encode(), "yaml-syntax", 6),
    "entries/h/float-abc.yaml": (entry(12, extra="  _meta: {n: !!float abc}\n").encode(), "yaml-syntax", 6),
    "entries/h/set.yaml": (entry(13, extra="  _meta: !!set {a, b}\n").encode(), "yaml-syntax", 6),
    "entries/h/timestamp.yaml": (
        entry(14, extra="  _meta: {t: !!timestamp 2001-12-14}\n").encode(),
        "yaml-syntax",
        6,
    ),
    "entries/h/complex-key.yaml": (
        entry(15, extra="  _meta:\n    ? {a: {b: 1}}\n    : x\n").encode(),
        "yaml-syntax",
        7,
    ),
    "entries/h/custom-tag.yaml": (entry(16, claims="claims: !acme {org: acme}\n").encode(), "yaml-syntax", 1),
    "entries/h/bad-utf8-\udcff.yaml": (entry(17).encode(), "encoding", 1),
    "manifests/recursive-pod.yaml": (
        (POD_HEAD.format(n=1) + "  podTemplateSpec: &p\n    spec: {x: *p}\n").encode(),
        "yaml-limit",
        8,
    ),
    "manifests/bomb-pod.yaml": (
        (POD_HEAD.format(n=2) + bomb("podTemplateSpec", "  ")).encode(),
        "yaml-limit",
        12,
    ),
    "manifests/kind-list.yaml": (
        b"apiVersion: toolhive.stacklok.dev/v1alpha1\nkind: [MCPServer]\n",
        "unknown-kind",
        2,
    ),
    "manifests/flow-marker.yaml": (
        (
            POD_HEAD.format(n=3)
            + "--- {apiVersion: v1, kind: ConfigMap}\n---\n"
            + POD_HEAD.format(n=4)
            + "  replcas: 1\n"
        ).encode(),
        "crd-schema",
        15,
    ),
}


def limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_cli(
    *args: str, script: str = "from reconciler.cli import main; main()"
) -> subprocess.CompletedProcess[str]:
    """`mcp-gitops ARGS` in a fresh interpreter, bounded in time and address space."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MCP_GITOPS_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        preexec_fn=limited,
    )


def plant(repo: Path, cases: dict[str, tuple[bytes, str, int]]) -> None:
    for name, (content, _rule, _line) in cases.items():
        target = os.fsencode(repo) + b"/" + name.encode("utf-8", "surrogateescape")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as handle:
            handle.write(content)


def findings_of(report_file: Path) -> set[tuple[str, str, int]]:
    report = json.loads(report_file.read_text())
    return {(f["rule"], f["path"], f["line"]) for f in report["findings"]}


def shown(name: str) -> str:
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def test_every_hostile_class_is_a_finding_at_its_line(repo_copy: Path, tmp_path: Path) -> None:
    plant(repo_copy, CASES)
    # another registry config hostile: a recursive alias appended at the end
    config = repo_copy / "registry.yaml"
    lines = config.read_text().count("\n")
    config.write_text(config.read_text() + "extra: &a [*a]\n")
    os.mkfifo(repo_copy / "entries" / "h" / "fifo.yaml")  # a file that must never be opened
    report_file = tmp_path / "report.json"
    result = run_cli("validate", str(repo_copy), "--report", f"json:{report_file}")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stderr == ""
    found = findings_of(report_file)
    expected = {(rule, shown(name), line) for name, (_c, rule, line) in CASES.items()}
    expected |= {("yaml-limit", "registry.yaml", lines + 1), ("file-unreadable", "entries/h/fifo.yaml", 1)}
    assert expected - found == set(), found
    # the sample's own documents still load: no hostile file took the others with it
    unwaived = [f for f in json.loads(report_file.read_text())["findings"] if not f.get("waived")]
    assert {f["path"] for f in unwaived} <= {shown(n) for n in CASES} | {
        "registry.yaml",
        "entries/h/fifo.yaml",
        ".",  # the run-level info finding
    }


def test_hostile_settings_file_is_a_finding(repo_copy: Path, tmp_path: Path) -> None:
    settings = repo_copy / "mcp-gitops.yaml"
    settings.write_bytes(b"registryConfig: registry.yaml\nentries: &e [*e]\n")
    result = run_cli("validate", str(repo_copy), "--format", "json")
    assert result.returncode == 1, result.stderr
    assert {(f["rule"], f["path"], f["line"]) for f in json.loads(result.stdout)["findings"]} >= {
        ("yaml-limit", "mcp-gitops.yaml", 2)
    }


def test_hostile_policy_file_stops_the_run_naming_its_line(repo_copy: Path) -> None:
    policies = repo_copy / "policies"
    policies.mkdir()
    (policies / "bomb.yaml").write_text("id: p\n" + bomb("variables"))
    settings = repo_copy / "mcp-gitops.yaml"
    settings.write_text(settings.read_text() + "policies: [policies]\n")
    result = run_cli("validate", str(repo_copy))
    assert result.returncode == 2
    assert (
        "policies/bomb.yaml:7: alias expansion exceeds" in result.stderr and "Traceback" not in result.stderr
    )


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_git_revision_mode_loads_the_same_way(repo_copy: Path, tmp_path: Path) -> None:
    cases = {k: v for k, v in CASES.items() if k.startswith("entries/h/") and "fifo" not in k}
    plant(repo_copy, cases)
    git(repo_copy, "init", "-q")
    git(repo_copy, "add", "-A")
    git(repo_copy, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "hostile")
    shutil.rmtree(repo_copy / "entries" / "h")  # the revision, not the working tree, is read
    result = run_cli("validate", str(repo_copy), "--rev", "HEAD", "--format", "json")
    assert result.returncode == 1, result.stderr
    found = {(f["rule"], f["path"], f["line"]) for f in json.loads(result.stdout)["findings"]}
    assert {(rule, shown(name), line) for name, (_c, rule, line) in cases.items()} - found == set()


# Root reads any file whatever its mode bits, so the unreadable cases run the command as `nobody`.
# The interpreter lives under /root, and the checkout may be in a private folder (`mktemp -d`), which
# `nobody` cannot enter: it starts as root, imports what the command needs (the modules it imports on
# first use too, such as the safe YAML path for the policies and the CRD files), then drops to `nobody`
# before reading the repository.
NOBODY = 65534
# The built-in policies are read from the checkout at run time: the run reads a copy beside its repository.
# Every module of the package is imported first: a command imports some on first use.
POLICIES_BESIDE = (
    "import importlib, pkgutil, pathlib, reconciler, reconciler.policy.loader as loader\n"
    "for module in pkgutil.walk_packages(reconciler.__path__, 'reconciler.'):\n"
    "    try:\n"
    "        importlib.import_module(module.name)\n"
    "    except ImportError:\n"
    "        pass\n"
    "loader.builtin_policy_dir = lambda: pathlib.Path(os.environ['MCP_GITOPS_TEST_POLICIES'])\n"
)
AS_NOBODY = (
    "import os, reconciler.cli, reconciler.commands.validate, reconciler.pipeline, reconciler.report\n"
    "import reconciler.loading.safe_yaml\n" + POLICIES_BESIDE + "import ruamel.yaml, json, tempfile\n"
    f"os.setgroups([]); os.setgid({NOBODY}); os.setuid({NOBODY})\n"
    "reconciler.cli.main()\n"
)


@pytest.fixture
def public_repo(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of sample-repo that `nobody` can traverse (pytest's tmp_path is private to root), and a
    copy of the CRDs and of the built-in policies beside it (the checkout, and the upstream files beside
    it, may be private too)."""
    if os.geteuid() != 0:
        unavailable("root", "the unreadable-file cases drop privileges to `nobody`, which needs root")
    base = Path(tempfile.mkdtemp(prefix="mcp-gitops-hostile-"))
    base.chmod(0o755)
    repo = base / "repo"
    shutil.copytree(ROOT / "sample-repo", repo)
    shutil.copytree(builtin_policy_dir(), base / "policies")
    monkeypatch.setenv("MCP_GITOPS_TEST_POLICIES", str(base / "policies"))
    crds = os.environ.get("MCP_GITOPS_CRDS")
    if crds:
        shutil.copytree(crds, base / "crds")
        monkeypatch.setenv("MCP_GITOPS_CRDS", str(base / "crds"))
    try:
        yield repo
    finally:
        shutil.rmtree(base)


def make_unreadable(repo: Path) -> None:
    secret_file = repo / "entries" / "io.github.acme" / "fetch-1.0.0.yaml"
    secret_file.chmod(0o000)
    locked = repo / "entries" / "locked"
    locked.mkdir()
    (locked / "x.yaml").write_text(entry(99))
    locked.chmod(0o000)


def test_unreadable_file_and_folder_are_findings(public_repo: Path, tmp_path: Path) -> None:
    make_unreadable(public_repo)
    report = Path(tempfile.mkdtemp(prefix="mcp-gitops-report-"))
    report.chmod(0o777)
    try:
        result = run_cli("validate", str(public_repo), "--report", f"json:{report}/r.json", script=AS_NOBODY)
        assert result.returncode == 1, result.stderr
        found = findings_of(report / "r.json")
    finally:
        shutil.rmtree(report)
    assert ("file-unreadable", "entries/io.github.acme/fetch-1.0.0.yaml", 1) in found
    assert ("file-unreadable", "entries/locked", 1) in found


def test_an_unexpected_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A bug (here: a renderer that raises) is exit 2 with one line, and the other report files are
    still written."""
    script = (
        "import reconciler.report as r\n"
        "real = r.renderer\n"
        "def renderer(name):\n"
        "    if name == 'sarif':\n"
        "        def broken(report, context): raise RuntimeError('renderer bug')\n"
        "        return broken\n"
        "    return real(name)\n"
        "import reconciler.commands.validate as v\n"
        "v.renderer = renderer\n"
        "from reconciler.cli import main; main()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MCP_GITOPS_DEBUG", None)
    args = [sys.executable, "-c", script, "validate", str(ROOT / "sample-repo")]
    args += ["--report", f"sarif:{tmp_path}/r.sarif", "--report", f"json:{tmp_path}/r.json"]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "RuntimeError: renderer bug" in result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["errors"] == 0
    debug = subprocess.run(
        [*args, "--format", "json"],
        env={**env, "MCP_GITOPS_DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert "Traceback" in debug.stderr and debug.returncode == 2


def test_convert_reads_a_legacy_file_through_the_same_path(tmp_path: Path) -> None:
    legacy = tmp_path / "registry.yaml"
    legacy.write_text("servers:\n" + bomb("fetch", "  "))
    result = run_cli("convert", str(legacy), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert f"{legacy}:7: alias expansion exceeds" in result.stderr and "Traceback" not in result.stderr


def test_megabyte_files_built_to_be_slow_stay_fast(repo_copy: Path) -> None:
    """Shapes that made a scan quadratic (a walk back per underscore, a line count per `---`): a
    60 KB file of them took 50 s. Each here is about 1 MB, the default size limit."""
    anchors = b"".join(b"&a%d 1, *a%d, " % (i, i) for i in range(900))
    slow = {
        "entries/slow/underscores.yaml": b"claims: " + b"a_1" * 330_000 + b"\n",
        "entries/slow/dashes.yaml": b"claims: -" + b"_" * 1_000_000 + b"\n",
        "manifests/markers.yaml": b"---\n" * 260_000,
        "entries/slow/flow.yaml": b"claims: " + b"[" * 1000 + b"]" * 1000 + b"\n",
        "entries/slow/anchors.yaml": b"claims: [%s]\n" % anchors,
    }
    assert all(len(content) <= 1024 * 1024 for content in slow.values())
    plant(repo_copy, {name: (content, "", 0) for name, content in slow.items()})
    started = time.monotonic()
    result = run_cli("validate", str(repo_copy), "--format", "json")
    assert time.monotonic() - started < 30, "loading 1 MB files must stay linear"
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
