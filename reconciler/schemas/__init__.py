"""Models that mirror external schemas: server.json and the publish body, the ToolHive Registry Server
configuration, and the ToolHive operator's CRDs. Our own logic lives outside this package."""
