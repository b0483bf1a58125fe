"""MCP both ways: `server` serves our paper and memory tools to other assistants; `client` gives the
planner the tools of the MCP servers named in `mcp_servers`.

The SDK is the top-level package `mcp`; this package is `agent_scientist.mcp`. Every import here is
absolute, so `import mcp` always means the SDK.
"""
