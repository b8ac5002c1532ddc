"""A small local MCP server over stdio: ``define(term)`` from a fixed glossary.

Run as ``python glossary_server.py``; the agent's MCP client starts it. Every
``define`` call is appended to the file named by ``GLOSSARY_CALL_LOG`` (if set),
so a test can count the calls the server really served.
"""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer

GLOSSARY = {
    "activity": "a step of a workflow that may fail and is retried by Temporal",
    "namespace": "the unit of isolation of a Temporal cluster",
}

server = MCPServer("glossary")


@server.tool()
def define(term: str) -> str:
    """The glossary's definition of ``term``."""
    log = os.environ.get("GLOSSARY_CALL_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(term + "\n")
    return GLOSSARY.get(term.strip().lower(), f"no entry for {term!r}")


if __name__ == "__main__":
    server.run("stdio")
