"""The GitHub Action, run locally: action.yml's wiring, and scripts/action-run.sh in a simulated GitHub
environment (GITHUB_WORKSPACE, GITHUB_EVENT_PATH with a pull_request event, GITHUB_OUTPUT,
GITHUB_STEP_SUMMARY, RUNNER_TEMP).

Two layers:
- with a stand-in `mcp-gitops` that renders a canned report through the real renderers, the script's
  own logic (inputs, base from the event, token handling, outputs, summary, exit codes) is tested on its
  own;
- with the real `mcp-gitops validate`, on a Git copy of sample-repo (clean) and on a broken commit on
  top of it (a pull request): outputs, summary, SARIF and exit code. These run once the validate
  command and sample-repo exist.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "action-run.sh"
ACTION = ROOT / "action.yml"

# A stand-in for the CLI: honours the validate contract (-o FORMAT to stdout, --report FORMAT:FILE,
# --fail-on, exit 0/1/2) with findings from FAKE_FINDINGS, and records what it was given.
FAKE_CLI = """\
import json, os, sys
from pathlib import Path
from reconciler.findings import Finding, Report, Severity
from reconciler.report import ReportContext, renderer

args = sys.argv[1:]
if args[0] != "validate":  # diff and the comment are the real commands
    from reconciler.cli import main
    main(args)
record = {"argv": args}
if "--token" in args:
    record["token"] = Path(args[args.index("--token") + 1].lstrip("@")).read_text()
if "--jwks" in args:
    record["jwks"] = Path(args[args.index("--jwks") + 1]).read_text()
Path(os.environ["FAKE_RECORD"]).write_text(json.dumps(record))
if os.environ.get("FAKE_EXIT"):
    print("mcp-gitops: error: cannot read repository", file=sys.stderr)
    sys.exit(int(os.environ["FAKE_EXIT"]))
canned = json.loads(os.environ["FAKE_FINDINGS"])
findings = [Finding(**{**f, "severity": Severity(f["severity"])}) for f in canned]
report = Report(findings, files=5)
context = ReportContext(root=args[1])
fmt = args[args.index("-o") + 1]
sys.stdout.write(renderer(fmt)(report, context))
for i, arg in enumerate(args):
    if arg == "--report":
        name, _, path = args[i + 1].partition(":")
        Path(path).write_text(renderer(name)(report, context))
fail_on = Severity(args[args.index("--fail-on") + 1])
sys.exit(1 if report.fails(fail_on) else 0)
"""


@dataclass
class ActionRun:
    status: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str
    workspace: Path

    def annotations(self, command: str) -> list[str]:
        return [line for line in self.stdout.splitlines() if line.startswith(f"::{command} ")]


def write_cli(bin_dir: Path, body: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    cli = bin_dir / "mcp-gitops"
    cli.write_text(f"#!{sys.executable}\n{body}")
    cli.chmod(0o755)


def git(workspace: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
    }
    done = subprocess.run(
        ["git", "-C", str(workspace), *args], env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def commit_all(workspace: Path, message: str) -> str:
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "--allow-empty", "-m", message)
    return git(workspace, "rev-parse", "HEAD")


def run_action(
    tmp_path: Path,
    workspace: Path,
    bin_dir: Path,
    inputs: dict[str, str] | None = None,
    event: dict[str, Any] | None = None,
    extra_env: dict[str, str] | None = None,
) -> ActionRun:
    """Run the action's validate step the way the runner would."""
    github_dir = tmp_path / "github"
    github_dir.mkdir(exist_ok=True)
    outputs_file, summary_file, event_file = (github_dir / n for n in ("output", "summary.md", "event.json"))
    outputs_file.write_text("")
    summary_file.write_text("")
    event_file.write_text(json.dumps(event if event is not None else {"action": "opened"}))
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir(exist_ok=True)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_"))}
    env.update(
        {
            "PATH": os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), env.get("PATH", "")]),
            "PYTHONPATH": str(ROOT),
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": str(event_file),
            "GITHUB_OUTPUT": str(outputs_file),
            "GITHUB_STEP_SUMMARY": str(summary_file),
            "GITHUB_ACTION_PATH": str(ROOT),
            "RUNNER_TEMP": str(runner_temp),
        }
    )
    # action.yml passes every input, defaulted, as INPUT_*; mirror its defaults.
    defaults = {
        "path": ".",
        "base-ref": "",
        "token": "",
        "jwks": "",
        "fail-on": "error",
        "sarif-file": "mcp-gitops.sarif",
    }
    for name, value in {**defaults, **(inputs or {})}.items():
        env["INPUT_" + name.upper().replace("-", "_")] = value
    env.update(extra_env or {})

    done = subprocess.run(
        ["bash", str(SCRIPT)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    outputs = dict(line.split("=", 1) for line in outputs_file.read_text().splitlines() if line)
    assert list(runner_temp.iterdir()) == [], "the script leaves no temporary files (the token among them)"
    return ActionRun(done.returncode, done.stdout, done.stderr, outputs, summary_file.read_text(), workspace)


# --- action.yml and the pre-commit hook ----------------------------------------------------------


def test_action_metadata() -> None:
    action = yaml.safe_load(ACTION.read_text())
    inputs = action["inputs"]
    assert set(inputs) == {
        "path",
        "base-ref",
        "token",
        "jwks",
        "fail-on",
        "sarif-file",
        "comment",
        "github-token",
        "python-version",
    }
    assert inputs["comment"]["default"] == "true"
    assert inputs["github-token"]["default"] == "${{ github.token }}"
    assert inputs["path"]["default"] == "."
    assert inputs["base-ref"]["default"] == "${{ github.event.pull_request.base.sha }}"
    assert inputs["fail-on"]["default"] == "error"
    assert inputs["sarif-file"]["default"] == "mcp-gitops.sarif"
    assert inputs["python-version"]["default"] == "3.11"
    assert all(spec.get("description") for spec in inputs.values())

    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    assert steps[0]["uses"].startswith("actions/setup-python@")
    assert steps[0]["with"]["python-version"] == "${{ inputs.python-version }}"
    for step in steps:
        if "run" in step:
            assert step["shell"] == "bash"
            # Inputs reach scripts through env only: `${{ }}` inside `run` would be script injection.
            assert "${{" not in step["run"]
    install = next(s for s in steps if "pip install" in s.get("run", ""))
    assert '"$GITHUB_ACTION_PATH"' in install["run"]

    validate = next(s for s in steps if s.get("id") == "validate")
    assert "scripts/action-run.sh" in validate["run"]
    for name in inputs:
        if name != "python-version":
            variable = "INPUT_" + name.upper().replace("-", "_")
            assert validate["env"][variable] == f"${{{{ inputs.{name} }}}}"
    for name in ("errors", "warnings", "sarif-file"):
        assert action["outputs"][name]["value"] == f"${{{{ steps.validate.outputs.{name} }}}}"
    assert SCRIPT.exists()


def test_pre_commit_hook() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "mcp-gitops-validate")
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is True  # validate reports on the files, evaluating the whole repository
    assert hook["entry"] == "mcp-gitops validate"


def test_documented_workflow() -> None:
    text = (ROOT / "docs" / "github-action.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert block, "docs/github-action.md shows a workflow"
    workflow = yaml.safe_load(block.group(1))
    steps = workflow["jobs"]["validate"]["steps"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    action = next(s for s in steps if s.get("uses", "").startswith("mcp-gitops/mcp-gitops@"))
    upload = next(s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif@"))
    assert upload["with"]["sarif_file"] == f"${{{{ steps.{action['id']}.outputs.sarif-file }}}}"
    assert "always()" in upload["if"]
    assert workflow["permissions"]["security-events"] == "write"


# --- the script, with a stand-in CLI -------------------------------------------------------------

FAKE_FINDINGS = [
    {
        "rule": "schema",
        "severity": "error",
        "path": "entries/a.yaml",
        "line": 7,
        "column": 3,
        "message": "unknown field 'replcas'; did you mean 'replicas'?",
    },
    {
        "rule": "session-storage-missing",
        "severity": "warning",
        "path": "manifests/s.yaml",
        "line": 12,
        "column": 5,
        "message": "replicas: 3, no Redis",
    },
]


@pytest.fixture
def fake(tmp_path: Path) -> tuple[Path, Path]:
    """(workspace, bin dir) with the stand-in CLI; the workspace is a Git repository with one commit."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    git(workspace, "init", "-q")
    commit_all(workspace, "base")
    bin_dir = tmp_path / "bin"
    write_cli(bin_dir, FAKE_CLI)
    return workspace, bin_dir


def fake_env(tmp_path: Path, findings: list[dict[str, Any]], **extra: str) -> dict[str, str]:
    return {"FAKE_FINDINGS": json.dumps(findings), "FAKE_RECORD": str(tmp_path / "record.json"), **extra}


def recorded(tmp_path: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((tmp_path / "record.json").read_text())
    return result


def test_script_reports_findings_and_fails(tmp_path: Path, fake: tuple[Path, Path]) -> None:
    workspace, bin_dir = fake
    base = git(workspace, "rev-parse", "HEAD")
    event = {"pull_request": {"base": {"sha": base}, "head": {"sha": base}}}
    run = run_action(tmp_path, workspace, bin_dir, event=event, extra_env=fake_env(tmp_path, FAKE_FINDINGS))

    assert run.status == 1, run.stderr
    assert run.outputs == {"errors": "1", "warnings": "1", "sarif-file": "mcp-gitops.sarif"}
    assert run.annotations("error") == [
        "::error file=entries/a.yaml,line=7,col=3,title=schema::"
        "unknown field 'replcas'; did you mean 'replicas'?"
    ]
    assert len(run.annotations("warning")) == 1
    assert "## mcp-gitops validate" in run.summary and "entries/a.yaml" in run.summary
    sarif_log = json.loads((workspace / "mcp-gitops.sarif").read_text())
    assert len(sarif_log["runs"][0]["results"]) == 2

    argv = recorded(tmp_path)["argv"]
    # One validation, the pull request's base taken from the event, every report from that one run.
    assert argv[:2] == ["validate", "."]
    assert argv[argv.index("--base") + 1] == base
    assert argv[argv.index("-o") + 1] == "github"
    outputs = [argv[i + 1].split(":", 1)[0] for i, a in enumerate(argv) if a == "--report"]
    assert sorted(outputs) == ["json", "markdown", "sarif"]


def test_script_clean_run(tmp_path: Path, fake: tuple[Path, Path]) -> None:
    workspace, bin_dir = fake
    run = run_action(tmp_path, workspace, bin_dir, extra_env=fake_env(tmp_path, []))
    assert run.status == 0, run.stderr
    assert run.outputs == {"errors": "0", "warnings": "0", "sarif-file": "mcp-gitops.sarif"}
    assert "✅" in run.summary
    assert "--base" not in recorded(tmp_path)["argv"]  # not a pull request: nothing to compare with


def test_script_fail_on_warning(tmp_path: Path, fake: tuple[Path, Path]) -> None:
    workspace, bin_dir = fake
    warnings_only = FAKE_FINDINGS[1:]
    env = fake_env(tmp_path, warnings_only)
    assert run_action(tmp_path, workspace, bin_dir, extra_env=env).status == 0
    run = run_action(tmp_path, workspace, bin_dir, inputs={"fail-on": "warning"}, extra_env=env)
    assert run.status == 1
    assert run.outputs["warnings"] == "1"


def test_script_passes_token_privately_and_jwks(tmp_path: Path, fake: tuple[Path, Path]) -> None:
    workspace, bin_dir = fake
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjaSJ9.c2ln"
    jwks = '{"keys": []}'
    run = run_action(
        tmp_path, workspace, bin_dir, inputs={"token": token, "jwks": jwks}, extra_env=fake_env(tmp_path, [])
    )
    assert run.status == 0, run.stderr
    record = recorded(tmp_path)
    assert token not in record["argv"], "the token never appears on a command line"
    assert record["token"] == token
    assert record["jwks"] == jwks
    assert f"::add-mask::{token}" in run.stdout

    (workspace / "keys.json").write_text(jwks)
    run_action(tmp_path, workspace, bin_dir, inputs={"jwks": "keys.json"}, extra_env=fake_env(tmp_path, []))
    argv = recorded(tmp_path)["argv"]
    assert argv[argv.index("--jwks") + 1] == "keys.json"


def test_script_custom_sarif_path_and_subfolder(tmp_path: Path, fake: tuple[Path, Path]) -> None:
    workspace, bin_dir = fake
    (workspace / "config").mkdir()
    inputs = {"path": "config", "sarif-file": "reports/out.sarif"}
    run = run_action(tmp_path, workspace, bin_dir, inputs=inputs, extra_env=fake_env(tmp_path, FAKE_FINDINGS))
    assert run.outputs["sarif-file"] == "reports/out.sarif"
    assert (workspace / "reports" / "out.sarif").is_file()
    # Annotations point at files in the checkout, not in the validated subfolder.
    assert run.annotations("error")[0].startswith("::error file=config/entries/a.yaml,")


def test_script_tool_error_keeps_exit_2(tmp_path: Path, fake: tuple[Path, Path]) -> None:
    workspace, bin_dir = fake
    run = run_action(tmp_path, workspace, bin_dir, extra_env=fake_env(tmp_path, [], FAKE_EXIT="2"))
    assert run.status == 2
    assert "errors" not in run.outputs and "sarif-file" not in run.outputs
    assert "exit code 2" in run.summary
    # validate's own reason is quoted where the user looks first.
    assert "cannot read repository" in run.annotations("error")[0]
    assert "cannot read repository" in run.summary


def test_script_never_reports_a_stale_sarif_file(tmp_path: Path, fake: tuple[Path, Path]) -> None:
    workspace, bin_dir = fake
    (workspace / "mcp-gitops.sarif").write_text("{}")
    run = run_action(tmp_path, workspace, bin_dir, extra_env=fake_env(tmp_path, [], FAKE_EXIT="2"))
    assert "sarif-file" not in run.outputs
    assert not (workspace / "mcp-gitops.sarif").exists()


def test_script_rejects_bad_fail_on(tmp_path: Path, fake: tuple[Path, Path]) -> None:
    workspace, bin_dir = fake
    run = run_action(
        tmp_path, workspace, bin_dir, inputs={"fail-on": "info"}, extra_env=fake_env(tmp_path, [])
    )
    assert run.status == 2
    assert run.annotations("error") and "fail-on" in run.stdout
    assert not (tmp_path / "record.json").exists(), "validate is not run"


def test_script_explains_a_missing_base_commit(tmp_path: Path, fake: tuple[Path, Path]) -> None:
    workspace, bin_dir = fake
    missing = "0" * 40
    run = run_action(
        tmp_path, workspace, bin_dir, inputs={"base-ref": missing}, extra_env=fake_env(tmp_path, [])
    )
    assert run.status == 2
    assert "fetch-depth: 0" in run.stdout and "fetch-depth: 0" in run.summary
    assert not (tmp_path / "record.json").exists()


# --- end to end, with the real validate command ---------------------------------------------------

REAL_CLI = """\
import sys
from reconciler.cli import main
sys.exit(main())
"""


def write_small_repo(root: Path) -> None:
    """A config repository from tests/builders.py: one entry and a scaled MCPServer with Redis."""
    from tests.builders import REDIS, entry, group, mcpserver, vmcp, write_repo

    write_repo(
        root,
        entries={"tool.yaml": entry()},
        manifests={"servers.yaml": [mcpserver(replicas=2, sessionStorage=REDIS), group(), vmcp()]},
    )


@dataclass
class PullRequest:
    workspace: Path
    path: str  # the action's `path` input: where the config repository sits in the checkout
    bin_dir: Path
    event: dict[str, Any]

    @property
    def repo(self) -> Path:
        return self.workspace / self.path


@pytest.fixture(params=["sample-repo", "small", "small-in-subfolder"])
def pull_request(request: pytest.FixtureRequest, tmp_path: Path) -> PullRequest:
    """A Git checkout whose first commit is the pull request's base, with the real CLI on PATH."""
    workspace = tmp_path / "workspace"
    path = "config" if request.param == "small-in-subfolder" else "."
    if request.param == "sample-repo":
        shutil.copytree(ROOT / "sample-repo", workspace)
    else:
        write_small_repo(workspace / path)
    git(workspace, "init", "-q")
    base = commit_all(workspace, "base")
    bin_dir = tmp_path / "bin"
    write_cli(bin_dir, REAL_CLI)
    event = {"action": "synchronize", "pull_request": {"number": 1, "base": {"sha": base}}}
    return PullRequest(workspace, path, bin_dir, event)


def sarif_results(run: ActionRun) -> list[dict[str, Any]]:
    log = json.loads((run.workspace / run.outputs["sarif-file"]).read_text())
    results: list[dict[str, Any]] = log["runs"][0]["results"]
    return results


def test_action_on_a_clean_pull_request(tmp_path: Path, pull_request: PullRequest) -> None:
    pr = pull_request
    git(pr.workspace, "commit", "-q", "--allow-empty", "-m", "no change")
    run = run_action(tmp_path, pr.workspace, pr.bin_dir, inputs={"path": pr.path}, event=pr.event)

    assert run.status == 0, run.stdout + run.stderr
    assert run.outputs["errors"] == "0"
    assert run.outputs["warnings"] == str(len(run.annotations("warning")))
    assert run.outputs["sarif-file"] == "mcp-gitops.sarif"
    assert run.annotations("error") == []
    assert [r for r in sarif_results(run) if r["level"] == "error"] == []
    assert run.summary.startswith("## mcp-gitops validate")
    assert "0 errors" in run.summary


REPLICAS_KEY = re.compile(r'^\s*"?replicas"?\s*:')


@dataclass
class Faults:
    manifest: str  # a file with a misspelt key ...
    manifest_line: int  # ... on this line
    broken: str  # a file with a syntax error ...
    broken_line: int  # ... on this line


def plant_faults(repo: Path) -> Faults:
    """Break a config repository: a misspelt key in an MCPServer manifest and a syntax error in another
    file, each on a known line. Paths are relative to `repo`."""
    candidates = sorted(
        p for p in repo.rglob("*") if p.suffix in (".yaml", ".yml", ".json") and ".git" not in p.parts
    )
    manifest = next(
        p
        for p in candidates
        if "MCPServer" in p.read_text() and any(REPLICAS_KEY.match(x) for x in p.read_text().splitlines())
    )
    lines = manifest.read_text().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if REPLICAS_KEY.match(line))
    lines[index] = lines[index].replace("replicas", "replcas", 1)
    manifest.write_text("".join(lines))

    other = next(
        p for p in candidates if p != manifest and p.name not in ("mcp-gitops.yaml", "registry.yaml")
    )
    text = other.read_text() + "\nbroken: [unclosed\n"
    other.write_text(text)
    return Faults(
        manifest=manifest.relative_to(repo).as_posix(),
        manifest_line=index + 1,
        broken=other.relative_to(repo).as_posix(),
        broken_line=text.splitlines().index("broken: [unclosed") + 1,
    )


def test_action_on_a_broken_pull_request(tmp_path: Path, pull_request: PullRequest) -> None:
    pr = pull_request
    faults = plant_faults(pr.repo)
    commit_all(pr.workspace, "break things")
    run = run_action(tmp_path, pr.workspace, pr.bin_dir, inputs={"path": pr.path}, event=pr.event)
    # Reports name files as they are in the checkout, so GitHub finds them.
    prefix = "" if pr.path == "." else pr.path + "/"
    manifest, broken = prefix + faults.manifest, prefix + faults.broken

    assert run.status == 1, run.stdout + run.stderr
    errors = run.annotations("error")
    assert run.outputs["errors"] == str(len(errors)) and len(errors) >= 2
    assert run.outputs["warnings"] == str(len(run.annotations("warning")))
    # Real line numbers, in the annotations that land on the pull request's diff.
    at_line = f"::error file={manifest},line={faults.manifest_line},"
    assert any(a.startswith(at_line) and "replcas" in a for a in errors), errors
    assert any(a.startswith(f"::error file={broken},line={faults.broken_line},") for a in errors), errors

    results = sarif_results(run)
    assert len([r for r in results if r["level"] == "error" and "suppressions" not in r]) == len(errors)
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert {manifest, broken} <= uris

    assert "❌" in run.summary
    assert manifest in run.summary and broken in run.summary
