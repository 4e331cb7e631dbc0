"""One pull-request comment per tool, updated on each push instead of adding another: found by a
hidden marker at the start of its body."""

from __future__ import annotations

from typing import Literal

from reconciler.github.client import GitHub

DEFAULT_MARKER = "<!-- mcp-gitops-diff -->"


def upsert_comment(
    client: GitHub, repository: str, number: int, body: str, marker: str = DEFAULT_MARKER
) -> Literal["created", "updated"]:
    """Update the comment whose body starts with `marker` (one quoting it does not), or create it.
    Raises GitHubError."""
    if not body.startswith(marker):
        body = f"{marker}\n{body}"
    for comment in client.issue_comments(repository, number):
        if comment.body.startswith(marker):
            client.update_comment(repository, comment.id, body)
            return "updated"
    client.create_comment(repository, number, body)
    return "created"
