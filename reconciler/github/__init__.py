"""A small GitHub REST client (stdlib only, bounded timeouts) for what mcp-gitops reports back: the
pull-request diff comment the Action keeps up to date, and the commit status the daemon sets."""

from reconciler.github.client import GitHub, GitHubError
from reconciler.github.comment import upsert_comment

__all__ = ["GitHub", "GitHubError", "upsert_comment"]
