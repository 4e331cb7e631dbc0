"""`mcp-gitops policies test`: a repository's own policy test cases, one passing and one failing."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from tests.builders import write_repo

POLICY = """\
id: replicas-limit
severity: warning
description: No server runs more than 10 replicas.
match:
  kinds: [MCPServer]
validations:
  - expression: "!has(object.spec.replicas) || object.spec.replicas <= 10"
    messageExpression: "'replicas is ' + string(object.spec.replicas) + ', the limit is 10'"
    fieldPath: spec.replicas
"""

SERVER = """\
apiVersion: toolhive.stacklok.dev/v1beta1
kind: MCPServer
metadata:
  name: big
  namespace: toolhive-system
spec:
  image: ghcr.io/acme/big:1.0.0
  transport: stdio
  replicas: {replicas}
"""

CASES = """\
cases:
  - name: twelve replicas are over the limit
    documents:
      manifests/big.yaml: |
{server_12}
    expect:
      - {{rule: replicas-limit, path: manifests/big.yaml, line: 9, severity: warning, message: "limit is 10"}}
  - name: two replicas pass (but the case wrongly expects a finding)
    documents:
      manifests/big.yaml: |
{server_2}
    expect:
      - {{rule: replicas-limit, path: manifests/big.yaml}}
"""


def _indent(text: str) -> str:
    return "\n".join("        " + line for line in text.splitlines())


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = write_repo(tmp_path / "repo", settings={"policies": ["my-policies"]})
    (root / "my-policies").mkdir()
    (root / "my-policies" / "replicas-limit.yaml").write_text(POLICY)
    (root / "policy-tests").mkdir()
    cases = CASES.format(
        server_12=_indent(SERVER.format(replicas=12)), server_2=_indent(SERVER.format(replicas=2))
    )
    (root / "policy-tests" / "replicas.yaml").write_text(cases)
    return root


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["policies", "test", *args])
    return result.exit_code, result.stdout, result.stderr


def test_a_passing_and_a_failing_case(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    code, out, _ = run()
    assert code == 1, out
    assert out.splitlines() == [
        "PASS replicas.yaml: twelve replicas are over the limit",
        "FAIL replicas.yaml: two replicas pass (but the case wrongly expects a finding)",
        "  missing:    manifests/big.yaml replicas-limit",
        "2 cases: 1 passed, 1 failed",
    ]


def test_all_passing_is_exit_0_and_unexpected_findings_fail(repo: Path) -> None:
    cases = repo / "policy-tests" / "replicas.yaml"
    text = cases.read_text()
    cases.write_text(
        text.replace("      - {rule: replicas-limit, path: manifests/big.yaml}\n", "      []\n").replace(
            "    expect:\n      []\n", "    expect: []\n"
        )
    )
    code, out, _ = run(str(repo / "policy-tests"))
    assert code == 0, out
    assert out.splitlines()[-1] == "2 cases: 2 passed, 0 failed"
    # a case expecting nothing where the policy reports something fails, naming the finding
    cases.write_text(cases.read_text().replace("line: 9", "line: 8"))
    code, out, _ = run(str(repo / "policy-tests"))
    assert code == 1
    assert "  missing:    manifests/big.yaml:8 replicas-limit warning 'limit is 10'" in out
    assert (
        "  unexpected: manifests/big.yaml:9 replicas-limit warning 'replicas is 12, the limit is 10'" in out
    )


def test_a_broken_test_file_is_exit_2_with_its_place(repo: Path) -> None:
    (repo / "policy-tests" / "broken.yaml").write_text("cases:\n  - name: x\n    documnts: {}\n")
    code, _, err = run(str(repo / "policy-tests"), "--repo", str(repo))
    assert code == 2 and "broken.yaml:3" in err and "documnts" in err
    assert run(str(repo / "nowhere"), "--repo", str(repo))[0] == 2
