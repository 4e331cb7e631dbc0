"""`mcp-gitops status` and `mcp-gitops reconcile` against a running daemon (a real `mcp-gitops run`
process on a watched folder, applying to a real PostgreSQL), and the signed POST /reconcile."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.daemon import reconcile_request
from tests.test_daemon_e2e import ROOT, _spawn, free_port, status_of, wait_for

SECRET = b"reconcile-secret"


def run(*args: str, **env: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env={"MCP_GITOPS_RECONCILE_SECRET": "", **env})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def daemon(tmp_path: Path, pg_url: str) -> Iterator[str]:
    folder = tmp_path / "config"
    shutil.copytree(ROOT / "sample-repo", folder)
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET)
    port = free_port()
    args = [str(folder), "--target", "registry", "--database-url", pg_url, "--state-dir", str(tmp_path / "s"),
            "--listen", f"127.0.0.1:{port}", "--leader-election", "none", "--interval", "1h",
            "--no-watch", "--reconcile-secret-file", str(secret)]  # fmt: skip
    process = _spawn(args, tmp_path / "daemon.log")
    try:
        wait_for(lambda: _cycles(port) >= 1, 60, "the first cycle")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(30)


def _cycles(port: int) -> int:
    try:
        return int(status_of(port)["cyclesCompleted"])
    except (OSError, AssertionError):
        return 0


@pytest.mark.postgres
def test_status_and_reconcile_against_a_running_daemon(daemon: str, tmp_path: Path) -> None:
    port = int(daemon.rsplit(":", 1)[1])
    code, out, _ = run("status", "--url", daemon)
    assert code == 0, out
    applied = status_of(port)["lastAppliedRevision"]
    assert f"last applied:   {applied[:12]}" in out
    assert f"last attempted: {applied[:12]}" in out
    assert "last outcome:   applied (ReconciliationSucceeded" in out
    assert "target registry: ok" in out
    assert "findings at" in out and "0 errors" in out
    code, out, _ = run("status", "--url", daemon, "-o", "json")
    status = json.loads(out)
    assert status["lastAppliedRevision"] == applied
    # claims coverage not judged is said in the summary, not as a finding, in the daemon's status too
    assert [f for f in status["findings"]["findings"] if f["rule"] == "coverage-not-judged"] == []
    assert status["findings"]["summary"]["notJudged"] == [
        "claims-change-not-covered",
        "claims-not-covered",
        "entry-removal-not-covered",
        "publish-source-gate",
        "publish-token-role",
    ]

    before = _cycles(port)
    secret_file = tmp_path / "secret"
    code, out, err = run("reconcile", "--url", daemon, "--secret-file", str(secret_file))
    assert code == 0, err
    assert "reconcile requested" in out
    wait_for(lambda: _cycles(port) > before, 30, "the requested cycle")
    assert status_of(port)["history"][0]["trigger"] == "request"

    # the secret from the environment works too; a wrong one is refused, and no cycle runs
    assert run("reconcile", "--url", daemon, MCP_GITOPS_RECONCILE_SECRET=SECRET.decode())[0] == 0
    wait_for(lambda: _cycles(port) > before + 1, 30, "the second requested cycle")
    settled = _cycles(port)
    code, _, err = run("reconcile", "--url", daemon, MCP_GITOPS_RECONCILE_SECRET="wrong")
    assert code == 2 and "refused the request (401)" in err
    assert _cycles(port) == settled


def test_unreachable_daemon_and_missing_secret_are_exit_2() -> None:
    code, _, err = run("status", "--url", "http://127.0.0.1:9")
    assert code == 2 and "cannot reach the daemon at http://127.0.0.1:9" in err
    code, _, err = run("reconcile", "--url", "http://127.0.0.1:9")
    assert code == 2 and "no secret" in err


def test_reconcile_requests_are_signed_recent_and_disabled_without_a_secret() -> None:
    body, signature = reconcile_request.signed_request(SECRET, now=1000.0)
    assert reconcile_request.handle(SECRET, body, signature, now=1010.0).status == 202
    assert reconcile_request.handle(SECRET, body, signature, now=1000.0 + 301).status == 401  # a replay
    assert reconcile_request.handle(SECRET, body, "sha256=" + "0" * 64, now=1000.0).status == 401
    assert reconcile_request.handle(SECRET, body, None, now=1000.0).status == 401
    assert reconcile_request.handle(None, body, signature, now=1000.0).status == 403
    forged, forged_signature = b"[]", reconcile_request.signed_request(SECRET)[1]
    assert reconcile_request.handle(SECRET, forged, forged_signature).status == 401
