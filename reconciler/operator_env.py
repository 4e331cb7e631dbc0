"""The environment variables through which the operator (never the repository) speaks to mcp-gitops
(reconciler/trust.py). Kept apart so that the commands can name them in their help without loading
what reads them."""

OPERATOR_CONFIG_ENV = "MCP_GITOPS_OPERATOR_CONFIG"
ALLOW_DATABASE_ENV = "MCP_GITOPS_ALLOW_DATABASE_HOSTS"
ALLOW_REDIS_ENV = "MCP_GITOPS_ALLOW_REDIS_HOSTS"
