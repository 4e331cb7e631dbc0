"""mcp-gitops: validate and reconcile a Git repository of MCP infrastructure run with ToolHive."""

from functools import cache


@cache
def version() -> str:
    """The installed distribution's version (it lives in pyproject.toml only). Looked up on first use:
    importing importlib.metadata costs every command about 40 ms, and only `--version` and a few report
    formats need it."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as distribution_version

    try:
        return distribution_version("mcp-gitops")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"
