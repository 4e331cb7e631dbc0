"""The daemon's commit status on the revision a cycle applied or refused, through the same GitHub
client, against the local GitHub API."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.daemon.cycle import Cycle
from reconciler.daemon.gitsync import LocalFolder
from reconciler.daemon.metrics import DaemonMetrics
from reconciler.daemon.status import CycleRecord, StatusBoard
from reconciler.github import GitHub
from reconciler.github.status import CommitStatusReporter
from tests.github_api import FakeGitHub, fake_github

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def api() -> Iterator[FakeGitHub]:
    with fake_github() as state:
        yield state


def record(outcome: str, reason: str = "", message: str = "", **extra: object) -> CycleRecord:
    made = CycleRecord(1, "test", 0.0, revision=SHA, outcome=outcome, reason=reason, message=message)
    for key, value in extra.items():
        setattr(made, key, value)
    return made


def test_success_and_failure_with_the_reason(api: FakeGitHub) -> None:
    report = CommitStatusReporter(GitHub("daemon-token", api_url=api.url), "acme/config")
    report(record("applied", "ReconciliationSucceeded", "applied revision 0123456789ab"))
    report(
        record("invalid", "ValidationFailed", "revision 0123456789ab: 2 errors, not applied: " + "x" * 200)
    )
    report(record("failed", "ApplyFailed", "the database holds a foreign schema"))
    assert [(s["sha"], s["state"], s["context"]) for s in api.statuses] == [
        (SHA, "success", "mcp-gitops"),
        (SHA, "failure", "mcp-gitops"),
        (SHA, "error", "mcp-gitops"),
    ]
    assert api.statuses[0]["description"] == "applied revision 0123456789ab"
    assert api.statuses[1]["description"].startswith("revision 0123456789ab: 2 errors, not applied")
    assert len(api.statuses[1]["description"]) == 140
    assert all(r.authorization == "Bearer daemon-token" for r in api.requests)


def test_nothing_is_set_for_skipped_aborted_or_folder_cycles_and_refusals_are_logged(
    api: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    report = CommitStatusReporter(GitHub("t", api_url=api.url), "acme/config")
    report(record("unchanged", skipped=True))
    report(record("aborted", "Interrupted"))
    report(record("applied", revision=None))
    report(record("applied", revision="folder-digest"))
    assert api.requests == []
    CommitStatusReporter(GitHub("t", api_url="http://127.0.0.1:9", timeout=1), "acme/config")(
        record("applied")
    )
    assert "commit status for 0123456789ab not set" in caplog.text


def test_the_cycle_calls_the_hook_with_its_record(repo_copy: Path) -> None:
    seen: list[CycleRecord] = []
    from reconciler.reconcile import ReconcileStage, TargetOptions
    from tests.test_daemon_units import FakeTarget

    cycle = Cycle(
        LocalFolder(repo_copy),
        ReconcileStage(["registry"], TargetOptions(), targets={"registry": FakeTarget()}),
        None,
        StatusBoard(str(repo_copy)),
        DaemonMetrics(),
        threading.Event(),
        lambda: True,
        after_cycle=seen.append,
    )
    done = cycle.run("test")
    assert seen == [done]


def test_run_options_go_together(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["run", str(tmp_path), "--once", "--github-repo", "acme/config"])
    assert result.exit_code == 2 and "go together" in result.stderr
    result = CliRunner().invoke(
        cli,
        [
            "run",
            str(tmp_path),
            "--once",
            "--github-repo",
            "a/b",
            "--github-token-file",
            str(tmp_path / "none"),
        ],
    )
    assert result.exit_code == 2 and "cannot read" in result.stderr
