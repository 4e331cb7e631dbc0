"""GitHub's REST API over urllib: JSON in and out, the workflow token as a bearer, `GITHUB_API_URL`
respected (GitHub Enterprise Server), every request bounded by a timeout."""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Literal

from reconciler import version

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_TIMEOUT = 10.0
# Comments are listed 100 a page; a pull request with more pages than this is not searched further.
MAX_PAGES = 20
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')
# owner/name as GitHub allows them; never `.` or `..`, which would change the request path
_REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*/(?!\.\.?$)[A-Za-z0-9_.-]+$")

CommitState = Literal["success", "failure", "error", "pending"]


class GitHubError(Exception):
    """A request GitHub refused or that did not complete; `status` is the HTTP status (0: no answer)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status

    @property
    def forbidden(self) -> bool:
        """The token may not do this (a fork's read-only token): 401, 403 or 404 (GitHub answers 404
        where it will not say that something exists)."""
        return self.status in (401, 403, 404)


@dataclass(frozen=True)
class Comment:
    id: int
    body: str


class GitHub:
    def __init__(self, token: str, api_url: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.token = token
        self.api_url = (api_url or os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
        self.timeout = timeout

    def _request(self, method: str, url: str, body: Any = None) -> tuple[Any, str]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("X-GitHub-Api-Version", "2022-11-28")
        request.add_header("User-Agent", f"mcp-gitops/{version()}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
                link = response.headers.get("Link") or ""
        except urllib.error.HTTPError as exc:
            raise GitHubError(exc.code, f"{method} {url}: {exc.code} {_reason(exc)}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise GitHubError(0, f"{method} {url}: no answer ({reason})") from None
        try:
            return (json.loads(raw) if raw else None), link
        except ValueError:
            raise GitHubError(0, f"{method} {url}: the answer is not JSON") from None

    def _url(self, path: str) -> str:
        return f"{self.api_url}{path}"

    def issue_comments(self, repository: str, number: int) -> list[Comment]:
        _check_repository(repository)
        url: str | None = self._url(f"/repos/{repository}/issues/{number}/comments?per_page=100")
        comments: list[Comment] = []
        for _ in range(MAX_PAGES):
            if url is None:
                break
            page, link = self._request("GET", url)
            comments += [Comment(int(c["id"]), str(c.get("body") or "")) for c in page or []]
            found = _NEXT.search(link)
            url = found.group(1) if found else None
        return comments

    def create_comment(self, repository: str, number: int, body: str) -> Comment:
        _check_repository(repository)
        made, _ = self._request(
            "POST", self._url(f"/repos/{repository}/issues/{number}/comments"), {"body": body}
        )
        return Comment(int(made["id"]), body)

    def update_comment(self, repository: str, comment_id: int, body: str) -> None:
        _check_repository(repository)
        self._request("PATCH", self._url(f"/repos/{repository}/issues/comments/{comment_id}"), {"body": body})

    def set_status(
        self, repository: str, sha: str, state: CommitState, description: str, context: str = "mcp-gitops"
    ) -> None:
        """A commit status; GitHub keeps 140 characters of the description."""
        _check_repository(repository)
        body = {"state": state, "description": description[:140], "context": context}
        self._request("POST", self._url(f"/repos/{repository}/statuses/{sha}"), body)


def _check_repository(repository: str) -> None:
    if not _REPOSITORY.match(repository):
        raise GitHubError(0, f"{repository!r} is not a repository name (owner/name)")


def _reason(exc: urllib.error.HTTPError) -> str:
    try:
        message = json.loads(exc.read() or b"{}").get("message")
    except (ValueError, OSError, AttributeError):
        message = None
    return str(message or exc.reason)
