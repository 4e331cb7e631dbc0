"""`mcp-gitops diff` on a repository with a history: exactly what differs, with old and new values,
never a secret value; exit codes 0/1/2; the markdown comment under GitHub's limit."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.diff.render import COMMENT_LIMIT, COMMENT_MARKER
from tests.builders import entry, git, mcpserver, write_repo

ROOT = Path(__file__).resolve().parent.parent
SECRET_VALUE = "s3cr3t-hunter2"


def diff(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["diff", *args])
    return result.exit_code, result.output


def commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)
    return git(root, "rev-parse", "HEAD")


@pytest.fixture
def history(tmp_path: Path) -> dict[str, Any]:
    root = tmp_path / "repo"
    with_env = mcpserver("fetch", replicas=1)
    with_env["spec"]["env"] = [{"name": "API_TOKEN", "value": "old-" + SECRET_VALUE}]
    write_repo(
        root,
        entries={
            "kept.json": entry("io.github.acme/kept"),
            "changed.json": entry("io.github.acme/changed", claims={"org": "acme"}),
            "removed.json": entry("io.github.acme/removed"),
        },
        manifests={"fetch.json": with_env, "gone.json": mcpserver("gone")},
    )
    git(root, "init", "-q", "-b", "main")
    base = commit(root, "base")
    git(root, "checkout", "-q", "-b", "feature")
    changed = entry("io.github.acme/changed", claims={"org": "acme", "team": ["data"]})
    changed["server"]["description"] = "A changed tool"
    changed["server"]["packages"][0]["environmentVariables"] = [
        {"name": "SERVICE_PASSWORD", "value": SECRET_VALUE}
    ]
    (root / "entries" / "changed.json").write_text(json.dumps(changed))
    (root / "entries" / "removed.json").unlink()
    (root / "entries" / "added.json").write_text(json.dumps(entry("io.github.acme/added", version="2.0.0")))
    # the same entry, reformatted: nothing for the registry
    (root / "entries" / "kept.json").write_text(json.dumps(entry("io.github.acme/kept"), indent=8))
    fetch = mcpserver("fetch", replicas=3)
    fetch["spec"]["env"] = [{"name": "API_TOKEN", "value": "new-" + SECRET_VALUE}]
    (root / "manifests" / "fetch.json").write_text(json.dumps(fetch))
    (root / "manifests" / "gone.json").unlink()
    (root / "manifests" / "new.json").write_text(json.dumps(mcpserver("new")))
    head = commit(root, "head")
    return {"root": root, "base": base, "head": head}


def test_lists_exactly_what_differs_with_old_and_new_values(history: dict[str, Any]) -> None:
    code, out = diff(str(history["root"]), "--base", history["base"], "--rev", history["head"], "-o", "json")
    assert code == 1, out
    report = json.loads(out)
    changes = {(c["target"], c["kind"], c["key"], c["action"]): c for c in report["changes"]}
    assert set(changes) == {
        ("registry", "entry", "io.github.acme/added", "added"),
        ("registry", "version", "io.github.acme/added@2.0.0", "added"),
        ("registry", "entry", "io.github.acme/changed", "changed"),
        ("registry", "version", "io.github.acme/changed@1.0.0", "changed"),
        ("registry", "entry", "io.github.acme/removed", "removed"),
        ("registry", "version", "io.github.acme/removed@1.0.0", "removed"),
        ("cluster", "MCPServer", "toolhive-system/fetch", "changed"),
        ("cluster", "MCPServer", "toolhive-system/gone", "removed"),
        ("cluster", "MCPServer", "toolhive-system/new", "added"),
    }
    claims = changes[("registry", "entry", "io.github.acme/changed", "changed")]["claims"]
    assert claims == {"before": {"org": "acme"}, "after": {"org": "acme", "team": ["data"]}}
    assert changes[("registry", "entry", "io.github.acme/added", "added")]["claims"] == {
        "before": None,
        "after": {"org": "acme", "team": ["platform"]},
    }
    version = changes[("registry", "version", "io.github.acme/changed@1.0.0", "changed")]
    assert version["path"] == "entries/changed.json"
    fields = {f["field"]: f for f in version["fields"]}
    assert fields["description"] == {
        "field": "description",
        "before": "A tool for tests",
        "after": "A changed tool",
    }
    assert fields["packages[0].environmentVariables"]["after"] == [
        {"name": "SERVICE_PASSWORD", "value": "(secret)"}
    ]
    assert set(fields) == {"description", "packages[0].environmentVariables"}
    server = changes[("cluster", "MCPServer", "toolhive-system/fetch", "changed")]
    server_fields = {f["field"]: f for f in server["fields"]}
    assert server_fields["spec.replicas"] == {"field": "spec.replicas", "before": 1, "after": 3}
    assert server_fields["spec.env[0].value"] == {
        "field": "spec.env[0].value",
        "before": "(secret)",
        "after": "(secret)",
    }
    assert set(server_fields) == {"spec.replicas", "spec.env[0].value"}
    # the planted credentials are findings; the one in the changed entry is new, the manifest's is
    # not; three replicas without Redis bring the scaling warnings; the changed entry's claims differ
    # from its managed source's (claims-reset-on-restart, in the base already)
    assert report["summary"] == {"added": 3, "removed": 3, "changed": 3, "errors": 3}
    assert [(f["rule"], f["path"]) for f in report["findings"]["introduced"]] == [
        ("secret-in-repo", "entries/changed.json"),
        ("drain-window", "manifests/fetch.json"),
        ("session-storage-missing", "manifests/fetch.json"),
    ]
    assert report["findings"]["fixed"] == []
    assert SECRET_VALUE not in out


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_text_and_markdown_show_values_never_secrets(history: dict[str, Any], fmt: str) -> None:
    code, out = diff(str(history["root"]), "--base", history["base"], "--rev", history["head"], "-o", fmt)
    assert code == 1
    assert "A changed tool" in out and SECRET_VALUE not in out
    assert '{"org": "acme"}' in out or '{"org":"acme"}' in out
    if fmt == "markdown":
        assert out.startswith(COMMENT_MARKER)
    else:
        assert out.rstrip().endswith(
            "9 changes (3 added, 3 changed, 3 removed); 3 findings introduced, 0 fixed; "
            "the revision has 3 errors: apply would refuse it"
        )
        assert "spec.replicas: 1 -> 3" in out


def test_no_change_is_exit_0_and_defaults_to_the_merge_base_and_work_tree(
    history: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = history["root"]
    git(root, "checkout", "-q", "main")
    # on the default branch, with a clean work tree: nothing would change
    monkeypatch.chdir(root / "entries")  # the repository root is found by walking up
    assert diff()[0] == 0
    git(root, "checkout", "-q", "feature")
    code, out = diff("-o", "json")
    assert code == 1
    assert json.loads(out)["base"] == history["base"]
    assert json.loads(out)["revision"] is None


def test_findings_introduced_and_fixed(history: dict[str, Any]) -> None:
    root = history["root"]
    broken = mcpserver("new")
    broken["spec"]["replcas"] = 2
    (root / "manifests" / "new.json").write_text(json.dumps(broken))
    code, out = diff(str(root), "--base", history["head"], "-o", "json")
    assert code == 1
    report = json.loads(out)
    assert [(f["rule"], f["path"]) for f in report["findings"]["introduced"]] == [
        ("crd-schema", "manifests/new.json")  # manifests are checked against the operator's CRDs
    ]
    assert report["summary"]["errors"] == 4
    code, out = diff(str(root), "--base", "HEAD", "--rev", history["head"], "-o", "json")
    assert json.loads(out)["findings"] == {"introduced": [], "fixed": []}


def test_errors_are_exit_2(history: dict[str, Any], tmp_path: Path) -> None:
    code, out = diff(str(history["root"]), "--base", "no-such-revision")
    assert code == 2 and "no-such-revision" in out
    plain = tmp_path / "plain"
    write_repo(plain)
    code, out = diff(str(plain))
    assert code == 2 and "Git" in out


def test_markdown_stays_under_the_comment_limit_on_a_5000_entry_change(tmp_path: Path) -> None:
    root = tmp_path / "big"
    write_repo(root)
    git(root, "init", "-q", "-b", "main")
    base = commit(root, "empty")
    entries = root / "entries"
    for index in range(5000):
        (entries / f"e{index}.json").write_text(json.dumps(entry(f"io.github.acme/tool-{index:04d}")))
    commit(root, "5000 entries")
    # The real command, in its own process: the test process does not keep a 10,000-change diff (the
    # memory tests measure children forked from it).
    main = "import sys; from reconciler.cli import main; sys.exit(main())"

    def command(fmt: str) -> subprocess.CompletedProcess[str]:
        args = [sys.executable, "-c", main, "diff", str(root), "--base", base, "--rev", "HEAD", "-o", fmt]
        return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)

    as_json = json.loads(command("json").stdout)
    assert len(as_json["changes"]) == 10000
    done = command("markdown")
    assert done.returncode == 1, done.stderr
    text = done.stdout
    assert len(text) <= COMMENT_LIMIT
    cut = re.search(r"> \*\*Cut:\*\* (\d+) of (\d+) items shown", text)
    assert cut is not None
    findings = as_json["findings"]
    assert int(cut.group(2)) == 10000 + len(findings["introduced"]) + len(findings["fixed"])
    assert 0 < int(cut.group(1)) < 10000
    # grouped by target, each long change collapsed
    assert (
        "### Registry (10000 changes)" in text
        and "<details><summary>+ version io.github.acme/tool-0000@1.0.0 (5 fields)" in text
    )


def test_quiet_prints_nothing_and_keeps_the_exit_code(history: dict[str, Any]) -> None:
    result = CliRunner().invoke(
        cli, ["diff", str(history["root"]), "--base", history["base"], "--rev", history["head"], "-q"]
    )
    assert (result.exit_code, result.stdout) == (1, "")
    verbose = CliRunner().invoke(
        cli, ["diff", str(history["root"]), "--base", history["base"], "--rev", history["head"], "-v"]
    )
    assert verbose.exit_code == 1 and "compared " in verbose.stderr


def test_paths_are_relative_to_the_checkout_like_every_report(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    write_repo(checkout / "config", entries={"a.json": entry("io.github.acme/a")})
    git(checkout, "init", "-q", "-b", "main")
    base = commit(checkout, "base")
    (checkout / "config" / "entries" / "b.json").write_text(
        json.dumps(entry("io.github.acme/b", claims=None))
    )
    code, out = diff(str(checkout / "config"), "--base", base, "-o", "json")
    assert code == 1
    report = json.loads(out)
    assert {c["path"] for c in report["changes"]} == {"config/entries/b.json"}
    # no claims: required, and not those of the managed source (claims-reset-on-restart)
    assert [f["path"] for f in report["findings"]["introduced"]] == ["config/entries/b.json"] * 2
