"""The light install: `validate` (and a diff against a base revision) runs without any optional
dependency, every feature that needs one says which pip extra to install (exit 2, no traceback), and
the extras in pyproject.toml match what reconciler/extras.py checks for.

Instead of a venv per case, each command runs in a subprocess where every module of every extra is
blocked (`sys.modules[name] = None`, which makes both `import name` and `find_spec(name)` fail as if the
distribution were absent).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from reconciler.extras import EXTRA_MODULES, INCLUDED_EXTRAS, modules_of

ROOT = Path(__file__).resolve().parent.parent
ALL_OPTIONAL = sorted({module for modules in EXTRA_MODULES.values() for module in modules})

# Runs the CLI with the optional modules blocked, then prints which of them got imported anyway.
RUNNER = """
import json, sys
blocked = json.loads(sys.argv[1])
for name in blocked:
    sys.modules[name] = None
from reconciler.cli import cli
try:
    cli.main(args=sys.argv[2:], prog_name="mcp-gitops")
except SystemExit as exit:
    code = exit.code
else:
    code = 0
loaded = sorted(m for m in sys.modules if m.split(".")[0] in blocked and sys.modules[m] is not None)
print("LOADED=" + json.dumps(loaded), file=sys.stderr)
sys.exit(code)
"""


def run_light(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUNNER, json.dumps(ALL_OPTIONAL), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(cwd)},
    )


def loaded_modules(result: subprocess.CompletedProcess[str]) -> list[str]:
    match = re.search(r"^LOADED=(.*)$", result.stderr, re.M)
    assert match, result.stderr
    loaded: list[str] = json.loads(match.group(1))
    return loaded


def test_validate_needs_no_extra(sample_repo: Path) -> None:
    result = run_light("validate", str(sample_repo), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["errors"] == 0
    assert loaded_modules(result) == []


def test_validate_against_a_base_revision_needs_no_extra(tmp_path: Path, sample_repo: Path) -> None:
    repo = tmp_path / "repo"
    subprocess.run(["cp", "-r", str(sample_repo), str(repo)], check=True)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    result = run_light("validate", str(repo), "--rev", "HEAD", "--base", "HEAD", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert loaded_modules(result) == []


def test_help_lists_every_command_without_extras() -> None:
    result = run_light("--help")
    assert result.returncode == 0, result.stderr
    for command in ("validate", "plan", "apply", "sessions", "run"):
        assert re.search(rf"^\s+{command}\s", result.stdout, re.M), result.stdout


@pytest.mark.parametrize(
    ("args", "extra", "missing"),
    [
        (["plan", "{repo}", "--target", "registry"], "registry", "psycopg"),
        (["apply", "{repo}", "--target", "cluster"], "cluster", "kubernetes"),
        (["plan", "{repo}"], "registry", "psycopg"),
        (["sessions", "{repo}"], "sessions", "redis"),
        (["run", "{repo}", "--once"], "daemon", "prometheus_client"),
        (["validate", "{repo}", "--token", "not-a-jwt"], "token", "jwt"),
    ],
)
def test_a_missing_extra_is_named(sample_repo: Path, args: list[str], extra: str, missing: str) -> None:
    result = run_light(*[arg.replace("{repo}", str(sample_repo)) for arg in args])
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    message = next(line for line in result.stderr.splitlines() if line.startswith("mcp-gitops: error:"))
    assert f"mcp-gitops[{extra}]" in message and f"pip install 'mcp-gitops[{extra}]'" in message
    assert missing in message


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_pyproject_extras_match_the_modules_checked() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras: dict[str, list[str]] = project["optional-dependencies"]
    provided_by: dict[str, set[str]] = {}
    for module, distributions in packages_distributions().items():
        for distribution in distributions:
            provided_by.setdefault(distribution.lower().replace("_", "-"), set()).add(module)

    for extra, modules in EXTRA_MODULES.items():
        names = [_requirement_name(requirement) for requirement in extras[extra]]
        included = {
            inner.strip()
            for requirement in extras[extra]
            if _requirement_name(requirement) == "mcp-gitops"
            for inner in requirement[requirement.index("[") + 1 : requirement.index("]")].split(",")
        }
        assert included == set(INCLUDED_EXTRAS.get(extra, ())), extra
        for name in names:
            if name != "mcp-gitops":
                # every distribution of the extra is one require_extra looks for
                assert provided_by.get(name, set()) & set(modules), (extra, name)
    # the light install brings none of the optional modules
    for requirement in project["dependencies"]:
        assert not provided_by.get(_requirement_name(requirement), set()) & set(ALL_OPTIONAL), requirement
    # `all` installs every extra, and the test extra installs `all`
    assert set(modules_of("daemon")) | set(EXTRA_MODULES["token"]) == set(ALL_OPTIONAL)
    assert extras["all"] == ["mcp-gitops[token,daemon]"]
    assert "mcp-gitops[all]" in extras["test"]
