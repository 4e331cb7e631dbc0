"""The conventions users bring from kubectl, conftest and kubeconform: `-o FORMAT`, extra reports
with `--report`, `-q`/`-v`, the repository root found from a subfolder, file arguments as pre-commit
passes them, 1-based positions, one path root in every format, plurals, one exit-code table."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import COMMANDS, cli
from tests.builders import CONFIG, entry, git, mcpserver, write_repo
from tests.harness.kube import KubeCluster

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A Git checkout whose configuration repository is the `config/` subfolder; one entry lacks
    claims (one error), and two files define the same name@version (a cross-file rule)."""
    root = write_repo(
        tmp_path / "checkout" / "config",
        entries={
            "ok.json": entry("io.github.acme/ok"),
            "no-claims.json": entry("io.github.acme/bare", claims=None),
            "dup-a.json": entry("io.github.acme/dup"),
            "dup-b.json": entry("io.github.acme/dup"),
        },
    )
    git(tmp_path / "checkout", "init", "-q")
    return root


def test_output_selects_the_format_and_report_writes_files(repo: Path, tmp_path: Path) -> None:
    code, out, _ = run("validate", str(repo), "-o", "json")
    # the entry without claims also lacks its managed source's (claims-reset-on-restart)
    assert code == 1 and json.loads(out)["summary"]["errors"] == 4
    assert json.loads(run("validate", str(repo), "--output", "json")[1]) == json.loads(out)
    sarif, junit = tmp_path / "r.sarif", tmp_path / "r.xml"
    code, out, _ = run("validate", str(repo), "--report", f"sarif:{sarif}", "--report", str(junit))
    assert json.loads(sarif.read_text())["version"] == "2.1.0"
    assert ET.fromstring(junit.read_text()).tag == "testsuites"
    assert "5 files: 4 errors, 0 warnings, 0 infos" in out
    assert run("validate", str(repo), "--report", "nosuffix")[0] == 2


def test_quiet_and_verbose(repo: Path) -> None:
    code, out, err = run("validate", str(repo), "-q")
    assert (code, out, err) == (1, "", "")
    code, out, err = run("validate", str(repo), "-v")
    assert code == 1 and out and re.search(r"validated .*config in \d+\.\d+ s", err)


def test_the_repository_root_is_found_from_a_subfolder(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "mcp-gitops.yaml").write_text("{}\n")
    monkeypatch.chdir(repo / "entries")
    code, out, _ = run("validate", "-o", "json")
    assert code == 1
    assert {f["path"] for f in json.loads(out)["findings"]} == {
        "config/entries/no-claims.json",
        "config/entries/dup-a.json",
        "config/entries/dup-b.json",
    }
    # without a settings file, the Git work tree's top is the root
    (repo / "mcp-gitops.yaml").unlink()
    monkeypatch.chdir(repo.parent)
    (repo.parent / "registry.yaml").write_text((repo / "registry.yaml").read_text())
    code, out, _ = run("validate", "-o", "json")
    assert code == 0 and json.loads(out)["summary"]["files"] == 1


def test_file_arguments_report_only_those_files_evaluated_with_the_whole_repository(repo: Path) -> None:
    (repo / "mcp-gitops.yaml").write_text("{}\n")  # marks config/ as the repository root
    code, out, _ = run("validate", "-o", "json", str(repo / "entries" / "dup-a.json"))
    # duplicate-version needs the other file to be seen; only this file's finding is reported
    assert code == 1
    assert [(f["rule"], f["path"]) for f in json.loads(out)["findings"]] == [
        ("duplicate-version", "config/entries/dup-a.json")
    ]
    assert run("validate", "-o", "json", str(repo / "entries" / "ok.json"))[0] == 0
    assert run("validate", str(repo / "entries" / "missing.json"))[0] == 2
    assert run("validate", str(repo), str(repo / "entries" / "ok.json"))[0] == 2


def test_every_format_uses_one_path_root_and_1_based_positions(repo: Path) -> None:
    (repo / "entries" / "broken.yaml").write_bytes(b"\xff\xfe not utf-8")  # a whole-file finding
    expected = "config/entries/broken.yaml"
    text = run("validate", str(repo), "-o", "text")[1]
    assert f"{expected}:1:1: error encoding" in text
    found = json.loads(run("validate", str(repo), "-o", "json")[1])["findings"]
    assert {(f["path"], f["line"], f["column"]) for f in found if f["rule"] == "encoding"} == {
        (expected, 1, 1)
    }
    assert f"file={expected},line=1,col=1," in run("validate", str(repo), "-o", "github")[1]
    sarif = json.loads(run("validate", str(repo), "-o", "sarif")[1])
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in sarif["runs"][0]["results"]
    }
    assert expected in uris
    junit = ET.fromstring(run("validate", str(repo), "-o", "junit")[1])
    assert expected in {case.get("file") for case in junit.iter("testcase")}


def test_plurals(tmp_path: Path) -> None:
    # a managed source without claims, like the entry: one error (claims-required), one warning (the
    # source without claims under authorization)
    config = copy.deepcopy(CONFIG)
    del config["sources"][0]["claims"]
    root = write_repo(tmp_path, config=config, entries={"a.json": entry(claims=None)})
    out = run("validate", str(root))[1]
    assert out.rstrip().endswith(
        "2 files: 1 error, 1 warning, 0 infos; not judged without a token: claims-change-not-covered, "
        "claims-not-covered, entry-removal-not-covered, publish-source-gate, publish-token-role (pass "
        "--token with the publisher's JWT to check that it covers the entries' claims)"
    )


def test_every_command_has_its_exit_codes_in_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = {m.group(1) for m in re.finditer(r"^\| `(?:mcp-gitops )?([a-z]+)[^`]*` \|", section, re.M)}
    assert set(COMMANDS) <= rows, set(COMMANDS) - rows


# --- less noise -----------------------------------------------------------------------------------


@pytest.mark.kube
def test_tls_verification_off_is_one_clear_warning_not_one_per_request(
    kube: KubeCluster, kube_namespace: str, tmp_path: Path
) -> None:
    import yaml

    config = yaml.safe_load(kube.kubeconfig.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"].pop("certificate-authority", None)
        cluster["cluster"].pop("certificate-authority-data", None)
        cluster["cluster"]["insecure-skip-tls-verify"] = True
    insecure = tmp_path / "insecure-kubeconfig"
    insecure.write_text(yaml.safe_dump(config))
    manifests = {f"s{i}.json": mcpserver(f"s{i}") for i in range(3)}
    for body in manifests.values():
        body["metadata"]["namespace"] = kube_namespace
    repo = write_repo(tmp_path / "repo", manifests=manifests)
    main = "import sys; from reconciler.cli import main; sys.exit(main())"
    flags = ["--target", "cluster", "--kubeconfig", str(insecure), "--context", str(kube.context)]
    done = subprocess.run(
        [sys.executable, "-c", main, "plan", str(repo), *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr  # changes: the servers are new
    assert "InsecureRequestWarning" not in done.stderr
    assert done.stderr.count("TLS verification is off") == 1, done.stderr


def test_line_numbers_right_after_a_flow_style_document_on_a_marker_line(tmp_path: Path) -> None:
    text = (
        "--- {apiVersion: toolhive.stacklok.dev/v1beta1, kind: MCPGroup, metadata: {name: g}, spec: {}}\n"
        "---\n"
        "apiVersion: toolhive.stacklok.dev/v1beta1\n"
        "kind: MCPServer\n"
        "metadata:\n"
        "  name: s\n"
        "spec:\n"
        "  image: ghcr.io/acme/s:1\n"
        "  replcas: 2\n"
        "--- {apiVersion: toolhive.stacklok.dev/v1beta1, kind: MCPGroup, metadata: {name: h}, spek: {}}\n"
    )
    root = write_repo(tmp_path, manifests={"all.yaml": text})
    found = json.loads(run("validate", str(root), "-o", "json")[1])["findings"]
    places = {(f["line"], f["column"]) for f in found if f["rule"] == "crd-schema"}
    assert places == {(9, 3), (10, 86)}, found  # the misspelt keys, not 1:1
