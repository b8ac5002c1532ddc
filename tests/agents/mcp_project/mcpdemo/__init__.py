"""The MCP test project's package."""
