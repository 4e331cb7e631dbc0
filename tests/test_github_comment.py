"""The pull-request diff comment against a local GitHub API that records requests: the first push
creates one comment, the next updates it, a token that cannot comment degrades to the job summary."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.github import GitHub, GitHubError, upsert_comment
from reconciler.github.comment import DEFAULT_MARKER
from tests.builders import entry, write_repo
from tests.github_api import FORBIDDEN_TOKEN, FakeGitHub, fake_github
from tests.test_action import REAL_CLI, commit_all, git, run_action, write_cli

REPOSITORY = "acme/config"


@pytest.fixture
def api() -> Iterator[FakeGitHub]:
    with fake_github() as state:
        yield state


def test_action_creates_one_comment_then_updates_it_and_degrades_on_a_fork(
    tmp_path: Path, api: FakeGitHub
) -> None:
    workspace = tmp_path / "workspace"
    write_repo(workspace, entries={"tool.json": entry("io.github.acme/tool")})
    git(workspace, "init", "-q")
    base = commit_all(workspace, "base")
    bin_dir = tmp_path / "bin"
    write_cli(bin_dir, REAL_CLI)
    event = {"action": "synchronize", "pull_request": {"number": 7, "base": {"sha": base}}}
    env = {"GITHUB_API_URL": api.url, "GITHUB_REPOSITORY": REPOSITORY}

    def push(description: str, token: str = "workflow-token") -> str:
        changed = entry("io.github.acme/tool")
        changed["server"]["description"] = description
        (workspace / "entries" / "tool.json").write_text(json.dumps(changed))
        commit_all(workspace, description)
        run = run_action(
            tmp_path, workspace, bin_dir, inputs={"github-token": token}, event=event, extra_env=env
        )
        assert run.status == 0, run.stdout + run.stderr
        assert "## mcp-gitops diff" in run.summary and description in run.summary
        return run.stdout

    push("First change")
    assert [(r.method, r.path) for r in api.writes()] == [("POST", "/repos/acme/config/issues/7/comments")]
    (made,) = api.comments[(REPOSITORY, 7)]
    assert made["body"].startswith(DEFAULT_MARKER)
    assert '"A tool for tests"' in made["body"] and '"First change"' in made["body"]
    assert all(r.authorization == "Bearer workflow-token" for r in api.requests)
    assert all(r.api_version == "2022-11-28" for r in api.requests)

    push("Second change")
    assert [r.method for r in api.writes()] == ["POST", "PATCH"]
    assert api.writes()[1].path == f"/repos/acme/config/issues/comments/{made['id']}"
    (updated,) = api.comments[(REPOSITORY, 7)]
    assert updated["id"] == made["id"] and '"Second change"' in updated["body"]

    stdout = push("From a fork", token=FORBIDDEN_TOKEN)
    assert [r.method for r in api.writes()] == ["POST", "PATCH", "PATCH"]  # refused with 403
    assert '"Second change"' in api.comments[(REPOSITORY, 7)][0]["body"]
    warnings = [line for line in stdout.splitlines() if line.startswith("::warning ")]
    assert len(warnings) == 1 and "cannot comment on pull request #7" in warnings[0]
    assert "403" in warnings[0]


def test_the_comment_is_found_on_a_later_page_and_a_quote_is_not_taken_for_it(api: FakeGitHub) -> None:
    client = GitHub("t", api_url=api.url)
    for text in ("first", f"> {DEFAULT_MARKER} quoted", "third", "fourth"):
        client.create_comment(REPOSITORY, 3, text)
    assert upsert_comment(client, REPOSITORY, 3, "diff one") == "created"
    assert upsert_comment(client, REPOSITORY, 3, "diff two") == "updated"
    bodies = [c["body"] for c in api.comments[(REPOSITORY, 3)]]
    assert bodies[:4] == ["first", f"> {DEFAULT_MARKER} quoted", "third", "fourth"]
    assert bodies[4] == f"{DEFAULT_MARKER}\ndiff two"
    pages = [r.path for r in api.requests if r.method == "GET"]
    assert any("page=3" in p for p in pages)  # five comments, two a page


def test_command_without_a_token_writes_the_summary_only(tmp_path: Path, api: FakeGitHub) -> None:
    body, summary = tmp_path / "diff.md", tmp_path / "summary.md"
    body.write_text(f"{DEFAULT_MARKER}\n## mcp-gitops diff\n")
    result = CliRunner().invoke(
        cli,
        [
            "github",
            "comment",
            "--file",
            str(body),
            "--repo",
            REPOSITORY,
            "--pr",
            "1",
            "--summary",
            str(summary),
        ],
        env={"GITHUB_TOKEN": "", "GITHUB_API_URL": api.url},
    )
    assert result.exit_code == 0 and "no comment posted" in result.stdout
    assert summary.read_text() == body.read_text()
    assert api.requests == []


def test_errors_carry_their_reason(tmp_path: Path) -> None:
    with pytest.raises(GitHubError) as refused:
        GitHub("t", api_url="http://127.0.0.1:9", timeout=2).issue_comments(REPOSITORY, 1)
    assert refused.value.status == 0 and "no answer" in str(refused.value)
    with pytest.raises(GitHubError, match="not a repository name"):
        GitHub("t", api_url="http://127.0.0.1:9").create_comment("../x", 1, "b")
    body = tmp_path / "diff.md"
    body.write_text("x")
    result = CliRunner().invoke(
        cli,
        ["github", "comment", "--file", str(body), "--repo", REPOSITORY, "--pr", "1"],
        env={"GITHUB_TOKEN": "t", "GITHUB_API_URL": "http://127.0.0.1:9", "GITHUB_STEP_SUMMARY": ""},
    )
    assert result.exit_code == 2 and "no answer" in result.stderr
