"""mcp-gitops: validate and reconcile a Git repository of MCP infrastructure run with ToolHive."""

__version__ = "0.1.0"
