"""`mcp-gitops github comment`: post a file (the markdown diff) as the pull request's one mcp-gitops
comment, updated on each push, and add it to the job summary."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from reconciler.commands.common import EXIT_OK, fail


def _pull_request_number() -> int | None:
    """The pull request of the workflow run, from the event GitHub wrote to GITHUB_EVENT_PATH."""
    event_path = os.environ.get("GITHUB_EVENT_PATH")
    if not event_path:
        return None
    try:
        event = json.loads(Path(event_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    number = (event.get("pull_request") or {}).get("number") if isinstance(event, dict) else None
    return number if isinstance(number, int) else None


def _warning(message: str) -> None:
    # A workflow command: GitHub shows it as a warning on the run; elsewhere it is a readable line.
    click.echo(f"::warning title=mcp-gitops::{message}")


@click.group()
def github() -> None:
    """Report to GitHub (pull-request comments)."""


@github.command()
@click.option(
    "--file", "body_file", required=True, type=click.Path(dir_okay=False), help="The comment, in markdown."
)
@click.option(
    "--repo", envvar="GITHUB_REPOSITORY", default=None, metavar="OWNER/NAME", help="Env: GITHUB_REPOSITORY."
)
@click.option(
    "--pr", "number", type=int, default=None, help="Pull request number (default: from GITHUB_EVENT_PATH)."
)
@click.option(
    "--summary",
    envvar="GITHUB_STEP_SUMMARY",
    default=None,
    type=click.Path(dir_okay=False),
    help="Also append the file to this job summary. Env: GITHUB_STEP_SUMMARY.",
)
@click.option("--marker", default=None, help="The hidden marker that finds the comment to update.")
def comment(
    body_file: str, repo: str | None, number: int | None, summary: str | None, marker: str | None
) -> None:
    """Create or update the pull request's comment that starts with the marker (one comment, updated
    on each push), with the workflow token from GITHUB_TOKEN, and append the file to the job summary.

    A token that may not comment (a fork's pull request: 401/403/404) is a warning, exit 0: the job
    summary still has it. Exit 2 when the file cannot be read or GitHub fails otherwise.
    """
    from reconciler.github import GitHub, GitHubError, upsert_comment
    from reconciler.github.comment import DEFAULT_MARKER

    try:
        body = Path(body_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{body_file}: cannot read: {exc.__class__.__name__}")
    if summary:
        try:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write(body if body.endswith("\n") else body + "\n")
        except OSError as exc:
            fail(f"cannot append to the job summary {summary}: {exc.strerror}")
    token = os.environ.get("GITHUB_TOKEN", "")
    number = number if number is not None else _pull_request_number()
    if not token or not repo or number is None:
        # Not a warning: running without a token or outside a pull request is a choice.
        missing = "GITHUB_TOKEN" if not token else "repository" if not repo else "pull request"
        click.echo(f"mcp-gitops: no comment posted (no {missing}); the job summary has the diff")
        click.get_current_context().exit(EXIT_OK)
    try:
        done = upsert_comment(GitHub(token), repo, number, body, marker or DEFAULT_MARKER)
    except GitHubError as exc:
        if exc.forbidden:
            _warning(
                f"the token cannot comment on pull request #{number} ({exc}); the diff is in the job summary"
            )
            click.get_current_context().exit(EXIT_OK)
        fail(f"commenting on pull request #{number}: {exc}")
    click.echo(f"{done} the mcp-gitops comment on {repo}#{number}")
