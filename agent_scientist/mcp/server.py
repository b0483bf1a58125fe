"""`agent-scientist mcp`: the planner's own paper and memory tools, served over MCP.

The tools are built by the same capabilities the planner gets, so names, parameters, descriptions and
bounded answers are identical. Each call runs in a worker thread; anything it raises becomes an MCP tool
error with the message the planner would have seen, so no call can take the server down.
"""

from __future__ import annotations

import base64
import inspect
import json
import logging
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_scientist.agent.registry import build_toolbox, planner_tools
from agent_scientist.config import WILDCARDS, Settings, is_loopback  # noqa: F401 - WILDCARDS: cli/mcp.py reads it here
from agent_scientist.contracts import Capability, ToolContext, ToolError
from agent_scientist.workspace import Workspace, list_names, validate_name

log = logging.getLogger(__name__)

CACHE_DIR = ".papers-cache"  # the shared papers cache of `papers search/read` without --name
SERVED = ("memory", "papers")  # capabilities whose tools are safe to hand to another assistant
EXPERIMENTS = ("editor", "experiments")  # served only with --allow-experiments
WORKSPACE_TOOLS = ("remember", "recall", "gather_evidence")  # the memory's tools: they need a workspace
JSON_TYPES = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean",
              "array": "array", "object": "object", "null": "null"}
PAPERS_RESOURCE_CHARS = 200_000


@dataclass
class Served:
    """What one server process serves: the tools by name, and where papers and notes go."""

    ws: Workspace | None
    settings: Settings
    tools: dict[str, Any] = field(default_factory=dict)  # smolagents Tool objects
    warnings: list[str] = field(default_factory=list)
    # One call at a time, as in the planner: the tools share a cache, a memory store and an HTTP clock.
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Tools that change files/ or run experiments: each call holds the workspace lock, like a research run.
    exclusive: set[str] = field(default_factory=set)


def select_capabilities(capabilities: list[Capability], allow_experiments: bool, workspace: bool) -> list[Capability]:
    """The capabilities whose tools are served: papers and memory, experiments only when allowed."""
    names = set(SERVED) | (set(EXPERIMENTS) if allow_experiments else set())
    if not workspace:
        names.discard("memory")
    return [c for c in capabilities if c.name in names]


def build(settings: Settings, capabilities: list[Capability], workspace: Workspace | None = None,
          allow_experiments: bool = False) -> Served:
    """The served capabilities' toolbox for the workspace (or the shared papers cache), built as the loop builds it."""
    ws = workspace or Workspace(Path(settings.home) / CACHE_DIR)
    ws.papers_dir.mkdir(parents=True, exist_ok=True)
    chosen = select_capabilities(capabilities, allow_experiments, workspace=bool(workspace))
    ctx = ToolContext(ws=ws, settings=settings)
    box = build_toolbox(ctx, chosen)
    exclusive = {name for name, owner in box.owners.items() if owner in EXPERIMENTS}
    served = Served(ws=workspace, settings=settings, warnings=list(ctx.warnings), exclusive=exclusive)
    served.tools = {t.name: t for t in planner_tools(box)}
    return served


def without_workspace(served: Served) -> str:
    """What a server started without --workspace leaves out, and how to serve it ("" when it has a workspace)."""
    if served.ws is not None:
        return ""
    return (f"{', '.join(WORKSPACE_TOOLS)} need a workspace (they use its memory), so they are not served: "
            "start with `agent-scientist mcp --workspace NAME` (created if missing) to serve them.")


def input_schema(tool: Any) -> dict:
    """JSON Schema of a smolagents tool's inputs, with the defaults of its function."""
    params: Mapping[str, inspect.Parameter]
    try:
        params = inspect.signature(tool.forward).parameters
    except (TypeError, ValueError):
        params = {}
    properties: dict[str, dict] = {}
    required = []
    for name, spec in tool.inputs.items():
        prop: dict[str, Any] = {"description": spec.get("description", "")}
        kind = JSON_TYPES.get(spec.get("type", "any"))
        if kind:
            prop["type"] = kind
        param = params.get(name)
        if param is not None and param.default is not inspect.Parameter.empty:
            prop["default"] = param.default
        elif not spec.get("nullable"):
            required.append(name)
        properties[name] = prop
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def call(served: Served, name: str, arguments: dict) -> str:
    """Run one tool; the answer as text (JSON for structured answers). Raises ToolError for the client."""
    tool = served.tools.get(name)
    if tool is None:
        if name in WORKSPACE_TOOLS and served.ws is None:
            raise ToolError(f"{name} is not served here: {without_workspace(served)}")
        raise ToolError(f"Unknown tool {name!r}; the tools are: {', '.join(sorted(served.tools))}.")
    check_arguments(tool, arguments)
    import contextlib

    from agent_scientist.workspace import WorkspaceLocked

    try:
        with served.lock, (served.ws.lock() if served.ws and name in served.exclusive else contextlib.nullcontext()):
            result = tool(**arguments)
    except WorkspaceLocked as exc:  # a research run (or another server) is running experiments there
        raise ToolError(f"{name} refused: {exc} Experiments of one workspace run one process at a time; "
                        "call it again when that process has ended.") from None
    except ToolError:
        raise
    except TypeError as exc:  # a bad argument the schema let through
        raise ToolError(f"{name}: bad arguments ({exc}).") from None
    except Exception as exc:  # a tool bug must not kill the server: the client gets a short reason
        log.exception("tool %s failed", name)
        raise ToolError(f"{name} failed: {type(exc).__name__}: {str(exc)[:300]}") from None
    if isinstance(result, str):
        return result
    return json.dumps(result, ensure_ascii=False, indent=1, default=str)


def check_arguments(tool: Any, arguments: dict) -> None:
    """Refuse arguments that do not fit the schema, naming the parameter and what it expects."""
    import jsonschema

    schema = input_schema(tool)
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(arguments))
    if error is None:
        return
    param = str(error.path[0]) if error.path else ""
    expected = schema["properties"].get(param, {}).get("description", "")
    where = f"argument {param!r}: " if param else ""
    raise ToolError(f"{tool.name}: bad {where}{error.message}." + (f" Expected: {expected}" if expected else "")
                    + f" Parameters: {', '.join(schema['properties'])}.")


# -- resources ------------------------------------------------------------------------------------------

def resources(settings: Settings) -> list[tuple[str, str, str, str]]:
    """(uri, name, description, mime type) for each workspace's report and paper list."""
    found = []
    for name in list_names(settings.home):
        ws = Workspace(Path(settings.home) / name)
        if ws.report_path.is_file():
            found.append((f"workspace://{name}/report.md", f"{name} report",
                          f"The research report of workspace {name}.", "text/markdown"))
        found.append((f"workspace://{name}/papers", f"{name} papers",
                      f"The papers cached or added in workspace {name}: id, title, authors, pages.",
                      "application/json"))
    return found


def read_resource(settings: Settings, uri: str) -> tuple[str, str]:
    """(text, mime type) of a workspace resource; ValueError says what is wrong with the URI."""
    prefix = "workspace://"
    if not uri.startswith(prefix) or uri.count("/") != 3:
        raise ValueError(f"Unknown resource {uri!r}: use workspace://NAME/report.md or workspace://NAME/papers.")
    name, what = uri[len(prefix):].split("/", 1)
    try:
        ws = Workspace.open(settings.home, validate_name(name))
    except Exception as exc:
        raise ValueError(f"No workspace {name!r}: {exc}") from None
    if what == "report.md":
        if not ws.report_path.is_file():
            raise ValueError(f"Workspace {name!r} has no report yet: agent-scientist export {name}")
        return ws.report_path.read_text(encoding="utf-8", errors="replace"), "text/markdown"
    if what == "papers":
        keep = ("id", "title", "authors", "published", "pages", "source")
        rows = [{k: row[k] for k in keep if k in row} for row in map(dict, ws.papers())]
        text = json.dumps(rows, ensure_ascii=False, indent=1)
        if len(text) > PAPERS_RESOURCE_CHARS:
            text = text[:PAPERS_RESOURCE_CHARS] + f"\n... cut; `agent-scientist papers list {name}` lists all"
        return text, "application/json"
    raise ValueError(f"Unknown resource {uri!r}: use workspace://NAME/report.md or workspace://NAME/papers.")


# -- the MCP server -------------------------------------------------------------------------------------

def figure_png(served: Served, name: str, arguments: dict) -> bytes | None:
    """The PNG of the figure a read_paper(figure=N) call answered, read from the paper's cache."""
    from agent_scientist.papers.reading import figure_image

    if name != "read_paper" or not isinstance(arguments.get("figure"), int) or arguments["figure"] < 1:
        return None
    ws = served.ws or Workspace(Path(served.settings.home) / CACHE_DIR)
    path = figure_image(ws, str(arguments.get("paper_id") or ""), arguments["figure"])
    return path.read_bytes() if path else None


def make_server(served: Served) -> Any:
    """The low-level SDK server: tools and resources, each call in a thread, every failure a tool error."""
    import anyio
    import mcp.types as types
    from mcp.server.lowlevel import Server
    from mcp.server.lowlevel.helper_types import ReadResourceContents
    from pydantic import AnyUrl

    instructions = ("Research tools of agent-scientist: search and read arXiv papers (cached, page-aware; "
                    "cite as [arXiv:ID p.N])" + (", and the workspace memory (remember, recall, gather_evidence)."
                                                  if served.ws else ". " + without_workspace(served)))
    server = Server("agent-scientist", instructions=instructions)
    listed = [types.Tool(name=name, description=tool.description, inputSchema=input_schema(tool))
              for name, tool in served.tools.items()]

    @server.list_tools()
    async def _list_tools() -> list[types.Tool]:
        return listed

    @server.call_tool(validate_input=False)  # check_arguments says which parameter is wrong
    async def _call_tool(name: str, arguments: dict) -> list[types.TextContent | types.ImageContent] | types.CallToolResult:
        try:
            text = await anyio.to_thread.run_sync(call, served, name, arguments)
        except ToolError as exc:
            return types.CallToolResult(content=[types.TextContent(type="text", text=str(exc))], isError=True)
        content: list[types.TextContent | types.ImageContent] = [types.TextContent(type="text", text=text)]
        image = figure_png(served, name, arguments)
        if image:
            content.append(types.ImageContent(type="image", data=base64.b64encode(image).decode(), mimeType="image/png"))
        return content

    @server.list_resources()
    async def _list_resources() -> list[types.Resource]:
        return [types.Resource(uri=AnyUrl(uri), name=name, description=desc, mimeType=mime)
                for uri, name, desc, mime in resources(served.settings)]

    @server.read_resource()
    async def _read_resource(uri: Any) -> list[ReadResourceContents]:
        text, mime = await anyio.to_thread.run_sync(read_resource, served.settings, str(uri))
        return [ReadResourceContents(content=text, mime_type=mime)]

    return server


def serve_stdio(served: Served) -> None:
    """Serve over stdin/stdout until the client closes them.

    The protocol keeps the real stdout to itself: anything else printed (by a library, or C code) goes
    to stderr instead of corrupting the messages.
    """
    import io
    import os

    import anyio
    from mcp.server.stdio import stdio_server

    sys.stdout.flush()
    protocol = io.TextIOWrapper(os.fdopen(os.dup(1), "wb"), encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    server = make_server(served)

    async def main() -> None:
        async with stdio_server(stdout=anyio.wrap_file(protocol)) as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(main)


def transport_security(host: str, port: int) -> Any:
    """Host/Origin checks for every address: requests must name the address served (or, on loopback, any
    loopback name), so a web page can neither rebind a name to it nor post to it from another origin."""
    from mcp.server.transport_security import TransportSecuritySettings

    names = [host.strip()]
    if is_loopback(host):
        names += ["127.0.0.1", "localhost", "[::1]"]
    names = list(dict.fromkeys(f"[{n}]" if ":" in n and not n.startswith("[") else n for n in names))
    return TransportSecuritySettings(enable_dns_rebinding_protection=True,
                                     allowed_hosts=[f"{n}:{port}" for n in names],
                                     allowed_origins=[f"{scheme}://{n}:{port}" for n in names
                                                      for scheme in ("http", "https")])


def http_app(served: Served, host: str, port: int) -> Any:
    """A Starlette app serving streamable HTTP at /mcp, refusing foreign Host and Origin headers."""
    import contextlib

    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from starlette.applications import Starlette
    from starlette.routing import Route

    manager = StreamableHTTPSessionManager(app=make_server(served), security_settings=transport_security(host, port))

    class Endpoint:  # an ASGI app, not a request handler: the manager writes the response itself
        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await manager.handle_request(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any):
        async with manager.run():
            yield

    return Starlette(routes=[Route("/mcp", endpoint=Endpoint())], lifespan=lifespan)


def serve_http(served: Served, host: str, port: int) -> None:
    """Serve streamable HTTP at http://HOST:PORT/mcp until interrupted."""
    import uvicorn

    uvicorn.run(http_app(served, host, port), host=host, port=port, log_level="warning")
