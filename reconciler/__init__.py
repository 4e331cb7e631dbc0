"""mcp-gitops: validate and reconcile a Git repository of MCP infrastructure run with ToolHive."""

from importlib.metadata import PackageNotFoundError, version

# The version lives in pyproject.toml only; an installed distribution carries it.
try:
    __version__ = version("mcp-gitops")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
